/**
 * The rule that queues SPA datagrams to fwknopd (ENABLE_NFQ_CAPTURE): UDP to NFQ_PORT, optionally
 * only from NFQ_INTERFACE, in the input hook, to queue NFQ_QUEUE_NUMBER. Installed after the
 * firewall is set up, removed at exit whatever FLUSH_*_AT_EXIT says (left behind, it would queue
 * to nobody, and the kernel drops what nobody reads).
 *
 * iptables and firewalld as C fwknopd (server/fw_util_iptables.c create_fw_chains and
 * delete_all_chains): chain NFQ_CHAIN in table NFQ_TABLE, a jump to it at the top of INPUT, and
 * `-p udp --dport NFQ_PORT [-i NFQ_INTERFACE] -j NFQUEUE --queue-num N` in it; IPv4, as C binds
 * AF_INET only. We delete the jump by its text, not as C by position 1.
 *
 * nftables (ours): a base chain NFQ_CHAIN in our table, hooked on input at the priority that
 * NFQ_TABLE names (mangle: -150, as iptables' mangle INPUT), holding `udp dport N queue num Q`.
 * A queued packet leaves the hook there and our verdict DROP ends it, so a default-drop filter
 * chain (priority 0) never sees it, and any chain that runs after ours does not either. Kernels
 * built without the nft `queue` expression (CONFIG_NFT_QUEUE) refuse that rule; iptables-nft
 * still reaches xt_NFQUEUE through nft_compat, so we fall back to the iptables form then.
 */
import { existsSync } from "node:fs";
import { CommandError, runChecked, type Exec } from "../../exec.js";
import { EnvironmentError, messageOf } from "../../errors.js";

export interface NfqRuleSpec {
  queue: number;
  port: number;
  /** NFQ_TABLE: raw, mangle, filter or security. */
  table: string;
  /** NFQ_CHAIN. */
  chain: string;
  /** NFQ_INTERFACE, "" for any. */
  intf: string;
}

export interface QueueRule {
  /** What was installed, for the start-up log (set by install). */
  readonly description: string;
  install(): Promise<void>;
  remove(): Promise<void>;
}

/** nft's answer when a table, chain or expression is not there. */
const NOT_THERE = /No such file or directory/;
const FIX = "set ENABLE_NFQ_CAPTURE N, or load the kernel's NFQUEUE support";

/** The iptables arguments of the queue rule (C: IPT_NFQ_ADD_ARGS / _WITH_IF). */
export function iptQueueRule(s: NfqRuleSpec): string[] {
  return [
    ...(s.intf !== "" ? ["-i", s.intf] : []),
    ...["-p", "udp", "-m", "udp", "--dport", String(s.port)],
    ...["-j", "NFQUEUE", "--queue-num", String(s.queue)],
  ];
}

/** One script: our table, the queue chain (emptied if left by an earlier run), the rule. */
export function nftInstallScript(s: NfqRuleSpec, family: string, table: string): string[] {
  const chain = `${family} ${table} ${s.chain}`;
  const iif = s.intf !== "" ? `iifname "${s.intf}" ` : "";
  return [
    `add table ${family} ${table}`,
    `add chain ${chain} { type filter hook input priority ${s.table}; policy accept; }`,
    `flush chain ${chain}`,
    `add rule ${chain} ${iif}udp dport ${s.port} counter queue num ${s.queue}`,
  ];
}

export function nftRemoveScript(s: NfqRuleSpec, family: string, table: string): string[] {
  const chain = `${family} ${table} ${s.chain}`;
  return [`flush chain ${chain}`, `delete chain ${chain}`];
}

/** Runs one iptables command (directly, or through firewall-cmd --direct --passthrough). */
export type IptRun = (args: readonly string[]) => Promise<{ code: number; stderr: string }>;

export class IptQueueRule implements QueueRule {
  description: string;
  constructor(
    private readonly s: NfqRuleSpec,
    private readonly run: IptRun,
    private readonly via: string,
  ) {
    this.description = `NFQUEUE rule (${via}): -t ${s.table} ${s.chain} ${iptQueueRule(s).join(" ")}`;
  }

