/**
 * REQUIRE_CONNECT_TOKEN (ours) on nftables: a grant of such a stanza puts its key in `gate4` or
 * `gate6` of our own table instead of the allow sets, and a rule in our nat prerouting chain
 * redirects the new connections it matches to fwknopd's token gate (server/gate/), marking them
 * (CT_MARK_BIT) so the input rule for marked flows lets the redirected connection in. The gate
 * then decides, connection by connection. Pure text, as nft-rules.ts.
 */
import { MARK_STATEMENT } from "./nft-counted.js";

export const gateSet = (fam: 4 | 6): string => `gate${fam}`;

/** Our own table's gate sets and nat chain ("family name" in `own`). */
export function gateTable(own: string, port: number, ipv6: boolean, flush: boolean): string[] {
  const chain = `${own} gate_pre`;
  const decl = (fam: 4 | 6): string =>
    `add set ${own} ${gateSet(fam)} { type ipv${fam}_addr . inet_proto . inet_service; flags timeout; size 65536; }`;
  const rule = (fam: 4 | 6): string =>
    `add rule ${chain} meta l4proto tcp ${fam === 4 ? "ip" : "ip6"} saddr . meta l4proto . th dport @${gateSet(fam)} ${MARK_STATEMENT} redirect to :${port}`;
  return [
    `add table ${own}`,
    decl(4),
    decl(6),
    ...(flush ? [`flush set ${own} ${gateSet(4)}`, `flush set ${own} ${gateSet(6)}`] : []),
    // Before any DNAT of ours (nat_pre, dstnat - 5): a gated grant is never translated elsewhere.
    `add chain ${chain} { type nat hook prerouting priority dstnat - 10; policy accept; }`,
    `flush chain ${chain}`,
    rule(4),
    ...(ipv6 ? [rule(6)] : []),
  ];
}
