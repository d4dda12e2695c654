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
 * cannot load, a persistent `nft -i` channel; set-up and listings are one-shot `nft` runs. The
 * text of every script and element is built in nft-rules.ts; this file runs it.
 */
import { CommandError, runChecked, type Exec } from "../../exec.js";
import { NftLibrary } from "../native/libnftables.js";
import { NftChannel, type NftCommands } from "./nft-channel.js";
import { parseSetElements } from "./nft-listing.js";
import { NftRules, RULE_COMMENT, type NftOptions } from "./nft-rules.js";
import type { FirewallBackend, Grant } from "./types.js";
import { InternalError } from "../../errors.js";

/** nft's answer when a table, chain or set is not there. */
const NOT_THERE = /No such file or directory/;

export class NftablesBackend implements FirewallBackend {
  readonly name = "nftables";
  readonly expiresItself = true;
  private readonly channel: NftCommands;
  /** How element changes reach the kernel, for the start-up log line. */
  readonly detail: string;
  private readonly rules: NftRules;
  private readonly bin: string;
  private readonly pre: readonly string[];

  constructor(
    private readonly opts: NftOptions,
    private readonly exec: Exec,
  ) {
    this.rules = new NftRules(opts);
    const [bin, ...pre] = opts.nft;
    if (bin === undefined) throw new InternalError("empty nft command");
    this.bin = bin;
    this.pre = pre;
    // A wrapped nft (["ip", "netns", "exec", ...]) acts elsewhere than this process would.
    const lib = !opts.useLibrary
      ? "NFT_USE_LIBNFTABLES is N"
      : pre.length > 0
        ? "nft runs wrapped"
        : NftLibrary.open();
    if (typeof lib === "string") {
      this.channel = new NftChannel(opts.nft, this.rules.markerCommand);
      this.detail = `set elements through ${this.channel.description} (not libnftables: ${lib})`;
    } else {
      this.channel = lib;
      this.detail = `set elements through ${lib.description}`;
    }
  }

  private async script(lines: readonly string[]): Promise<void> {
    await runChecked(this.exec, this.bin, [...this.pre, "-f", "-"], `${lines.join("\n")}\n`);
  }

  async init(flush: boolean): Promise<void> {
    const input = this.rules.input;
    if (input.chain === null) await this.script(this.rules.ownTable(flush));
    else {
      await this.script(this.rules.inputSets(flush));
      await this.removeOurRules(input.where, input.chain);
      await this.script(this.rules.jumpRules(input.chain));
    }
    const gate = this.rules.gateTable(flush);
    if (gate.length > 0) await this.script(gate);
    await this.initOutput(flush);
    if (this.opts.nat) {
      await this.script(this.rules.natTable(flush));
      const f = this.rules.fwd;
      if (f.chain !== null) {
        await this.removeOurRules(f.where, f.chain);
        await this.script(this.rules.natJumpRules(f.chain));
      }
    }
  }

