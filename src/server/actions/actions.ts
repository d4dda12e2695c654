/**
 * What an accepted command message or command cycle does: split and substitute the text, wrap it
 * in sudo or run it as CMD_EXEC_USER/GROUP as the stanza says, run it (run-command.ts), log the
 * outcome, and schedule a cycle's close (pending-cycles.ts). The daemon persists the replay digest
 * before calling run().
 */
import type { Logger } from "../log.js";
import { MAX_ARGS, splitArgs } from "../../argv/split-args.js";
import type { DaemonConfig } from "../daemon-config.js";
import type { ServedStanza } from "../pipeline/served-stanza.js";
import type { CommandDecision, CycleDecision } from "../pipeline/types.js";
import { PendingCycles } from "./pending-cycles.js";
import { resolveRunAs, runCommand, substitute, type CycleVars } from "./run-command.js";

export interface ActionsDeps {
  nowSecs: () => number;
  log: (line: string, level: Parameters<Logger["log"]>[0]) => void;
  /** The configuration now: a reload changes the stanzas and SUDO_EXE / CMD_EXEC_TIMEOUT. */
  config: () => Pick<DaemonConfig, "stanzas" | "commands">;
}

export class Actions {
  private readonly cycles: PendingCycles;

  /** `pendingFile`: where pending CMD_CYCLE_CLOSE commands survive a restart. */
  constructor(
    pendingFile: string,
    private readonly deps: ActionsDeps,
  ) {
    this.cycles = new PendingCycles(pendingFile, deps.nowSecs, (p) =>
      this.runArgv("CMD_CYCLE_CLOSE", p.stanza, p.user, p.argv),
    );
  }

  /** The closes a previous run left pending, rescheduled; how many. */
  load(): number {
    return this.cycles.load();
  }

  /** A command message, or a cycle's open now and its close scheduled. */
  async run(d: CommandDecision | CycleDecision): Promise<void> {
    if (d.kind === "command") {
      await this.runText("SPA command", d.stanza, d.user, d.command, null);
      return;
    }
    await this.runText("CMD_CYCLE_OPEN", d.stanza, d.user, d.open, d.vars);
    if (d.close === null) return;
    const argv = this.argvFor(d.stanza, d.close, d.vars);
    if (argv !== null)
      this.cycles.schedule({
        at: this.deps.nowSecs() + d.closeAfter,
        stanza: d.stanza,
        user: d.user,
        argv,
      });
  }

  /** Stop the timers; pending closes stay on disk for the next start. */
  stop(): void {
    this.cycles.stop();
  }

  private stanza(n: number): ServedStanza | undefined {
    return this.deps.config().stanzas.find((x) => x.number === n);
  }

  /** Split, substitute, and wrap in sudo as the stanza says; null (logged) when it cannot be run. */
  private argvFor(stanzaNo: number, text: string, vars: CycleVars | null): string[] | null {
    const s = this.stanza(stanzaNo);
    const split = splitArgs(text);
    if (s === undefined || split === null) {
      this.deps.log(
        `(stanza #${stanzaNo}) cannot run '${text}': unbalanced quotes or more than ${MAX_ARGS} arguments`,
        "err",
      );
      return null;
    }
    const argv = vars === null ? split : substitute(split, vars);
    if (!s.enableCmdSudoExec) return argv;
    const who = [
      ...(s.cmdSudoExecUser !== null ? ["-u", s.cmdSudoExecUser] : []),
      ...(s.cmdSudoExecGroup !== null ? ["-g", s.cmdSudoExecGroup] : []),
    ];
    return [this.deps.config().commands.sudoExe, ...who, ...argv];
  }

  private async runText(
    what: string,
    stanzaNo: number,
    user: string,
    text: string,
    vars: CycleVars | null,
  ): Promise<void> {
    const argv = this.argvFor(stanzaNo, text, vars);
    if (argv !== null) await this.runArgv(what, stanzaNo, user, argv);
  }

  private async runArgv(
    what: string,
    stanzaNo: number,
    user: string,
    argv: string[],
  ): Promise<void> {
    const s = this.stanza(stanzaNo);
    const as =
      s === undefined || s.enableCmdSudoExec ? null : resolveRunAs(s.cmdExecUser, s.cmdExecGroup);
    if (typeof as === "string") {
      this.deps.log(
        `(stanza #${stanzaNo}) ${what} not run: ${as === "unknown-user" ? "CMD_EXEC_USER" : "CMD_EXEC_GROUP"} does not exist`,
        "err",
      );
      return;
    }
    const timeoutMs = this.deps.config().commands.timeoutMs;
    const r = await runCommand(argv, { timeoutMs, runAs: as });
    this.deps.log(
      `${what} for user '${user}' (stanza #${stanzaNo}): ${argv.join(" ")} -> ${r.timedOut ? `killed after ${timeoutMs / 1000} s` : r.code !== null ? `exit status ${r.code}` : `signal ${r.signal ?? "?"}`}${r.stderr !== "" && r.code !== 0 ? ` (${r.stderr.trim()})` : ""}`,
      r.code === 0 ? "info" : "warning",
    );
  }
}
