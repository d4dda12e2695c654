/**
 * nftables backend (new in fwknop-ts; C fwknop has none). Grants are elements of sets keyed
 * address . protocol . port with a timeout, so the kernel closes them on time even if the daemon
 * dies (fail-closed). Two placements:
 *  - own table (default): table <family> <NFT_TABLE> with an input hook chain that accepts granted
 *    flows and, with NFT_PROTECT_PORTS, drops new connections to the protected ports itself;
 *  - NFT_JUMP_CHAIN "family table chain": for hosts whose own ruleset default-drops. An accept in
 *    another table is not final in nftables (design.md trap), so our sets live in the admin's
 *    table and one rule at the top of the admin's chain accepts granted flows.
 * Element changes go through a persistent `nft -i` channel; set-up and listings are one-shot.
 */
import { CommandError, runChecked, type Exec } from "../../exec.js";
import { NftChannel } from "./nft-channel.js";
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
}

const RULE_COMMENT = "fwknopd-grants";

export class NftablesBackend implements FirewallBackend {
  readonly name = "nftables";
  readonly expiresItself = true;
  private readonly channel: NftChannel;
  private readonly where: string;
  private readonly prefix: string;
  private readonly chain: string | null;
  private readonly bin: string;
  private readonly pre: readonly string[];

  constructor(
    private readonly opts: NftOptions,
    private readonly exec: Exec,
  ) {
    if (opts.jumpChain !== null) {
      const parts = opts.jumpChain.trim().split(/\s+/);
      if (parts.length !== 3)
        throw new Error(`NFT_JUMP_CHAIN must be "family table chain", got '${opts.jumpChain}'`);
      this.where = `${parts[0] ?? ""} ${parts[1] ?? ""}`;
      this.chain = parts[2] ?? null;
      this.prefix = "fwknopd_";
    } else {
      this.where = `${opts.family} ${opts.table}`;
      this.chain = null;
      this.prefix = "";
    }
    const [bin, ...pre] = opts.nft;
    if (bin === undefined) throw new Error("internal: empty nft command");
    this.bin = bin;
    this.pre = pre;
    this.channel = new NftChannel(opts.nft, `flush set ${this.where} ${this.prefix}marker`);
  }

  private set(family: 4 | 6): string {
    return `${this.where} ${this.prefix}allow${family}`;
  }

  private async script(lines: readonly string[]): Promise<void> {
    await runChecked(this.exec, this.bin, [...this.pre, "-f", "-"], `${lines.join("\n")}\n`);
  }

  async init(flush: boolean): Promise<void> {
    const p = this.prefix;
    const sets = [
      `add set ${this.where} ${p}allow4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }`,
      `add set ${this.where} ${p}allow6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }`,
      `add set ${this.where} ${p}marker { type inet_service; }`,
    ];
    const flushSets = flush ? [`flush set ${this.set(4)}`, `flush set ${this.set(6)}`] : [];
    if (this.chain === null) {
      const chain = `${this.where} input`;
      const rules = [
        `add table ${this.where}`,
        ...sets,
        ...flushSets,
        `add chain ${chain} { type filter hook input priority filter - 5; policy accept; }`,
        `flush chain ${chain}`,
        `add rule ${chain} ip saddr . meta l4proto . th dport @allow4 accept`,
        ...(this.opts.ipv6
          ? [`add rule ${chain} ip6 saddr . meta l4proto . th dport @allow6 accept`]
          : []),
      ];
      if (this.opts.protect.length > 0) {
        const elems = this.opts.protect.map((x) => `${x.proto} . ${x.port}`).join(", ");
        rules.push(
          `add set ${this.where} protected { type inet_proto . inet_service; }`,
          `flush set ${this.where} protected`,
          `add element ${this.where} protected { ${elems} }`,
          `add rule ${chain} ct state established,related accept`,
          // A reset tells a TCP client at once; other protocols are dropped.
          `add rule ${chain} meta l4proto tcp meta l4proto . th dport @protected reject with tcp reset`,
          `add rule ${chain} meta l4proto . th dport @protected drop`,
        );
      }
      await this.script(rules);
    } else {
      await this.script([...sets, ...flushSets]);
      await this.removeOurRules();
      const rules = [
        ...(this.opts.ipv6
          ? [
              `insert rule ${this.where} ${this.chain} ip6 saddr . meta l4proto . th dport @${this.prefix}allow6 accept comment "${RULE_COMMENT}"`,
            ]
          : []),
        `insert rule ${this.where} ${this.chain} ip saddr . meta l4proto . th dport @${this.prefix}allow4 accept comment "${RULE_COMMENT}"`,
      ];
      await this.script(rules);
    }
  }

