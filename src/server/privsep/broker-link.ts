/**
 * The broker's side of privilege separation (PRIVSEP Y): start the packet parser (parser.ts) as
 * RUN_AS_USER, give it the configuration, and act only on requests that pass check-request.ts
 * against the configuration loaded here. A refused request is logged with its reason: a parser
 * that asks for what its stanza never allows has been taken over, or has a bug. A parser that
 * dies is started again (grants stay: the broker holds them); the broker dying takes the parser
 * with it (the pipe closes). OpenSSH's privilege separation is the model.
 */
import { isIP } from "node:net";
import { join } from "node:path";
import { EnvironmentError, messageOf } from "../../errors.js";
import { forkParser, type ChildProcess } from "../../exec.js";
import type { Daemon } from "../daemon/daemon.js";
import { GpgRunner } from "../gpg-runner.js";
import { LogBudget } from "../log-limit.js";
import { REFUSAL_LEVEL, Refusal } from "../refusals.js";
import type { Logger } from "../log.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { daemonExecArgv } from "../node-flags.js";
import type { ReplayView } from "./protocol.js";
import { openDescriptors } from "./inherited-fds.js";
import { INHERITED_ENV, RUN_AS_ENV } from "./parser-env.js";
import { checkRequest } from "./check-request.js";
import { reopenCommand } from "./reopen-command.js";
import { clean, parserCounts, parserLogLine } from "./parser-lines.js";
import { toWire } from "./wire-config.js";
import type { Privsep } from "./run-as.js";

/** What the parser says, untrusted: it may have been taken over since it said it was ready. */
interface ParserSaid {
  t?: unknown;
  message?: unknown;
  listening?: unknown;
  noNewPrivs?: unknown;
}

export interface BrokerLinkDeps {
  nowSecs: () => number;
  logger: Logger;
  metrics: DaemonMetrics;
  onLimit: () => void;
}

/** Text from the parser for a log line: one line, 200 characters at most. */
const printable = (v: unknown): string => clean(String(v), 200);

/** Seconds before a dead parser is started again: doubling from 1 to 30, reset by 60 s of life. */
const FIRST_DELAY = 1;
const MAX_DELAY = 30;
const STABLE_MS = 60_000;
/** A parser that neither says it is ready nor why not within this is ended. */
const START_TIMEOUT_MS = 30_000;

export class BrokerLink {
  private child: ChildProcess | null = null;
  private stopping = false;
  private delay = FIRST_DELAY;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  /** A parser was ready once: a later one that fails is retried, not reported as a start error. */
  private served = false;
  private lastReplay: ReplayView = { forgottenBefore: -1, full: false };
  private readonly lineBudget = new LogBudget(400, 2000);
  private readonly gpg: GpgRunner;

  constructor(
    private readonly daemon: Daemon,
    private readonly privsep: Privsep,
    private readonly deps: BrokerLinkDeps,
  ) {
    this.gpg = new GpgRunner(daemon.config.gpg);
  }

