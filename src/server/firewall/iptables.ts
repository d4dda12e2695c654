/**
 * iptables and firewalld backends, as C fwknopd drives them (server/fw_util_iptables.c,
 * fw_util_firewalld.c), so either daemon can take over the other's chains and `--fw-list` reads
 * the same: a FWKNOP_INPUT chain with a jump from INPUT at the configured position, one rule per
 * grant carrying "_exp_<epoch>" as a comment. firewalld runs the same iptables arguments through
 * `firewall-cmd --direct --passthrough ipv4|ipv6`. Differences: batches go through
 * iptables-restore --noflush (one process for many rules), IPv6 grants use ip6tables, and
 * firewalld's passthrough is called over D-Bus (firewalld-dbus.ts) rather than by starting
 * firewall-cmd, with firewall-cmd as the fallback. The rules' arguments are built, and read
 * back, in ipt-rules.ts; this file runs them.
 */
import { CommandError, type Exec, type ExecResult } from "../../exec.js";
import { FirewalldBus } from "./firewalld-dbus.js";
import { inParallel } from "./in-parallel.js";
import {
  grantRules,
  managedChains,
  parseLeftover,
  parseRuleLine,
  restoreText,
  type ChainSpec,
  type IptChains,
  type IptRule,
} from "./ipt-rules.js";
import { grantKey, type FirewallBackend, type Grant } from "./types.js";
import { messageOf } from "../../errors.js";

export interface IptablesOptions extends IptChains {
  kind: "iptables" | "firewalld";
  /** argv prefix of iptables or firewall-cmd (FIREWALL_EXE). */
  exe: readonly string[];
  /** argv prefix of ip6tables for IPv6 grants (iptables kind), or null for IPv4 only. */
  ip6exe: readonly string[] | null;
  /** ENABLE_RULE_PREPEND: -I instead of -A. */
  prepend: boolean;
  ipv6: boolean;
  /** FIREWD_USE_DBUS (firewalld kind): passthroughs over the system bus, not firewall-cmd. */
  dbus: boolean;
  /**
   * Only the OUTPUT rules (firewalld.ts: beside rich rules, which grant the input): the OUTPUT
   * chain alone is managed, and list() reads its rules as grants.
   */
  outputOnly?: boolean;
}

/** firewall-cmd processes run at once for one batch. */
const FIREWALL_CMD_PARALLEL = 8;

const GONE =
  /does a matching rule exist|No chain\/target\/match by that name|Bad rule|NOT_ENABLED/i;

export class IptablesBackend implements FirewallBackend {
  readonly expiresItself = false;
  readonly name: "iptables" | "firewalld";
  /** firewalld over D-Bus, until a connection fails (then firewall-cmd, for good). */
  private bus: FirewalldBus | null = null;
  private noBus: string | null = null;

  constructor(
    private readonly opts: IptablesOptions,
    private readonly exec: Exec,
  ) {
    this.name = opts.kind;
    if (opts.kind !== "firewalld") return;
    // A wrapped firewall-cmd (nsenter ... firewall-cmd) talks to another bus than ours would.
    if (!opts.dbus) this.noBus = "FIREWD_USE_DBUS is N";
    else if (opts.exe.length > 1) this.noBus = "firewall-cmd runs wrapped";
    else this.bus = FirewalldBus.system();
  }

  get detail(): string | undefined {
    if (this.opts.kind !== "firewalld") return undefined;
    return this.bus !== null
      ? "passthrough over D-Bus"
      : `passthrough through ${this.opts.exe.join(" ")} (not D-Bus: ${this.noBus ?? "?"})`;
  }

  /** The bus when it answers; otherwise firewall-cmd from now on, and the reason kept. */
  private async openBus(): Promise<FirewalldBus | null> {
    const bus = this.bus;
    if (bus === null) return null;
    try {
      await bus.open();
      return bus;
    } catch (e) {
      this.bus = null;
      this.noBus = messageOf(e);
      bus.close();
      return null;
    }
  }

  private families(): Array<4 | 6> {
    return this.opts.ipv6 && (this.opts.kind === "firewalld" || this.opts.ip6exe !== null)
      ? [4, 6]
      : [4];
  }

