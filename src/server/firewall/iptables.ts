/**
 * iptables and firewalld backends, as C fwknopd drives them (server/fw_util_iptables.c,
 * fw_util_firewalld.c), so either daemon can take over the other's chains and `--fw-list` reads
 * the same: a FWKNOP_INPUT chain with a jump from INPUT at the configured position, one rule per
 * grant carrying "_exp_<epoch>" as a comment. firewalld runs the same iptables arguments through
 * `firewall-cmd --direct --passthrough ipv4|ipv6`. Differences: batches go through
 * iptables-restore --noflush (one process for many rules), and IPv6 grants use ip6tables.
 */
import { CommandError, type Exec, type ExecResult } from "../../exec.js";
import type { FirewallBackend, Grant } from "./types.js";

/** IPT_INPUT_ACCESS and friends: "target, table, from_chain, jump_pos, to_chain, rule_pos". */
export interface ChainSpec {
  target: string;
  table: string;
  fromChain: string;
  jumpPos: number;
  toChain: string;
}

export interface IptablesOptions {
  kind: "iptables" | "firewalld";
  /** argv prefix of iptables or firewall-cmd (FIREWALL_EXE). */
  exe: readonly string[];
  /** argv prefix of ip6tables for IPv6 grants (iptables kind), or null for IPv4 only. */
  ip6exe: readonly string[] | null;
  input: ChainSpec;
  /** ENABLE_RULE_PREPEND: -I instead of -A. */
  prepend: boolean;
  ipv6: boolean;
}

const PROTO_NUM = { tcp: 6, udp: 17 } as const;
const GONE =
  /does a matching rule exist|No chain\/target\/match by that name|Bad rule|NOT_ENABLED/i;

export class IptablesBackend implements FirewallBackend {
  readonly expiresItself = false;
  readonly name: "iptables" | "firewalld";

  constructor(
    private readonly opts: IptablesOptions,
    private readonly exec: Exec,
  ) {
    this.name = opts.kind;
  }

  private families(): Array<4 | 6> {
    return this.opts.ipv6 && (this.opts.kind === "firewalld" || this.opts.ip6exe !== null)
      ? [4, 6]
      : [4];
  }

  /** One iptables command for a family (through firewall-cmd for firewalld). */
  private async ipt(family: 4 | 6, args: readonly string[]): Promise<ExecResult> {
    let argv: readonly string[];
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

  private ruleSpec(g: Grant): string[] {
    const c = this.opts.input;
    const any = g.family === 4 ? "0.0.0.0/0" : "::/0";
    return [
      "-p",
      String(PROTO_NUM[g.proto]),
      "-s",
      g.address,
      "-d",
      g.destination ?? any,
      "--dport",
      String(g.port),
    ].concat(["-m", "comment", "--comment", `_exp_${g.expiresAt}`, "-j", c.target]);
  }

  async init(flush: boolean): Promise<void> {
    const c = this.opts.input;
    for (const fam of this.families()) {
      if (flush) await this.deleteChain(fam);
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

  /** server/fw_util_iptables.c:delete_all_chains: jump rule(s), then flush and delete the chain. */
  private async deleteChain(fam: 4 | 6): Promise<void> {
    const c = this.opts.input;
    for (let i = 0; i < 10; i++) {
      if ((await this.ipt(fam, ["-t", c.table, "-D", c.fromChain, "-j", c.toChain])).code !== 0)
        break;
    }
    await this.ipt(fam, ["-t", c.table, "-F", c.toChain]);
    await this.ipt(fam, ["-t", c.table, "-X", c.toChain]);
  }

  async grant(grants: readonly Grant[]): Promise<void> {
    const c = this.opts.input;
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
      if (this.opts.kind === "iptables") {
        // One iptables-restore for the whole batch; --noflush keeps everything else.
        const exe = fam === 4 ? this.opts.exe : (this.opts.ip6exe ?? this.opts.exe);
        const restore = [...exe.slice(0, -1), `${exe[exe.length - 1] ?? "iptables"}-restore`];
        const text = [
          `*${c.table}`,
          ...mine.map((g) => [op, c.toChain, ...this.ruleSpec(g)].join(" ")),
          "COMMIT",
          "",
        ].join("\n");
        const [bin, ...rest] = restore;
        const r = await this.exec(bin ?? "", [...rest, "-w", "--noflush"], { input: text });
        if (r.code !== 0) throw new CommandError([...restore, "-w", "--noflush"], r.code, r.stderr);
      } else {
        for (const g of mine)
          await this.must(fam, ["-t", c.table, op, c.toChain, ...this.ruleSpec(g)]);
      }
    }
  }

  async revoke(grants: readonly Grant[]): Promise<void> {
    const c = this.opts.input;
    for (const g of grants) {
      const r = await this.ipt(g.family, ["-t", c.table, "-D", c.toChain, ...this.ruleSpec(g)]);
      if (r.code !== 0 && !GONE.test(r.stderr + r.stdout))
        throw new CommandError([...this.opts.exe, "-D", c.toChain], r.code, r.stderr);
    }
  }

  async list(): Promise<Grant[]> {
    const c = this.opts.input;
    const out: Grant[] = [];
    for (const fam of this.families()) {
      const r = await this.ipt(fam, ["-t", c.table, "-S", c.toChain]);
      if (r.code !== 0) continue;
      for (const line of r.stdout.split("\n")) {
        const g = parseRuleLine(line, fam);
        if (g !== null) out.push(g);
      }
    }
    return out;
  }

  async listText(all: boolean): Promise<string> {
    const c = this.opts.input;
    let text = all ? "" : "Listing rules in fwknopd iptables chains...\n";
    for (const fam of this.families()) {
      const args = all
        ? ["-t", c.table, "-v", "-n", "-L", "--line-numbers"]
        : ["-t", c.table, "-L", c.toChain, "--line-numbers", "-n"];
      const r = await this.ipt(fam, args);
      text += r.code === 0 ? `${r.stdout}\n` : `(${(r.stderr || r.stdout).trim()})\n`;
    }
    return text;
  }

  async flush(): Promise<void> {
    for (const fam of this.families()) await this.deleteChain(fam);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** One `iptables -S` line of our chain back into a grant (ours or C fwknopd's, same format). */
export function parseRuleLine(line: string, family: 4 | 6): Grant | null {
  const exp = /--comment "?_exp_(\d+)"?/.exec(line);
  const src = /-s (\S+)/.exec(line);
  const proto = /-p (tcp|udp|6|17)\b/.exec(line);
  const port = /--dport (\d+)/.exec(line);
  if (exp === null || src === null || proto === null || port === null) return null;
  const p = proto[1] === "udp" || proto[1] === "17" ? "udp" : "tcp";
  return {
    stanza: 0,
    user: "",
    address: (src[1] ?? "").replace(/\/(32|128)$/, ""),
    family,
    proto: p,
    port: Number(port[1]),
    expiresAt: Number(exp[1]),
    destination: null,
  };
}
