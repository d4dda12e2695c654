/**
 * The nftables backend's options (fwknopd.conf, read in firewall-config.ts) and where a set and
 * the rule that reads it live (our table, or an admin's chain): shared by nft-rules.ts and
 * nft-output.ts.
 */
import { parseNftChainRef } from "../../config/chain-spec.js";
import type { CountedOptions } from "./nft-counted.js";
import { InternalError } from "../../errors.js";

export interface NftOptions {
  /** The nft program as an argv prefix: ["/usr/sbin/nft"], or wrapped, e.g. ["ip", "netns", "exec", NS, "nft"]. */
  nft: readonly string[];
  /** Our table: family and name (own-table placement). */
  family: string;
  table: string;
  /** "family table chain" of the admin's chain to hook into, or null for our own table. */
  jumpChain: string | null;
  /** proto/port pairs our own table protects (drops new connections unless granted). */
  protect: ReadonlyArray<{ proto: "tcp" | "udp"; port: number }>;
  ipv6: boolean;
  /** NAT on (ENABLE_IPT_FORWARDING or ENABLE_IPT_LOCAL_NAT): maps and nat chains in our table. */
  nat: boolean;
  /**
   * NFT_SPA_RATE_LIMIT: SPA datagrams to this UDP port above this many per second from one
   * address are dropped in the kernel, so one flooding address cannot crowd out the others.
   */
  spaLimit: { port: number; perSecond: number } | null;
  /** "family table chain" of the admin's forward chain for the forward accept, or null. */
  forwardJumpChain: string | null;
  /** MAX_CONNECTIONS in some stanza: the counted sets and rules (nft-counted.ts), else null. */
  counted: CountedOptions | null;
  /** REQUIRE_CONNECT_TOKEN in some stanza: the token gate's port (nft-gate.ts), else null. */
  gate: { port: number } | null;
  /** NFT_USE_LIBNFTABLES: element changes through libnftables in-process when it loads. */
  useLibrary: boolean;
  /**
   * ENABLE_DESTINATION_RULE: the sets keyed with the packet's destination too, and the rules that
   * read them (nft-output.ts); off, grants with a destination are refused and no packet pays for
   * the extra lookup. Absent: off.
   */
  destination?: boolean;
  /** ENABLE_IPT_OUTPUT: each plain grant also accepts its replies on output (nft-output.ts). */
  output?: boolean;
  /**
   * NFT_OUTPUT_JUMP_CHAIN: "family table chain" of the admin's output chain for the output
   * accept, or null (our own table's output chain).
   */
  outputJumpChain?: string | null;
}

/** Where a set and the rule that reads it live: our table, or a table and chain of the admin's. */
export interface Placement {
  where: string;
  prefix: string;
  chain: string | null;
}

/**
 * fwknopd.conf's check of NFT_JUMP_CHAIN / NFT_FORWARD_JUMP_CHAIN (config/chain-spec.ts, with
 * file:line) has passed before a backend is built, so a value it refuses here is our bug.
 */
export function placement(jump: string | null, own: string, name: string): Placement {
  if (jump === null) return { where: own, prefix: "", chain: null };
  const ref = parseNftChainRef(jump);
  if (ref === null) throw new InternalError(`${name} '${jump}' reached the nftables backend`);
  return { where: `${ref.family} ${ref.table}`, prefix: "fwknopd_", chain: ref.chain };
}

/** One set element: the set it belongs in, its key, and for maps its value. */
export interface Element {
  set: string;
  key: string;
  value: string | null;
  expiresAt: number;
  /** A counted grant's meter (nft-counted.ts), whose entry for this key restarts with the grant. */
  meter?: string;
}

/** The comment on our rules in an admin's chain, by which we find them again. */
export const RULE_COMMENT = "fwknopd-grants";
