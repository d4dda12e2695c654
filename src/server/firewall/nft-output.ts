/**
 * nftables text for two grant shapes C writes as iptables arguments (ipt-rules.ts), placed by
 * nft-rules.ts beside the allow sets. Pure: no process is started here.
 *  - ENABLE_DESTINATION_RULE: grants with the packet's destination go into sets keyed
 *    client . destination . proto . port (allow4d/allow6d), read by their own rule; grants without
 *    one stay in allow4/allow6, and with the variable off these sets and rules do not exist, so no
 *    packet pays for the extra lookup.
 *  - ENABLE_IPT_OUTPUT (server/fw_util_iptables.c:process_spa_request, IPT_OUT_RULE_ARGS: to the
 *    client, from the granted port, from the destination when there is one): sets out4/out6
 *    (out4d/out6d with a destination) with the grant's timeout, so the kernel ends them with the
 *    input element, and one accept rule per set on output. An accept in our own table does not
 *    override a drop in the admin's output chain (every base chain on the hook must accept), so on
 *    a host whose output default-drops the sets and rules go into the admin's table and chain,
 *    NFT_OUTPUT_JUMP_CHAIN, as NFT_JUMP_CHAIN does for input; without it they are in our table's
 *    own output chain, which only helps a host whose other output chains accept.
 */
import { MARK_STATEMENT } from "./nft-counted.js";
import { placement, RULE_COMMENT, type Element, type Placement } from "./nft-options.js";
import type { Grant } from "./types.js";

const ip = (f: 4 | 6): string => (f === 4 ? "ip" : "ip6");
const families = (ipv6: boolean): Array<4 | 6> => (ipv6 ? [4, 6] : [4]);

/** ENABLE_DESTINATION_RULE: the input set of this family keyed with the destination. */
export const destSet = (p: Placement, f: 4 | 6): string => `${p.where} ${p.prefix}allow${f}d`;

export function destSetDecls(p: Placement): string[] {
  return ([4, 6] as const).map(
    (f) =>
      `add set ${destSet(p, f)} { type ipv${f}_addr . ipv${f}_addr . inet_proto . inet_service; flags timeout; }`,
  );
}

/** The accepts of grants with a destination, marked as the allow sets' are (nft-counted.ts). */
export function destRules(p: Placement, ipv6: boolean): string[] {
  return families(ipv6).map(
    (f) =>
      `${ip(f)} saddr . ${ip(f)} daddr . meta l4proto . th dport @${p.prefix}allow${f}d ${MARK_STATEMENT} accept`,
  );
}

/** The output sets and rules of ENABLE_IPT_OUTPUT, in our table or the admin's output chain. */
export class NftOutput {
  readonly at: Placement;

  constructor(
    private readonly own: string,
    jump: string | null,
    private readonly ipv6: boolean,
    private readonly destination: boolean,
  ) {
    this.at = placement(jump, own, "NFT_OUTPUT_JUMP_CHAIN");
  }

  /** Set names (without table), with the key each holds. */
  private sets(): Array<{ name: string; f: 4 | 6; dest: boolean }> {
    return ([4, 6] as const).flatMap((f) => [
      { name: `${this.at.prefix}out${f}`, f, dest: false },
      ...(this.destination ? [{ name: `${this.at.prefix}out${f}d`, f, dest: true }] : []),
    ]);
  }

  /** Every output set, "family table name" (listing, flushing). */
  setRefs(): string[] {
    return this.sets().map((s) => `${this.at.where} ${s.name}`);
  }

  /** The sets, emptied with `flush`. */
  decls(flush: boolean): string[] {
    return this.sets().flatMap(({ name, f, dest }) => [
      `add set ${this.at.where} ${name} { type ${dest ? `ipv${f}_addr . ` : ""}ipv${f}_addr . inet_proto . inet_service; flags timeout; }`,
      ...(flush ? [`flush set ${this.at.where} ${name}`] : []),
    ]);
  }

  /** The accepts, in order: replies to the client from the granted port (and destination). */
  private rules(): string[] {
    return this.sets()
      .filter((s) => s.f === 4 || this.ipv6)
      .map(({ name, f, dest }) =>
        dest
          ? `${ip(f)} daddr . ${ip(f)} saddr . meta l4proto . th sport @${name} accept`
          : `${ip(f)} daddr . meta l4proto . th sport @${name} accept`,
      );
  }

  /** Own-table placement: the sets and an output chain in our table. */
  ownChain(flush: boolean): string[] {
    const chain = `${this.own} output`;
    return [
      `add table ${this.own}`,
      ...this.decls(flush),
      `add chain ${chain} { type filter hook output priority filter - 5; policy accept; }`,
      `flush chain ${chain}`,
      ...this.rules().map((r) => `add rule ${chain} ${r}`),
    ];
  }

  /** NFT_OUTPUT_JUMP_CHAIN: our rules at the top of the admin's output chain, in run order. */
  jumpRules(chain: string): string[] {
    return this.rules()
      .reverse()
      .map((r) => `insert rule ${this.at.where} ${chain} ${r} comment "${RULE_COMMENT}"`);
  }

  /** --fw-flush with NFT_OUTPUT_JUMP_CHAIN: our sets in the admin's table. */
  deleteSets(): string[] {
    return this.setRefs().map((s) => `delete set ${s}`);
  }

  /** The output element of a plain grant (C adds none for NAT access); null for others. */
  elementOf(g: Grant): Element | null {
    if (g.nat !== undefined || g.leftover !== undefined) return null;
    const dest = g.destination !== null && this.destination;
    const key = dest
      ? `${g.address} . ${g.destination ?? ""} . ${g.proto} . ${g.port}`
      : `${g.address} . ${g.proto} . ${g.port}`;
    const set = `${this.at.where} ${this.at.prefix}out${g.family}${dest ? "d" : ""}`;
    return { set, key, value: null, expiresAt: g.expiresAt };
  }
}
