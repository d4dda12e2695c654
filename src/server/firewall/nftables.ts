/**
 * nftables backend (new in fwknop-ts; C fwknop has none). Grants are elements of sets keyed
 * address . protocol . port with a timeout, so the kernel closes them on time even if the daemon
 * dies (fail-closed). Two placements:
 *  - own table (default): table <family> <NFT_TABLE> with an input hook chain that accepts granted
 *    flows and, with NFT_PROTECT_PORTS, drops new connections to the protected ports itself;
 *  - NFT_JUMP_CHAIN "family table chain": for hosts whose own ruleset default-drops. An accept in
 *    another table is not final in nftables (design.md trap), so our sets live in the admin's
 *    table and one rule at the top of the admin's chain accepts granted flows.
 * NAT (new; C does it with iptables only) is native too: maps keyed like the sets, with
 * timeouts, looked up by a dnat rule in our own table's prerouting chain and by snat/masquerade
 * rules in its postrouting chain; forwarded flows are accepted from a set in our forward chain,
 * or, with NFT_FORWARD_JUMP_CHAIN, by one rule in the admin's forward chain.
 * Element changes go through libnftables in our own process (native/libnftables.ts) or, where it
 * cannot load, a persistent `nft -i` channel; set-up and listings are one-shot `nft` runs.
 */
import { CommandError, runChecked, type Exec } from "../../exec.js";
import { NftLibrary } from "../native/libnftables.js";
import { NftChannel, type NftCommands } from "./nft-channel.js";
import type { FirewallBackend, Grant } from "./types.js";

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
  /** NFT_USE_LIBNFTABLES: element changes through libnftables in-process when it loads. */
  useLibrary: boolean;
}

/** Where a set and the rule that reads it live: our table, or a table and chain of the admin's. */
interface Placement {
  where: string;
  prefix: string;
  chain: string | null;
}

function placement(jump: string | null, own: string, name: string): Placement {
  if (jump === null) return { where: own, prefix: "", chain: null };
  const parts = jump.trim().split(/\s+/);
  if (parts.length !== 3) throw new Error(`${name} must be "family table chain", got '${jump}'`);
  return {
    where: `${parts[0] ?? ""} ${parts[1] ?? ""}`,
    prefix: "fwknopd_",
    chain: parts[2] ?? null,
  };
}

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

/** One set element: the set it belongs in, its key, and for maps its value. */
interface Element {
  set: string;
  key: string;
  value: string | null;
  expiresAt: number;
}

const RULE_COMMENT = "fwknopd-grants";

export class NftablesBackend implements FirewallBackend {
  readonly name = "nftables";
  readonly expiresItself = true;
  private readonly channel: NftCommands;
  /** How element changes reach the kernel, for the start-up log line. */
  readonly detail: string;
  /** Our own table ("family name"). */
  private readonly own: string;
  /** Where the input allow sets and their accept rule live (NFT_JUMP_CHAIN or our table). */
  private readonly input: Placement;
  /** Where the forward accept set and rule live (NFT_FORWARD_JUMP_CHAIN or our table). */
  private readonly fwd: Placement;
  private readonly bin: string;
  private readonly pre: readonly string[];

  constructor(
    private readonly opts: NftOptions,
    private readonly exec: Exec,
  ) {
    this.own = `${opts.family} ${opts.table}`;
    this.input = placement(opts.jumpChain, this.own, "NFT_JUMP_CHAIN");
    this.fwd = placement(opts.forwardJumpChain, this.own, "NFT_FORWARD_JUMP_CHAIN");
    const [bin, ...pre] = opts.nft;
    if (bin === undefined) throw new Error("internal: empty nft command");
    this.bin = bin;
    this.pre = pre;
    // A wrapped nft (["ip", "netns", "exec", ...]) acts elsewhere than this process would.
    const lib = !opts.useLibrary
      ? "NFT_USE_LIBNFTABLES is N"
      : pre.length > 0
        ? "nft runs wrapped"
        : NftLibrary.open();
    if (typeof lib === "string") {
      this.channel = new NftChannel(
        opts.nft,
        `list set ${this.input.where} ${this.input.prefix}marker`,
      );
      this.detail = `set elements through ${this.channel.description} (not libnftables: ${lib})`;
    } else {
      this.channel = lib;
      this.detail = `set elements through ${lib.description}`;
    }
  }

