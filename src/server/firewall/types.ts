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
  /**
   * The address the SPA packet was sent to, when the listener knows it (not the UDP server's
   * "0.0.0.0"): firewalld grants in the zone of the interface that holds it.
   */
  spaDestination?: string;
  /**
   * MAX_CONNECTIONS (ours): the grant admits this many new connections, then no more (1: the
   * first connection consumes it). Absent: C's window, every connection until expiresAt.
   */
  maxConnections?: number;
  /**
   * REQUIRE_CONNECT_TOKEN (ours): new connections are redirected to fwknopd's token gate instead
   * of being accepted; only one that presents the packet's token reaches the service.
   */
  gate?: boolean;
  /** REVOKE_CONNECTIONS_ON_EXPIRY (ours): the connections it let in are cut when it ends. */
  revokeConnections?: boolean;
  /** The daemon's number for this grant (attribution, --status); absent for grants found at start. */
  id?: number;
  /** The address the SPA packet came from (it may ask access for another, with -a). */
  spaSource?: string;
  /** NAT access (message types 2/4/5/6 or FORCE_NAT); absent for plain access. */
  nat?: GrantNat;
  /**
   * A rule found in the firewall at start that maps to no plain grant (a NAT rule left by an
   * earlier run, ours or C fwknopd's): revoking deletes exactly this rule. Backend-specific.
   */
  leftover?: { table: string; chain: string; args: readonly string[] };
}

/**
 * NAT access as fwknop does it (server/fw_util_iptables.c:process_spa_request): the grant's
 * proto/port is the port the client connects to on this host (the first one requested);
 * connections there are translated to `toAddress:toPort`.
 */
export interface GrantNat {
  /** "forward": to another host, forwarded; "local": to a port of this host (types 5/6). */
  kind: "forward" | "local";
  /** IPv4 address (host names are resolved before a grant is made). */
  toAddress: string;
  toPort: number;
  /** False with DISABLE_DNAT: forward (and SNAT) rules only. */
  dnat: boolean;
  /** FORWARD_ALL: every protocol and port from the client, translated to `toAddress`. */
  forwardAll: boolean;
  /** Source NAT on the way to the internal host: a fixed address, masquerade, or none. */
  snat: { to: string } | "masquerade" | null;
}

/**
 * What makes two grants the same rule: a knock for one that is already open extends it. With
 * ENABLE_DESTINATION_RULE, grants to two addresses of the host are two rules (as in C, whose
 * rule_exists compares the whole rule, -d included).
 */
export const grantKey = (
  g: Pick<Grant, "address" | "proto" | "port" | "nat" | "leftover" | "destination">,
): string => {
  if (g.leftover !== undefined)
    return `leftover ${g.leftover.table} ${g.leftover.chain} ${g.leftover.args.join(" ")}`;
  const to = g.destination === null ? "" : ` to ${g.destination}`;
  return g.nat !== undefined
    ? `${g.address} ${g.proto}/${g.port}${to} nat ${g.nat.toAddress}:${g.nat.toPort}`
    : `${g.address} ${g.proto}/${g.port}${to}`;
};

/** The fwknopd.conf switches that enable NAT (ENABLE_IPT_* or ENABLE_FIREWD_*). */
export interface NatSettings {
  /** ENABLE_*_FORWARDING: types 2/4 and FORCE_NAT to other hosts. */
  forwarding: boolean;
  /** ENABLE_*_LOCAL_NAT: types 5/6. */
  localNat: boolean;
  /** ENABLE_*_SNAT: source NAT on forwarded connections. */
  snat: boolean;
  /** SNAT_TRANSLATE_IP: the SNAT address; masquerade when null. */
  snatTranslateIp: string | null;
  /** ENABLE_NAT_DNS: host names allowed in the NAT field. */
  natDns: boolean;
  /** Why the firewall cannot do NAT at all (FirewallBackend.noNat): said when refusing. */
  unsupported?: string;
}

export interface FirewallBackend {
  readonly name: "nftables" | "iptables" | "firewalld";
  /** True when the firewall removes grants at their time by itself (nftables set timeouts). */
  readonly expiresItself: boolean;
  /** How this backend reaches the firewall, when there is more than one way (the start-up log). */
  readonly detail?: string | undefined;
  /**
   * Set (after init) when this backend cannot honour NAT requests: why. The daemon then warns at
   * start and refuses such packets.
   */
  readonly noNat?: string | undefined;
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