  private async must(args: readonly string[]): Promise<void> {
    const r = await this.run(args);
    if (r.code !== 0)
      throw new EnvironmentError(
        `ENABLE_NFQ_CAPTURE: ${this.via} ${args.join(" ")} failed: ${r.stderr.trim()}; ${FIX} (xt_NFQUEUE)`,
      );
  }

  async install(): Promise<void> {
    const { table, chain } = this.s;
    // A chain left by an earlier run is emptied, not created twice.
    if ((await this.run(["-t", table, "-L", chain, "-n"])).code === 0)
      await this.must(["-t", table, "-F", chain]);
    else await this.must(["-t", table, "-N", chain]);
    if ((await this.run(["-t", table, "-C", "INPUT", "-j", chain])).code !== 0)
      await this.must(["-t", table, "-I", "INPUT", "1", "-j", chain]);
    await this.must(["-t", table, "-A", chain, ...iptQueueRule(this.s)]);
  }

  async remove(): Promise<void> {
    const { table, chain } = this.s;
    // Every jump (an earlier run's too), then the chain; what is not there is not an error.
    for (let i = 0; i < 8; i++)
      if ((await this.run(["-t", table, "-D", "INPUT", "-j", chain])).code !== 0) break;
    await this.run(["-t", table, "-F", chain]);
    await this.run(["-t", table, "-X", chain]);
  }
}

export class NftQueueRule implements QueueRule {
  description: string;
  /** Set when the kernel refused the nft queue expression and iptables-nft carries the rule. */
  private fallback: IptQueueRule | null = null;

  constructor(
    private readonly s: NfqRuleSpec,
    private readonly nft: readonly string[],
    private readonly where: { family: string; table: string },
    private readonly exec: Exec,
    /** iptables-nft, for kernels without the nft queue expression; null: none. */
    private readonly iptablesNft: string | null = existsSync("/usr/sbin/iptables-nft")
      ? "/usr/sbin/iptables-nft"
      : null,
  ) {
    this.description = `NFQUEUE rule: ${nftInstallScript(s, where.family, where.table).at(-1) ?? ""}`;
  }

  private async script(lines: readonly string[]): Promise<void> {
    const [bin, ...pre] = this.nft;
    await runChecked(this.exec, bin ?? "nft", [...pre, "-f", "-"], `${lines.join("\n")}\n`);
  }

  async install(): Promise<void> {
    const { family, table } = this.where;
    try {
      await this.script(nftInstallScript(this.s, family, table));
      return;
    } catch (e) {
      const ipt = this.iptablesNft;
      if (!(e instanceof CommandError) || !NOT_THERE.test(e.stderr) || ipt === null)
        throw new EnvironmentError(`ENABLE_NFQ_CAPTURE: ${messageOf(e)}; ${FIX} (nft_queue)`);
      const fb = this.iptablesForm(ipt);
      await fb.install();
      this.fallback = fb;
      this.description = fb.description;
    }
  }

  private iptablesForm(ipt: string): IptQueueRule {
    return new IptQueueRule(
      this.s,
      (args) => this.exec(ipt, ["-w", ...args]),
      "iptables-nft, as this kernel has no nft queue expression",
    );
  }

  async remove(): Promise<void> {
    if (this.fallback !== null) return this.fallback.remove();
    const { family, table } = this.where;
    try {
      await this.script(nftRemoveScript(this.s, family, table));
    } catch (e) {
      if (!(e instanceof CommandError) || !NOT_THERE.test(e.stderr)) throw e;
    }
    // --fw-flush, or a run that fell back and died: the iptables-nft form, looked for first with
    // nft (read-only), as iptables-nft itself may create its tables when asked to delete.
    const [bin, ...pre] = this.nft;
    const ipt = this.iptablesNft;
    const look = [...pre, "list", "chain", "ip", this.s.table, this.s.chain];
    if (ipt !== null && (await this.exec(bin ?? "nft", look)).code === 0)
      await this.iptablesForm(ipt).remove();
  }
}