  /** True when our own table exists: own-table placement, or NAT (its maps and chains). */
  private usesOwnTable(): boolean {
    return this.input.chain === null || this.opts.nat;
  }

  private set(family: 4 | 6): string {
    return `${this.input.where} ${this.input.prefix}allow${family}`;
  }

  private async script(lines: readonly string[]): Promise<void> {
    await runChecked(this.exec, this.bin, [...this.pre, "-f", "-"], `${lines.join("\n")}\n`);
  }

  async init(flush: boolean): Promise<void> {
    const p = this.input.prefix;
    const sets = [
      `add set ${this.input.where} ${p}allow4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }`,
      `add set ${this.input.where} ${p}allow6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }`,
      `add set ${this.input.where} ${p}marker { type inet_service; }`,
      ...this.limitSets(),
    ];
    const flushSets = flush ? [`flush set ${this.set(4)}`, `flush set ${this.set(6)}`] : [];
    if (this.input.chain === null) {
      const chain = `${this.input.where} input`;
      const rules = [
        `add table ${this.input.where}`,
        ...sets,
        ...flushSets,
        `add chain ${chain} { type filter hook input priority filter - 5; policy accept; }`,
        `flush chain ${chain}`,
        ...this.limitRules().map((r) => `add rule ${chain} ${r}`),
        `add rule ${chain} ip saddr . meta l4proto . th dport @allow4 accept`,
        ...(this.opts.ipv6
          ? [`add rule ${chain} ip6 saddr . meta l4proto . th dport @allow6 accept`]
          : []),
      ];
      if (this.opts.protect.length > 0) {
        const elems = this.opts.protect.map((x) => `${x.proto} . ${x.port}`).join(", ");
        rules.push(
          `add set ${this.input.where} protected { type inet_proto . inet_service; }`,
          `flush set ${this.input.where} protected`,
          `add element ${this.input.where} protected { ${elems} }`,
          `add rule ${chain} ct state established,related accept`,
          // A reset tells a TCP client at once; other protocols are dropped.
          `add rule ${chain} meta l4proto tcp meta l4proto . th dport @protected reject with tcp reset`,
          `add rule ${chain} meta l4proto . th dport @protected drop`,
        );
      }
      await this.script(rules);
    } else {
      await this.script([...sets, ...flushSets]);
      await this.removeOurRules(this.input.where, this.input.chain);
      const rules = [
        ...(this.opts.ipv6
          ? [
              `insert rule ${this.input.where} ${this.input.chain} ip6 saddr . meta l4proto . th dport @${this.input.prefix}allow6 accept comment "${RULE_COMMENT}"`,
            ]
          : []),
        `insert rule ${this.input.where} ${this.input.chain} ip saddr . meta l4proto . th dport @${this.input.prefix}allow4 accept comment "${RULE_COMMENT}"`,
        ...this.limitRules()
          .reverse()
          .map(
            (r) =>
              `insert rule ${this.input.where} ${this.input.chain} ${r} comment "${RULE_COMMENT}"`,
          ),
      ];
      await this.script(rules);
    }
    if (this.opts.nat) await this.initNat(flush);
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
    const rate = `limit rate over ${l.perSecond}/second burst ${2 * l.perSecond} packets`;
    const p = this.input.prefix;
    return [
      `udp dport ${l.port} update @${p}spa_rate4 { ip saddr ${rate} } drop`,
      ...(this.opts.ipv6
        ? [`udp dport ${l.port} update @${p}spa_rate6 { ip6 saddr ${rate} } drop`]
        : []),
    ];
  }

