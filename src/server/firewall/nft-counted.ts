/**
 * MAX_CONNECTIONS (ours) on nftables: grants that admit a number of new connections, counted in
 * the kernel. Pure text, as nft-rules.ts, which places these sets and rules beside the allow sets.
 *  - One-shot (1): the element is in `once4`/`once6`; the rule that matches the first new
 *    connection deletes it from the packet path, so a second connection finds nothing.
 *  - N: the element is in `count<fam>_<N>`; a meter keyed the same way holds a token bucket that
 *    starts with N tokens and refills once a day, so exactly N new connections pass. The daemon
 *    resets the meter's entry with each new grant.
 * A connection admitted this way is marked (CT_MARK_BIT of its ct mark), so its retransmitted SYNs
 * and a UDP flow's later datagrams, still "new" to conntrack, pass without spending another token;
 * established traffic is the host's own `ct state established` rule's, as for every grant.
 */
export const CT_MARK_BIT = "0x40000000";
const KEY4 = "ip saddr . meta l4proto . th dport";
const KEY6 = "ip6 saddr . meta l4proto . th dport";
const SIZE = 65536;

export interface CountedOptions {
  /** The distinct MAX_CONNECTIONS values above 1 of the configuration. */
  counts: readonly number[];
  /** Seconds a meter entry outlives its last use: the longest grant a counted stanza allows. */
  meterTimeout: number;
}

export const onceSet = (fam: 4 | 6): string => `once${fam}`;
export const countSet = (fam: 4 | 6, n: number): string => `count${fam}_${n}`;
export const meterSet = (fam: 4 | 6, n: number): string => `meter${fam}_${n}`;

const families = (ipv6: boolean): Array<4 | 6> => (ipv6 ? [4, 6] : [4]);
const keyOf = (fam: 4 | 6): string => (fam === 4 ? KEY4 : KEY6);
const addr = (fam: 4 | 6): string => (fam === 4 ? "ipv4_addr" : "ipv6_addr");
const mark = `ct mark set ct mark | ${CT_MARK_BIT}`;

/** The marking every grant's accept carries, for attribution and for the rule below. */
export const MARK_STATEMENT = mark;

/**
 * Before the counted and gated grants' rules: a marked flow's later "new" packets (retransmitted
 * SYNs, a UDP flow's datagrams before a reply, a connection redirected to the token gate).
 */
export const MARK_ACCEPT = `ct state new ct mark & ${CT_MARK_BIT} == ${CT_MARK_BIT} accept`;

/** The sets to declare (at `where`, names prefixed) for these options. */
export function countedSetDecls(where: string, prefix: string, c: CountedOptions): string[] {
  const out: string[] = [];
  for (const fam of [4, 6] as const) {
    const type = `type ${addr(fam)} . inet_proto . inet_service`;
    out.push(
      `add set ${where} ${prefix}${onceSet(fam)} { ${type}; flags dynamic,timeout; size ${SIZE}; }`,
    );
    for (const n of c.counts)
      out.push(
        `add set ${where} ${prefix}${countSet(fam, n)} { ${type}; flags timeout; size ${SIZE}; }`,
        `add set ${where} ${prefix}${meterSet(fam, n)} { ${type}; flags dynamic,timeout; timeout ${c.meterTimeout}s; size ${SIZE}; }`,
      );
  }
  return out;
}

/** Every counted set's name (prefixed), for --fw-flush and listings. */
export function countedSetNames(prefix: string, c: CountedOptions): string[] {
  return ([4, 6] as const).flatMap((fam) => [
    `${prefix}${onceSet(fam)}`,
    ...c.counts.flatMap((n) => [`${prefix}${countSet(fam, n)}`, `${prefix}${meterSet(fam, n)}`]),
  ]);
}

/**
 * The rules, in the order they run, after the allow sets' accepts and MARK_ACCEPT: one-shot,
 * then each count. A spent grant matches nothing here, so the
 * host's own rules decide, as if there were no grant.
 */
export function countedRules(prefix: string, ipv6: boolean, c: CountedOptions): string[] {
  const out: string[] = [];
  for (const fam of families(ipv6)) {
    const k = keyOf(fam);
    const once = `@${prefix}${onceSet(fam)}`;
    out.push(`ct state new ${k} ${once} delete ${once} { ${k} } ${mark} accept`);
    for (const n of c.counts)
      out.push(
        `ct state new ${k} @${prefix}${countSet(fam, n)} update @${prefix}${meterSet(fam, n)} { ${k} limit rate 1/day burst ${n} packets } ${mark} accept`,
      );
  }
  return out;
}
