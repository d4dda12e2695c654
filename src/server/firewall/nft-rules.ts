/**
 * The nftables backend's text (nftables.ts runs it): where our sets and rules live, the scripts
 * that set them up and take them down, the set elements of a grant, and the reading of
 * `nft -j list set`. Pure: no process is started here.
 */
import {
  countedRules,
  countedSetDecls,
  countedSetNames,
  countSet,
  MARK_ACCEPT,
  MARK_STATEMENT,
  meterSet,
  onceSet,
} from "./nft-counted.js";
import { gateSet, gateTable } from "./nft-gate.js";
import type { Grant } from "./types.js";
import { EnvironmentError } from "../../errors.js";
import {
  placement,
  RULE_COMMENT,
  type Element,
  type NftOptions,
  type Placement,
} from "./nft-options.js";
import { destRules, destSet, destSetDecls, NftOutput } from "./nft-output.js";

export { RULE_COMMENT, type Element, type NftOptions } from "./nft-options.js";

/** NAT sets and maps (IPv4 only, as fwknop's NAT): name and declaration. */
const NAT_OBJECTS: ReadonlyArray<[string, string]> = [
  [
    "dnat4",
    "map %s { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; }",
  ],
  ["dnatall4", "map %s { type ipv4_addr : ipv4_addr; flags timeout; }"],
  ["masq4", "set %s { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags timeout; }"],
  ["masqall4", "set %s { type ipv4_addr; flags timeout; }"],
  [
    "snat4",
    "map %s { type ipv4_addr . ipv4_addr . inet_proto . inet_service : ipv4_addr; flags timeout; }",
  ],
  ["snatall4", "map %s { type ipv4_addr : ipv4_addr; flags timeout; }"],
];
const FWD_OBJECTS: ReadonlyArray<[string, string]> = [
  ["fwd4", "set %s { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags timeout; }"],
  ["fwdall4", "set %s { type ipv4_addr; flags timeout; }"],
];

export class NftRules {
  /** Our own table ("family name"). */
  readonly own: string;
  /** Where the input allow sets and their accept rule live (NFT_JUMP_CHAIN or our table). */
  readonly input: Placement;
  /** Where the forward accept set and rule live (NFT_FORWARD_JUMP_CHAIN or our table). */
  readonly fwd: Placement;
  /** ENABLE_IPT_OUTPUT: the output sets and rules (nft-output.ts), else null. */
  readonly out: NftOutput | null;
  private readonly dest: boolean;

  constructor(private readonly opts: Omit<NftOptions, "nft" | "useLibrary">) {
    this.own = `${opts.family} ${opts.table}`;
    this.input = placement(opts.jumpChain, this.own, "NFT_JUMP_CHAIN");
    this.fwd = placement(opts.forwardJumpChain, this.own, "NFT_FORWARD_JUMP_CHAIN");
    this.dest = opts.destination === true;
    this.out =
      opts.output === true
        ? new NftOutput(this.own, opts.outputJumpChain ?? null, opts.ipv6, this.dest)
        : null;
  }

  /** True when our own table exists: own-table placement, NAT, the gate or our output chain. */
  usesOwnTable(): boolean {
    const g = this.opts.gate !== null;
    return this.input.chain === null || this.opts.nat || g || this.out?.at.chain === null;
  }

  /** REQUIRE_CONNECT_TOKEN: the gate's sets and redirect in our own table, or nothing. */
  gateTable(flush: boolean): string[] {
    const g = this.opts.gate;
    return g === null ? [] : gateTable(this.own, g.port, this.opts.ipv6, flush);
  }

  set(family: 4 | 6): string {
    return `${this.input.where} ${this.input.prefix}allow${family}`;
  }

  /** A listing that always succeeds and ends with "}", for the `nft -i` channel's replies. */
  get markerCommand(): string {
    return `list set ${this.input.where} ${this.input.prefix}marker`;
  }

  /** The input sets, emptied with `flush`. */
  inputSets(flush: boolean): string[] {
    const p = this.input.prefix;
    return [
      `add set ${this.input.where} ${p}allow4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }`,
      `add set ${this.input.where} ${p}allow6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }`,
      `add set ${this.input.where} ${p}marker { type inet_service; }`,
      ...(this.opts.counted !== null
        ? countedSetDecls(this.input.where, p, this.opts.counted)
        : []),
      ...this.limitSets(),
      ...(this.dest ? destSetDecls(this.input) : []),
      ...(flush ? [`flush set ${this.set(4)}`, `flush set ${this.set(6)}`] : []),
      ...(flush && this.dest
        ? ([4, 6] as const).map((f) => `flush set ${destSet(this.input, f)}`)
        : []),
    ];
  }