  /** ENABLE_IPT_OUTPUT: our output chain, or our rules in NFT_OUTPUT_JUMP_CHAIN's chain. */
  private async initOutput(flush: boolean): Promise<void> {
    const out = this.rules.out;
    if (out === null) return;
    if (out.at.chain === null) await this.script(out.ownChain(flush));
    else {
      await this.script(out.decls(flush));
      await this.removeOurRules(out.at.where, out.at.chain);
      await this.script(out.jumpRules(out.at.chain));
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

  async grant(grants: readonly Grant[], nowSecs: number): Promise<void> {
    const bySet = new Map<string, string[]>();
    const elements = grants.flatMap((g) => this.rules.elementsOf(g));
    // A counted grant starts with a full meter: an earlier grant's spent entry goes first (added
    // then deleted in one transaction, so one that is not there is no error).
    for (const x of elements)
      if (x.meter !== undefined)
        await this.channel.run(
          `add element ${x.meter} { ${x.key} }; delete element ${x.meter} { ${x.key} }`,
        );
    for (const x of elements) {
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
    for (const x of grants.flatMap((g) => this.rules.elementsOf(g))) {
      try {
        await this.channel.run(`delete element ${x.set} { ${x.key} }`);
      } catch (e) {
        if (!(e instanceof CommandError && NOT_THERE.test(e.stderr))) throw e;
      }
    }
  }

  /**
   * The grants in our allow sets. A set that is not there yet (a first start, or after
   * --fw-flush) holds none; any other failure of nft is an error, not an empty firewall.
   */
  async list(nowSecs: number): Promise<Grant[]> {
    const out: Grant[] = [];
    for (const fam of [4, 6] as const)
      for (const { set, maxConnections, gate } of this.rules.grantSets(fam)) {
        const argv = [...this.pre, "-j", "list", "set", ...set.split(" ")];
        const r = await this.exec(this.bin, argv);
        if (r.code !== 0) {
          if (NOT_THERE.test(r.stderr)) continue;
          throw new CommandError([this.bin, ...argv], r.code, r.stderr);
        }
        for (const e of parseSetElements(r.stdout))
          out.push({
            stanza: 0,
            user: "",
            address: e.address,
            family: fam,
            proto: e.proto,
            port: e.port,
            expiresAt: nowSecs + e.expiresSecs,
            destination: e.destination ?? null,
            ...(maxConnections > 0 ? { maxConnections } : {}),
            ...(gate === true ? { gate } : {}),
          });
      }
    return out;
  }

  async listText(all: boolean): Promise<string> {
    const input = this.rules.input;
    const out = this.rules.out;
    const own = this.rules.own;
    const lists: string[][] = [];
    const table = (t: string): string[] => ["list", "table", ...t.split(" ")];
    if (all || input.chain === null) lists.push(table(input.where));
    else lists.push(["list", "set", ...this.rules.set(4).split(" ")]);
    // Our own table, when it holds NAT or our output chain and was not listed above.
    if (input.chain !== null && (this.opts.nat || out?.at.chain === null)) lists.push(table(own));
    const sets = (refs: readonly string[]): void => {
      for (const set of refs) lists.push(["list", "set", ...set.split(" ")]);
    };
    if (!all && input.chain !== null) {
      sets([...this.rules.grantSets(4).slice(1), ...this.rules.grantSets(6)].map((x) => x.set));
    }
    // NFT_OUTPUT_JUMP_CHAIN: our output sets in the admin's table.
    if (out !== null && out.at.chain !== null) {
      if (!all) sets(out.setRefs());
      else if (out.at.where !== input.where) lists.push(table(out.at.where));
    }
    let text = "";
    for (const [i, args] of lists.entries()) {
      const r = await this.exec(this.bin, [...this.pre, ...args]);
      // The first listing's failure is said (no table yet); the others are only extra detail.
      if (r.code === 0) text += r.stdout;
      else if (i === 0) text += `(${r.stderr.trim()})\n`;
    }
    return text;
  }

  async flush(): Promise<void> {
    const own = this.rules.own;
    if (this.rules.usesOwnTable()) {
      const r = await this.exec(this.bin, [...this.pre, "delete", "table", ...own.split(" ")]);
      if (r.code !== 0 && !NOT_THERE.test(r.stderr))
        throw new CommandError([...this.opts.nft, "delete", "table", own], r.code, r.stderr);
    }
    const input = this.rules.input;
    if (input.chain !== null) {
      await this.removeOurRules(input.where, input.chain);
      await this.script(this.rules.deleteInputSets()).catch(() => undefined);
    }
    const f = this.rules.fwd;
    if (this.opts.nat && f.chain !== null) {
      await this.removeOurRules(f.where, f.chain);
      await this.script(this.rules.deleteFwdSets()).catch(() => undefined);
    }
    const out = this.rules.out;
    if (out !== null && out.at.chain !== null) {
      await this.removeOurRules(out.at.where, out.at.chain);
      await this.script(out.deleteSets()).catch(() => undefined);
    }
  }

  close(): Promise<void> {
    this.channel.close();
    return Promise.resolve();
  }
}