  /** Handles of our rules in the admin's chain (jump placement). */
  private async ourRuleHandles(): Promise<number[]> {
    const r = await this.exec(this.bin, [
      ...this.pre,
      "-a",
      "list",
      "chain",
      ...this.where.split(" "),
      this.chain ?? "",
    ]);
    if (r.code !== 0)
      throw new CommandError(
        [...this.opts.nft, "-a", "list", "chain", this.where, this.chain ?? ""],
        r.code,
        r.stderr,
      );
    const out: number[] = [];
    for (const line of r.stdout.split("\n")) {
      const m = new RegExp(`comment "${RULE_COMMENT}" # handle (\\d+)`).exec(line);
      if (m !== null) out.push(Number(m[1]));
    }
    return out;
  }

  private async removeOurRules(): Promise<void> {
    const handles = await this.ourRuleHandles();
    if (handles.length > 0)
      await this.script(
        handles.map((h) => `delete rule ${this.where} ${this.chain ?? ""} handle ${h}`),
      );
  }

  private elements(grants: readonly Grant[], family: 4 | 6, nowSecs: number | null): string {
    return grants
      .filter((g) => g.family === family)
      .map((g) => {
        const key = `${g.address} . ${g.proto} . ${g.port}`;
        return nowSecs === null ? key : `${key} timeout ${Math.max(1, g.expiresAt - nowSecs)}s`;
      })
      .join(", ");
  }

  async grant(grants: readonly Grant[], nowSecs: number): Promise<void> {
    const jobs: Array<Promise<void>> = [];
    for (const fam of [4, 6] as const) {
      const elems = this.elements(grants, fam, nowSecs);
      if (elems !== "") jobs.push(this.channel.run(`add element ${this.set(fam)} { ${elems} }`));
    }
    await Promise.all(jobs);
  }

  async revoke(grants: readonly Grant[]): Promise<void> {
    for (const fam of [4, 6] as const) {
      // One element at a time: a batch fails whole if any element has already timed out.
      for (const g of grants.filter((x) => x.family === fam)) {
        try {
          await this.channel.run(
            `delete element ${this.set(fam)} { ${this.elements([g], fam, null)} }`,
          );
        } catch (e) {
          if (!(e instanceof CommandError && /No such file or directory/.test(e.stderr))) throw e;
        }
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
      all || this.chain === null
        ? ["list", "table", ...this.where.split(" ")]
        : ["list", "set", ...this.set(4).split(" ")];
    const r = await this.exec(this.bin, [...this.pre, ...args]);
    let text = r.code === 0 ? r.stdout : `(${r.stderr.trim()})\n`;
    if (!all && this.chain !== null) {
      const r6 = await this.exec(this.bin, [...this.pre, "list", "set", ...this.set(6).split(" ")]);
      if (r6.code === 0) text += r6.stdout;
    }
    return text;
  }

  async flush(): Promise<void> {
    if (this.chain === null) {
      const r = await this.exec(this.bin, [
        ...this.pre,
        "delete",
        "table",
        ...this.where.split(" "),
      ]);
      if (r.code !== 0 && !/No such file or directory/.test(r.stderr))
        throw new CommandError([...this.opts.nft, "delete", "table", this.where], r.code, r.stderr);
      return;
    }
    await this.removeOurRules();
    const p = this.prefix;
    await this.script([
      `delete set ${this.where} ${p}allow4`,
      `delete set ${this.where} ${p}allow6`,
      `delete set ${this.where} ${p}marker`,
    ]).catch(() => undefined);
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