  /** One iptables command for a family (through firewall-cmd for firewalld). */
  private async ipt(family: 4 | 6, args: readonly string[]): Promise<ExecResult> {
    let argv: readonly string[];
    const bus = await this.openBus();
    if (bus !== null) return bus.passthrough(family === 4 ? "ipv4" : "ipv6", args);
    if (this.opts.kind === "firewalld")
      argv = [
        ...this.opts.exe,
        "--direct",
        "--passthrough",
        family === 4 ? "ipv4" : "ipv6",
        ...args,
      ];
    else
      argv = [
        ...(family === 4 ? this.opts.exe : (this.opts.ip6exe ?? this.opts.exe)),
        "-w",
        ...args,
      ];
    const [bin, ...rest] = argv;
    const r = await this.exec(bin ?? "", rest);
    // firewall-cmd can report a failed passthrough with exit 0 (server/fw_util_firewalld.c checks the text).
    if (r.code === 0 && /COMMAND_FAILED/.test(r.stdout + r.stderr)) return { ...r, code: 1 };
    return r;
  }

  private async must(family: 4 | 6, args: readonly string[]): Promise<string> {
    const r = await this.ipt(family, args);
    if (r.code !== 0)
      throw new CommandError([...this.opts.exe, ...args], r.code, r.stderr || r.stdout);
    return r.stdout;
  }

  private chains(): ChainSpec[] {
    const all = managedChains(this.opts);
    return this.opts.outputOnly === true ? all.filter((c) => c === this.opts.output) : all;
  }

  /** NAT is IPv4 only (fwknop's NAT field is an IPv4 address or a host name). */
  private inFamily(c: ChainSpec, fam: 4 | 6): boolean {
    return fam === 4 || c === this.opts.input || c === this.opts.output;
  }

  private rulesOf(g: Grant): IptRule[] {
    const rules = grantRules(g, this.opts);
    return this.opts.outputOnly === true
      ? rules.filter((r) => r.chain === this.opts.output)
      : rules;
  }

  async init(flush: boolean): Promise<void> {
    for (const fam of this.families()) {
      for (const c of this.chains()) {
        if (!this.inFamily(c, fam)) continue;
        if (flush) await this.deleteChain(fam, c);
        if ((await this.ipt(fam, ["-t", c.table, "-L", c.toChain, "-n"])).code !== 0)
          await this.must(fam, ["-t", c.table, "-N", c.toChain]);
        if ((await this.ipt(fam, ["-t", c.table, "-C", c.fromChain, "-j", c.toChain])).code !== 0)
          await this.must(fam, [
            "-t",
            c.table,
            "-I",
            c.fromChain,
            String(c.jumpPos),
            "-j",
            c.toChain,
          ]);
      }
    }
  }

  /** server/fw_util_iptables.c:delete_all_chains: jump rule(s), then flush and delete the chain. */
  private async deleteChain(fam: 4 | 6, c: ChainSpec): Promise<void> {
    for (let i = 0; i < 10; i++) {
      if ((await this.ipt(fam, ["-t", c.table, "-D", c.fromChain, "-j", c.toChain])).code !== 0)
        break;
    }
    await this.ipt(fam, ["-t", c.table, "-F", c.toChain]);
    await this.ipt(fam, ["-t", c.table, "-X", c.toChain]);
  }

  async grant(grants: readonly Grant[]): Promise<void> {
    const op = this.opts.prepend ? "-I" : "-A";
    for (const fam of [4, 6] as const) {
      const mine = grants.filter((g) => g.family === fam);
      if (mine.length === 0) continue;
      if (fam === 6 && !this.families().includes(6))
        throw new CommandError(
          [...this.opts.exe],
          1,
          "IPv6 grant requested but no ip6tables is configured",
        );
      const rules = mine.flatMap((g) => this.rulesOf(g));
      if (this.opts.kind === "iptables") {
        const r = await this.restore(fam, rules, op);
        if (r.code !== 0)
          throw new CommandError(["iptables-restore", "--noflush"], r.code, r.stderr);
      } else {
        // firewall-cmd has no batch form and each call takes ~0.3 s here, so a few run side by
        // side (bench/firewalld.ts: 2.9 -> 3.9 grants/s in a burst).
        await inParallel(rules, FIREWALL_CMD_PARALLEL, (r) =>
          this.must(fam, ["-t", r.chain.table, op, r.chain.toChain, ...r.args]).then(
            () => undefined,
          ),
        );
      }
    }
  }