  /** Resolves once the parser listens with its privileges dropped; rejects with its reason. */
  start(): Promise<void> {
    const entry = join(__dirname, __filename.endsWith(".ts") ? "parser-main.ts" : "parser-main.js");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      [RUN_AS_ENV]: `${this.privsep.uid}:${this.privsep.gid}`,
    };
    // Only the broker speaks to systemd.
    delete env.NOTIFY_SOCKET;
    env[INHERITED_ENV] = openDescriptors();
    const child = forkParser(
      entry,
      daemonExecArgv(process.execArgv, process.env.NODE_OPTIONS),
      env,
    );
    this.child = child;
    this.startedAt = Date.now();
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
      }, START_TIMEOUT_MS);
      let fatal: string | null = null;
      child.on("message", (said: unknown) => {
        // Anything but an object is dropped: a taken-over parser must not crash the broker.
        if (typeof said !== "object" || said === null) return;
        const m = said as ParserSaid;
        if (m.t === "ready" && !ready) {
          ready = true;
          this.served = true;
          clearTimeout(timer);
          this.ready(child, Array.isArray(m.listening) ? m.listening : [], m.noNewPrivs);
          resolve();
        } else if (m.t === "fatal") fatal = printable(m.message);
        // Before it is ready only its log lines count (a start-up fallback it reports).
        else if (ready || m.t === "log") this.onMessage(child, m);
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        this.endGroup(child);
        const how =
          fatal ?? (signal !== null ? `killed by ${signal}` : `exit status ${String(code)}`);
        if (!ready) reject(new EnvironmentError(`packet parser: ${how}`));
        if (ready || this.served) this.exited(child, how);
      });
      this.sendConfig(child);
    });
  }

  private ready(child: ChildProcess, listening: readonly unknown[], nnp: unknown): void {
    this.daemon.parserListening = true;
    for (const l of listening)
      this.deps.logger.event("info", "listening", {}, `Listening: ${printable(l)}`);
    this.deps.logger.event(
      "info",
      "parser_started",
      {},
      `Packet parser: pid ${String(child.pid)} as ${this.privsep.user} (uid ${this.privsep.uid}, gid ${this.privsep.gid}), no capabilities${nnp === true ? ", no new privileges" : ""}`,
    );
    if (nnp !== true)
      this.deps.logger.log(
        "warning",
        `Packet parser: no_new_privs not set (${printable(nnp)}); a setuid program it ran could gain privileges`,
      );
  }

  /** The parser's share of the configuration in force, with the replay cache's state. */
  private sendConfig(child: ChildProcess): void {
    const cfg = this.daemon.config;
    child.send({
      t: "config",
      cfg: toWire(cfg, this.daemon.pipelineSettings()),
      replay: this.replayView(),
      wants: (["err", "warning", "notice", "info", "debug"] as const).filter((l) =>
        this.deps.logger.wants(l),
      ),
    });
  }

  private replayView(): ReplayView {
    const r = this.daemon.replayState;
    return { forgottenBefore: r.forgottenBefore(), full: r.isFull() };
  }

  /** SIGHUP: the daemon has the new configuration; the parser gets its share. */
  reload(): void {
    if (this.child?.connected === true) this.sendConfig(this.child);
  }

  private onMessage(child: ChildProcess, m: { t?: unknown }): void {
    if (m.t === "log") {
      const line = parserLogLine(m);
      if (line !== null && this.lineBudget.take().ok)
        this.deps.logger.event(line.level, line.event, line.fields, line.text);
    } else if (m.t === "counts") parserCounts(m, this.deps.metrics);
    else if (m.t === "limit") this.deps.onLimit();
    else if (m.t === "command")
      this.command(child, m).catch((e: unknown) => {
        this.refused(child, m, `malformed command request (${clean(messageOf(e), 200)})`);
      });
    else this.act(child, m);
  }

  /** A grant, cycle or burn: checked, acted on, and the parser told if the replay state moved. */
  private act(child: ChildProcess, m: unknown): void {
    const now = performance.now();
    // The parser's time in the grant histogram, believed up to a second.
    const at = (m as { at?: unknown }).at;
    const inParser =
      typeof at === "number" && Number.isFinite(at) ? performance.timeOrigin + now - at : 0;
    const arrived = now - Math.min(1000, Math.max(0, inParser));
    const checked = checkRequest(m, {
      cfg: this.daemon.config,
      settings: this.daemon.pipelineSettings(),
      nowSecs: this.deps.nowSecs(),
      replay: this.daemon.replayState,
    });
    if (!checked.ok) {
      if (checked.replay === true) this.replayed(m);
      else this.refused(child, m, checked.why);
      return;
    }
    const meta = (m as { meta: Parameters<Daemon["settleChecked"]>[1] }).meta;
    void this.daemon.settleChecked(checked.decision, meta, arrived).then(() => {
      this.pushReplay(child);
    });
  }

  private async command(child: ChildProcess, m: unknown): Promise<void> {
    const r = await reopenCommand(m, {
      cfg: this.daemon.config,
      settings: this.daemon.pipelineSettings(),
      nowSecs: this.deps.nowSecs(),
      isSeen: this.daemon.replayState.isSeen,
      gpg: this.gpg.open,
    });
    if (!r.ok) this.refused(child, m, r.why);
    else await this.daemon.settleChecked(r.decision, r.meta, performance.now());
  }

  private refused(child: ChildProcess, m: unknown, why: string): void {
    const t = (m as { t?: unknown } | null)?.t;
    const src = (m as { meta?: { srcIp?: unknown } } | null)?.meta?.srcIp;
    this.deps.logger.event(
      "warning",
      "request_refused",
      { reason: why, ...(typeof src === "string" && isIP(src) !== 0 ? { src } : {}) },
      `Refused a request (${typeof t === "string" && /^[a-z_]{1,20}$/.test(t) ? t : "malformed"}) from the packet parser (pid ${String(child.pid)}): ${why}`,
    );
  }

  /**
   * A replay of a packet granted before this parser started (its memory of digests is its own):
   * C's line, as a replay caught in the parser gets.
   */
  private replayed(m: unknown): void {
    const meta = (m as { meta: { srcIp: string; dstIp: string } }).meta;
    this.deps.metrics.refused(Refusal.Replay);
    this.deps.logger.event(
      REFUSAL_LEVEL[Refusal.Replay],
      "spa_rejected",
      { src: meta.srcIp, reason: Refusal.Replay },
      `Replay detected from source IP: ${meta.srcIp}, destination IP: ${meta.dstIp}`,
    );
  }

  private pushReplay(child: ChildProcess): void {
    const now = this.replayView();
    if (
      now.forgottenBefore === this.lastReplay.forgottenBefore &&
      now.full === this.lastReplay.full
    )
      return;
    this.lastReplay = now;
    if (child.connected) child.send({ t: "replay", replay: now });
  }

  /** What the parser started (tcpdump, gpg) ends with it: its process group is ours. */
  private endGroup(child: ChildProcess): void {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Nothing left in the group.
    }
  }

  private exited(child: ChildProcess, how: string): void {
    if (this.child === child) this.child = null;
    this.daemon.parserListening = false;
    if (this.stopping) return;
    if (Date.now() - this.startedAt > STABLE_MS) this.delay = FIRST_DELAY;
    this.deps.logger.event(
      "err",
      "parser_exited",
      { reason: how },
      `Packet parser (pid ${String(child.pid)}) ended: ${how}; starting it again in ${this.delay} s (live grants stay)`,
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      // A failure is logged by the exit handler, which tries again later.
      this.start().catch(() => undefined);
    }, this.delay * 1000);
    this.delay = Math.min(this.delay * 2, MAX_DELAY);
  }

  /** Asked to stop, then ended after 5 s; requests it sent before are acted on first. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => {
      child.once("exit", () => {
        resolve();
      });
    });
    if (child.connected) child.send({ t: "stop" });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
    }, 5000);
    await gone;
    clearTimeout(timer);
  }
}