  /**
   * NAT: maps and nat chains in our own table, and the forward accept in our forward chain or
   * (NFT_FORWARD_JUMP_CHAIN) at the top of the admin's.
   */
  private async initNat(flush: boolean): Promise<void> {
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
    const fwdRules = (chain: string, comment: string): string[] => [
      `add rule ${chain} ip saddr . ip daddr . meta l4proto . th dport @${f.prefix}fwd4 accept${comment}`,
      `add rule ${chain} ip saddr @${f.prefix}fwdall4 accept${comment}`,
    ];
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
        ...fwdRules(`${own} forward_access`, ""),
      );
    await this.script(lines);
    if (f.chain !== null) {
      await this.removeOurRules(f.where, f.chain);
      await this.script(
        fwdRules(`${f.where} ${f.chain}`, ` comment "${RULE_COMMENT}"`)
          .reverse()
          .map((l) => l.replace(/^add rule/, "insert rule")),
      );
    }
  }

  /** Handles of our rules in the admin's chain (jump placement). */
  private async ourRuleHandles(where: string, chain: string): Promise<number[]> {
    const argv = [...this.pre, "-a", "list", "chain", ...where.split(" "), chain];
    const r = await this.exec(this.bin, argv);
    if (r.code !== 0) throw new CommandError([this.bin, ...argv], r.code, r.stderr);
    const out: number[] = [];
    for (const line of r.stdout.split("\n")) {
      const m = new RegExp(`comment "${RULE_COMMENT}" # handle (\\d+)`).exec(line);
      if (m !== null) out.push(Number(m[1]));
    }
    return out;
  }

  private async removeOurRules(where: string, chain: string | null): Promise<void> {
    if (chain === null) return;
    const handles = await this.ourRuleHandles(where, chain);
    if (handles.length > 0)
      await this.script(handles.map((h) => `delete rule ${where} ${chain} handle ${h}`));
  }

  /**
   * The set elements of grants. Plain access: address . proto . port in allow4/6. NAT (mirroring
   * server/fw_util_iptables.c:process_spa_request): local NAT accepts the translated port;
   * forward NAT accepts the forwarded flow (fwd4, or fwdall4 with FORWARD_ALL); then the DNAT map
   * entry and the source NAT entry. The SNAT/MASQUERADE entries match the client's address too,
   * which C's iptables SNAT rule does not (it translates every source to that host and port).
   */
  private elementsOf(g: Grant): Element[] {
    const set = (name: string): string => `${this.own} ${name}`;
    const e = (s: string, key: string, value: string | null = null): Element => ({
      set: s,
      key,
      value,
      expiresAt: g.expiresAt,
    });
    const n = g.nat;
    if (n === undefined) return [e(this.set(g.family), `${g.address} . ${g.proto} . ${g.port}`)];
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

  async grant(grants: readonly Grant[], nowSecs: number): Promise<void> {
    const bySet = new Map<string, string[]>();
    for (const x of grants.flatMap((g) => this.elementsOf(g))) {
      const t = `${x.key} timeout ${Math.max(1, x.expiresAt - nowSecs)}s`;
      const list = bySet.get(x.set) ?? [];
      list.push(x.value === null ? t : `${t} : ${x.value}`);
      bySet.set(x.set, list);
    }
    await Promise.all(
      [...bySet].map(([set, elems]) =>
        this.channel.run(`add element ${set} { ${elems.join(", ")} }`),
      ),
    );
  }

  async revoke(grants: readonly Grant[]): Promise<void> {
    // One element at a time: a batch fails whole if any element has already timed out.
    for (const x of grants.flatMap((g) => this.elementsOf(g))) {
      try {
        await this.channel.run(`delete element ${x.set} { ${x.key} }`);
      } catch (e) {
        if (!(e instanceof CommandError && /No such file or directory/.test(e.stderr))) throw e;
      }
    }
  }

  async list(nowSecs: number): Promise<Grant[]> {
    const out: Grant[] = [];
    for (const fam of [4, 6] as const) {
      const r = await this.exec(this.bin, [
        ...this.pre,
        "-j",
        "list",
        "set",
        ...this.set(fam).split(" "),
      ]);
      if (r.code !== 0) continue;
      for (const e of parseSetElements(r.stdout)) {
        out.push({
          stanza: 0,
          user: "",
          address: e.address,
          family: fam,
          proto: e.proto,
          port: e.port,
          expiresAt: nowSecs + e.expiresSecs,
          destination: null,
        });
      }
    }
    return out;
  }

  async listText(all: boolean): Promise<string> {
    const args =
      all || this.input.chain === null
        ? ["list", "table", ...this.input.where.split(" ")]
        : ["list", "set", ...this.set(4).split(" ")];
    const r = await this.exec(this.bin, [...this.pre, ...args]);
    let text = r.code === 0 ? r.stdout : `(${r.stderr.trim()})\n`;
    if (this.input.chain !== null && this.opts.nat) {
      const rn = await this.exec(this.bin, [...this.pre, "list", "table", ...this.own.split(" ")]);
      if (rn.code === 0) text += rn.stdout;
    }
    if (!all && this.input.chain !== null) {
      const r6 = await this.exec(this.bin, [...this.pre, "list", "set", ...this.set(6).split(" ")]);
      if (r6.code === 0) text += r6.stdout;
    }
    return text;
  }

  async flush(): Promise<void> {
    if (this.usesOwnTable()) {
      const r = await this.exec(this.bin, [...this.pre, "delete", "table", ...this.own.split(" ")]);
      if (r.code !== 0 && !/No such file or directory/.test(r.stderr))
        throw new CommandError([...this.opts.nft, "delete", "table", this.own], r.code, r.stderr);
    }
    if (this.input.chain !== null) {
      await this.removeOurRules(this.input.where, this.input.chain);
      const p = this.input.prefix;
      await this.script([
        `delete set ${this.input.where} ${p}allow4`,
        `delete set ${this.input.where} ${p}allow6`,
        `delete set ${this.input.where} ${p}marker`,
        ...(this.opts.spaLimit !== null
          ? [
              `delete set ${this.input.where} ${p}spa_rate4`,
              `delete set ${this.input.where} ${p}spa_rate6`,
            ]
          : []),
      ]).catch(() => undefined);
    }
    if (this.opts.nat && this.fwd.chain !== null) {
      await this.removeOurRules(this.fwd.where, this.fwd.chain);
      await this.script(
        FWD_OBJECTS.map(([n]) => `delete set ${this.fwd.where} ${this.fwd.prefix}${n}`),
      ).catch(() => undefined);
    }
  }

  close(): Promise<void> {
    this.channel.close();
    return Promise.resolve();
  }
}

interface SetElement {
  address: string;
  proto: "tcp" | "udp";
  port: number;
  expiresSecs: number;
}

/** Elements of `nft -j list set` output: {"elem": {"val": {"concat": [addr, proto, port]}, "expires": N}}. */
export function parseSetElements(json: string): SetElement[] {
  const out: SetElement[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return out;
  }
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  for (const item of items) {
    const set = (item as { set?: { elem?: unknown[] } }).set;
    for (const el of set?.elem ?? []) {
      const e = (el as { elem?: { val?: { concat?: unknown[] }; expires?: number } }).elem;
      const c = e?.val?.concat;
      if (c === undefined || c.length !== 3) continue;
      const [address, proto, port] = c;
      if (
        typeof address !== "string" ||
        (proto !== "tcp" && proto !== "udp") ||
        typeof port !== "number"
      )
        continue;
      out.push({ address, proto, port, expiresSecs: e?.expires ?? 0 });
    }
  }
  return out;
}