  /**
   * One iptables-restore --noflush for many rules (a section per table; everything else is kept):
   * one process instead of one per rule. The batch is atomic: one bad line changes nothing.
   */
  private restore(fam: 4 | 6, rules: readonly IptRule[], op: string): Promise<ExecResult> {
    const exe = fam === 4 ? this.opts.exe : (this.opts.ip6exe ?? this.opts.exe);
    const restore = [...exe.slice(0, -1), `${exe[exe.length - 1] ?? "iptables"}-restore`];
    const text = restoreText(rules, op);
    const [bin, ...rest] = restore;
    return this.exec(bin ?? "", [...rest, "-w", "--noflush"], { input: text });
  }

  /**
   * Expired or replaced grants: one iptables-restore of -D lines (iptables); if that batch fails
   * (a rule already gone, e.g. removed by C fwknopd or the admin), rule by rule, where a missing
   * rule is not an error.
   */
  async revoke(grants: readonly Grant[]): Promise<void> {
    for (const fam of [4, 6] as const) {
      const rules = grants.filter((g) => g.family === fam).flatMap((g) => this.rulesOf(g));
      if (rules.length === 0) continue;
      if (this.opts.kind === "iptables" && rules.length > 1) {
        const r = await this.restore(fam, rules, "-D");
        if (r.code === 0) continue;
      }
      const parallel = this.opts.kind === "firewalld" ? FIREWALL_CMD_PARALLEL : 1;
      await inParallel(rules, parallel, async (rule) => {
        const c = rule.chain;
        const r = await this.ipt(fam, ["-t", c.table, "-D", c.toChain, ...rule.args]);
        if (r.code !== 0 && !GONE.test(r.stderr + r.stdout))
          throw new CommandError([...this.opts.exe, "-D", c.toChain], r.code, r.stderr);
      });
    }
  }

  /**
   * Grants found in our chains (ours or C fwknopd's, same format): INPUT rules become grants; an
   * OUTPUT rule that matches one is part of it (revoking the grant deletes both); NAT rules, and
   * OUTPUT rules of no grant, come back as leftovers, deleted as they are when they expire.
   * outputOnly: the OUTPUT rules are the grants.
   */
  async list(): Promise<Grant[]> {
    const out: Grant[] = [];
    const input = new Set<string>();
    for (const fam of this.families()) {
      for (const c of this.chains()) {
        if (!this.inFamily(c, fam)) continue;
        const r = await this.ipt(fam, ["-t", c.table, "-S", c.toChain]);
        if (r.code !== 0) continue;
        for (const line of r.stdout.split("\n")) {
          const g = this.parseLine(line, c, fam, input);
          if (g !== null) out.push(g);
        }
      }
    }
    return out;
  }

  /** One `-S` line of chain `c`; `input` collects the INPUT grants seen, for their OUTPUT rules. */
  private parseLine(line: string, c: ChainSpec, fam: 4 | 6, input: Set<string>): Grant | null {
    const sameGrant = (g: Grant): string =>
      `${g.family} ${grantKey(g)} ${g.destination ?? ""} ${g.expiresAt}`;
    if (c === this.opts.input) {
      const g = parseRuleLine(line, fam);
      if (g !== null) input.add(sameGrant(g));
      return g;
    }
    if (c === this.opts.output) {
      const g = parseRuleLine(line, fam, true);
      if (g !== null && this.opts.outputOnly === true) return g;
      if (g !== null && input.has(sameGrant(g))) return null;
    }
    return parseLeftover(line, c, fam);
  }

  async listText(all: boolean): Promise<string> {
    let text = all ? "" : "Listing rules in fwknopd iptables chains...\n";
    for (const fam of this.families()) {
      const tables = [...new Set(this.chains().map((c) => c.table))];
      const lists = all
        ? tables.map((t) => ["-t", t, "-v", "-n", "-L", "--line-numbers"])
        : this.chains()
            .filter((c) => this.inFamily(c, fam))
            .map((c) => ["-t", c.table, "-L", c.toChain, "--line-numbers", "-n"]);
      for (const args of lists) {
        const r = await this.ipt(fam, args);
        text += r.code === 0 ? `${r.stdout}\n` : `(${(r.stderr || r.stdout).trim()})\n`;
      }
    }
    return text;
  }

  async flush(): Promise<void> {
    for (const fam of this.families())
      for (const c of this.chains()) if (this.inFamily(c, fam)) await this.deleteChain(fam, c);
  }

  close(): Promise<void> {
    this.bus?.close();
    return Promise.resolve();
  }
}