  /** Own-table placement: our table, its sets and its input chain, in one script. */
  ownTable(flush: boolean): string[] {
    const chain = `${this.input.where} input`;
    const sets = this.inputSets(flush);
    const rules = [
      `add table ${this.input.where}`,
      ...sets,
      `add chain ${chain} { type filter hook input priority filter - 5; policy accept; }`,
      `flush chain ${chain}`,
      ...[...this.limitRules(), ...this.grantRules()].map((r) => `add rule ${chain} ${r}`),
    ];
    if (this.opts.protect.length > 0) {
      const elems = this.opts.protect.map((x) => `${x.proto} . ${x.port}`).join(", ");
      rules.push(
        `add set ${this.input.where} protected { type inet_proto . inet_service; }`,
        `flush set ${this.input.where} protected`,
        `add element ${this.input.where} protected { ${elems} }`,
        `add rule ${chain} ct state established,related accept`,
        // The token gate reaches the service over loopback on the client's behalf.
        ...(this.opts.gate !== null ? [`add rule ${chain} iif "lo" accept`] : []),
        // A reset tells a TCP client at once; other protocols are dropped.
        `add rule ${chain} meta l4proto tcp meta l4proto . th dport @protected reject with tcp reset`,
        `add rule ${chain} meta l4proto . th dport @protected drop`,
      );
    }
    return rules;
  }

  /** Jump placement: our rules at the top of the admin's input chain, in the order they run. */
  jumpRules(chain: string): string[] {
    const at = `${this.input.where} ${chain}`;
    return [...this.limitRules(), ...this.grantRules()]
      .reverse()
      .map((r) => `insert rule ${at} ${r} comment "${RULE_COMMENT}"`);
  }

  /**
   * The accepts of granted flows, in order: the allow sets (C's window), then the counted grants.
   * Each marks the connection it admits (nft-counted.ts: CT_MARK_BIT) so it can be attributed.
   */
  private grantRules(): string[] {
    const p = this.input.prefix;
    return [
      `ip saddr . meta l4proto . th dport @${p}allow4 ${MARK_STATEMENT} accept`,
      ...(this.opts.ipv6
        ? [`ip6 saddr . meta l4proto . th dport @${p}allow6 ${MARK_STATEMENT} accept`]
        : []),
      ...(this.dest ? destRules(this.input, this.opts.ipv6) : []),
      ...(this.opts.counted !== null || this.opts.gate !== null ? [MARK_ACCEPT] : []),
      ...(this.opts.counted !== null ? countedRules(p, this.opts.ipv6, this.opts.counted) : []),
    ];
  }

  /** The sets a grant of this family can be in, with the count each admits (0: window). */
  grantSets(family: 4 | 6): Array<{ set: string; maxConnections: number; gate?: boolean }> {
    const at = (name: string): string => `${this.input.where} ${this.input.prefix}${name}`;
    const c = this.opts.counted;
    return [
      { set: this.set(family), maxConnections: 0 },
      ...(this.dest ? [{ set: destSet(this.input, family), maxConnections: 0 }] : []),
      ...(this.opts.gate !== null
        ? [{ set: `${this.own} ${gateSet(family)}`, maxConnections: 0, gate: true }]
        : []),
      ...(c === null
        ? []
        : [
            { set: at(onceSet(family)), maxConnections: 1 },
            ...c.counts.map((n) => ({ set: at(countSet(family, n)), maxConnections: n })),
          ]),
    ];
  }

  /** Per-address meters for NFT_SPA_RATE_LIMIT (entries vanish a minute after the last packet). */
  private limitSets(): string[] {
    if (this.opts.spaLimit === null) return [];
    const p = this.input.prefix;
    return ([4, 6] as const).map(
      (f) =>
        `add set ${this.input.where} ${p}spa_rate${f} { type ipv${f}_addr; flags dynamic,timeout; timeout 60s; size 65536; }`,
    );
  }

