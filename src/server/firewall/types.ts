/**
 * One interface for every firewall backend (design.md "Firewall backends"); one module each.
 */
export type GrantProto = "tcp" | "udp";

/** Access opened for one address to one proto/port until a time. */
export interface Grant {
  /** Stanza number (1-based, as fwknopd logs it). */
  stanza: number;
  user: string;
  /** IPv4 or IPv6 address text. */
  address: string;
  family: 4 | 6;
  proto: GrantProto;
  port: number;
  /** Epoch seconds. */
  expiresAt: number;
  /** Packet destination, for ENABLE_DESTINATION_RULE; null means any. */
  destination: string | null;
}

export const grantKey = (g: Pick<Grant, "address" | "proto" | "port">): string =>
  `${g.address} ${g.proto}/${g.port}`;

export interface FirewallBackend {
  readonly name: "nftables" | "iptables" | "firewalld";
  /** True when the firewall removes grants at their time by itself (nftables set timeouts). */
  readonly expiresItself: boolean;
  /** Create chains/tables/sets; flush leftovers when configured to. */
  init(flush: boolean): Promise<void>;
  /** Open these grants (one batch). */
  grant(grants: readonly Grant[], nowSecs: number): Promise<void>;
  /** Close these grants (one batch); grants already gone are not an error. */
  revoke(grants: readonly Grant[]): Promise<void>;
  /** The grants the firewall holds now (for reconciliation at start and for --status). */
  list(nowSecs: number): Promise<Grant[]>;
  /** Text for --fw-list (ours) or --fw-list-all (everything in the tables we use). */
  listText(all: boolean): Promise<string>;
  /** Remove everything we created. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