  /** The rate-limit rules, in the order they must run (before anything accepts the SPA port). */
  private limitRules(): string[] {
    const l = this.opts.spaLimit;
    if (l === null) return [];
    // A tenth of a second's worth of burst (at least 40): twice the rate, as this once was, let a
    // flood at the 50,000/s default through 100,000 packets before the meter bit.
    const burst = Math.max(40, Math.ceil(l.perSecond / 10));
    const rate = `limit rate over ${l.perSecond}/second burst ${burst} packets`;
    const p = this.input.prefix;
    return [
      `udp dport ${l.port} update @${p}spa_rate4 { ip saddr ${rate} } drop`,
      ...(this.opts.ipv6
        ? [`udp dport ${l.port} update @${p}spa_rate6 { ip6 saddr ${rate} } drop`]
        : []),
    ];
  }

  private fwdRules(chain: string, comment: string): string[] {
    const f = this.fwd;
    return [
      `add rule ${chain} ip saddr . ip daddr . meta l4proto . th dport @${f.prefix}fwd4 accept${comment}`,
      `add rule ${chain} ip saddr @${f.prefix}fwdall4 accept${comment}`,
    ];
  }

  /**
   * NAT: maps and nat chains in our own table, and the forward accept in our forward chain (with
   * NFT_FORWARD_JUMP_CHAIN, natJumpRules puts it at the top of the admin's instead).
   */
  natTable(flush: boolean): string[] {
    const own = this.own;
    const f = this.fwd;
    const decl = (objs: ReadonlyArray<[string, string]>, where: string, prefix: string): string[] =>
      objs.map(([n, d]) => `add ${d.replace("%s", `${where} ${prefix}${n}`)}`);
    const flushes = (
      objs: ReadonlyArray<[string, string]>,
      where: string,
      prefix: string,
    ): string[] =>
      flush ? objs.map(([n, d]) => `flush ${d.split(" ")[0] ?? "set"} ${where} ${prefix}${n}`) : [];
    const lines = [
      `add table ${own}`,
      ...decl(NAT_OBJECTS, own, ""),
      ...flushes(NAT_OBJECTS, own, ""),
      ...decl(FWD_OBJECTS, f.where, f.prefix),
      ...flushes(FWD_OBJECTS, f.where, f.prefix),
      `add chain ${own} nat_pre { type nat hook prerouting priority dstnat - 5; policy accept; }`,
      `flush chain ${own} nat_pre`,
      `add rule ${own} nat_pre meta l4proto { tcp, udp } dnat ip to ip saddr . meta l4proto . th dport map @dnat4`,
      `add rule ${own} nat_pre dnat ip to ip saddr map @dnatall4`,
      `add chain ${own} nat_post { type nat hook postrouting priority srcnat - 5; policy accept; }`,
      `flush chain ${own} nat_post`,
      `add rule ${own} nat_post meta l4proto { tcp, udp } ip saddr . ip daddr . meta l4proto . th dport @masq4 masquerade`,
      `add rule ${own} nat_post meta l4proto { tcp, udp } snat ip to ip saddr . ip daddr . meta l4proto . th dport map @snat4`,
      `add rule ${own} nat_post ip saddr @masqall4 masquerade`,
      `add rule ${own} nat_post snat ip to ip saddr map @snatall4`,
    ];
    if (f.chain === null)
      lines.push(
        `add chain ${own} forward_access { type filter hook forward priority filter - 5; policy accept; }`,
        `flush chain ${own} forward_access`,
        ...this.fwdRules(`${own} forward_access`, ""),
      );
    return lines;
  }

  /** NFT_FORWARD_JUMP_CHAIN: the forward accept rules at the top of the admin's chain. */
  natJumpRules(chain: string): string[] {
    return this.fwdRules(`${this.fwd.where} ${chain}`, ` comment "${RULE_COMMENT}"`)
      .reverse()
      .map((l) => l.replace(/^add rule/, "insert rule"));
  }

  /** Jump placement, --fw-flush: our sets in the admin's table. */
  deleteInputSets(): string[] {
    const p = this.input.prefix;
    return [
      `delete set ${this.input.where} ${p}allow4`,
      `delete set ${this.input.where} ${p}allow6`,
      `delete set ${this.input.where} ${p}marker`,
      ...(this.dest ? ([4, 6] as const).map((f) => `delete set ${destSet(this.input, f)}`) : []),
      ...(this.opts.counted !== null
        ? countedSetNames(p, this.opts.counted).map((n) => `delete set ${this.input.where} ${n}`)
        : []),
      ...(this.opts.spaLimit !== null
        ? [
            `delete set ${this.input.where} ${p}spa_rate4`,
            `delete set ${this.input.where} ${p}spa_rate6`,
          ]
        : []),
    ];
  }

  /** NFT_FORWARD_JUMP_CHAIN, --fw-flush: our forward sets in the admin's table. */
  deleteFwdSets(): string[] {
    return FWD_OBJECTS.map(([n]) => `delete set ${this.fwd.where} ${this.fwd.prefix}${n}`);
  }

  /** Plain access: the allow set, or with MAX_CONNECTIONS the one-shot or counted set. */
  private plainElement(g: Grant): Element {
    const key = `${g.address} . ${g.proto} . ${g.port}`;
    const m = g.maxConnections ?? 0;
    const at = (name: string): string => `${this.input.where} ${this.input.prefix}${name}`;
    const c = this.opts.counted;
    const base = { key, value: null, expiresAt: g.expiresAt };
    if (g.gate === true) {
      if (this.opts.gate === null)
        throw new EnvironmentError(
          "REQUIRE_CONNECT_TOKEN came with a reload; the gate is set up at start: restart fwknopd",
        );
      return { set: `${this.own} ${gateSet(g.family)}`, ...base };
    }
    if (g.destination !== null) return this.destElement(g);
    if (m === 0) return { set: this.set(g.family), ...base };
    if (c === null || (m > 1 && !c.counts.includes(m)))
      throw new EnvironmentError(
        `MAX_CONNECTIONS ${m} came with a reload; its nftables sets are made at start: restart fwknopd`,
      );
    if (m === 1) return { set: at(onceSet(g.family)), ...base };
    return { set: at(countSet(g.family, m)), meter: at(meterSet(g.family, m)), ...base };
  }

  /**
   * ENABLE_DESTINATION_RULE: the grant in the set keyed with its destination. Counted grants and
   * the token gate have no such sets; they are refused rather than opened to every address.
   */
  private destElement(g: Grant): Element {
    if (!this.dest || (g.maxConnections ?? 0) > 0)
      throw new EnvironmentError(
        !this.dest
          ? "a grant with a destination, but the nftables destination sets are made at start with ENABLE_DESTINATION_RULE: restart fwknopd"
          : "MAX_CONNECTIONS with ENABLE_DESTINATION_RULE: nftables has no counted sets keyed with the destination",
      );
    const key = `${g.address} . ${g.destination ?? ""} . ${g.proto} . ${g.port}`;
    return { set: destSet(this.input, g.family), key, value: null, expiresAt: g.expiresAt };
  }

  /**
   * The set elements of grants. Plain access: address . proto . port in allow4/6. NAT (mirroring
   * server/fw_util_iptables.c:process_spa_request): local NAT accepts the translated port;
   * forward NAT accepts the forwarded flow (fwd4, or fwdall4 with FORWARD_ALL); then the DNAT map
   * entry and the source NAT entry. The SNAT/MASQUERADE entries match the client's address too,
   * which C's iptables SNAT rule does not (it translates every source to that host and port).
   */
  elementsOf(g: Grant): Element[] {
    const set = (name: string): string => `${this.own} ${name}`;
    const e = (s: string, key: string, value: string | null = null): Element => ({
      set: s,
      key,
      value,
      expiresAt: g.expiresAt,
    });
    const n = g.nat;
    if (n === undefined) {
      const o = this.out?.elementOf(g) ?? null;
      return o === null ? [this.plainElement(g)] : [this.plainElement(g), o];
    }
    const out: Element[] = [];
    const flow = `${g.address} . ${n.toAddress} . ${g.proto} . ${n.toPort}`;
    const fwd = `${this.fwd.where} ${this.fwd.prefix}`;
    if (n.kind === "local") out.push(e(this.set(4), `${g.address} . ${g.proto} . ${n.toPort}`));
    else if (n.forwardAll) out.push(e(`${fwd}fwdall4`, g.address));
    else out.push(e(`${fwd}fwd4`, flow));
    if (n.dnat) {
      if (n.forwardAll) out.push(e(set("dnatall4"), g.address, n.toAddress));
      else
        out.push(
          e(set("dnat4"), `${g.address} . ${g.proto} . ${g.port}`, `${n.toAddress} . ${n.toPort}`),
        );
    }
    if (n.snat === "masquerade")
      out.push(e(set(n.forwardAll ? "masqall4" : "masq4"), n.forwardAll ? g.address : flow));
    else if (n.snat !== null)
      out.push(
        e(set(n.forwardAll ? "snatall4" : "snat4"), n.forwardAll ? g.address : flow, n.snat.to),
      );
    return out;
  }
}
