/**
 * The running server: listeners -> pipeline -> replay guard -> grants (firewall) or actions
 * (commands). This module wires the parts and owns start, stop and reload; each part does its
 * own job. The receive path is synchronous up to the decision. An accepted packet's replay digest
 * is written before its grant (and synced before it too with DIGEST_SYNC_BEFORE_GRANT); the waits
 * on the disk sync, gpg and the firewall never block receiving.
 */
import { join } from "node:path";
import type { GpgEngine } from "../../spa/index.js";
import { Actions } from "../actions/actions.js";
import type { DaemonConfig } from "../daemon-config.js";
import { GrantLifecycle } from "../grants/lifecycle.js";
import type { EventFields, EventLog, Level, Logger } from "../log.js";
import type {
  CommandDecision,
  CycleDecision,
  Granted,
  PipelineSettings,
  Settled,
} from "../pipeline/types.js";
import type { ReplayMeta } from "../replay/replay-cache.js";
import { pipelineSettingsOf } from "./pipeline-settings.js";
import { ReplayGuard, replayMeta } from "./replay-guard.js";
import { Admission } from "./admission.js";
import { STATUS_FILE_NAME, StatusFile, statusGrantOf, type StatusGrant } from "./status-file.js";
import { messageOf } from "../../errors.js";
import { Receiver } from "./receiver.js";
import type { QueueRule } from "../firewall/nfq-rule.js";
import { NO_METRICS, type DaemonMetrics } from "../metrics/daemon-metrics.js";
import { RedisStore, type ClaimedDigests } from "../replay/redis-store.js";

export type { StatusGrant };

export interface DaemonDeps {
  nowSecs: () => number;
  /** Milliseconds, for the status file's throttle. */
  nowMs: () => number;
  logger: Logger;
  /** Called when -C's packet limit is reached. */
  onLimit: () => void;
  /** The engine for a stanza's gpg and keyring; the gpg binary by default. */
  gpgEngine?: (exe: string, homeDir: string) => GpgEngine;
  /** What is counted (METRICS_LISTEN); nothing by default. */
  metrics?: DaemonMetrics;
  /**
   * False in the privilege-separated broker: packets come from the parser process as requests
   * (privsep/), checked and then handed to settleChecked(). True (the default): listen here.
   */
  receive?: boolean;
}

/** /healthz: the listeners are up and the firewall backend started (or -t needs none). */
export interface DaemonHealth {
  ok: boolean;
  parts: { listeners: boolean; firewall: boolean };
}

export class Daemon {
  /** Null in the privilege-separated broker: the parser process receives. */
  private readonly receiver: Receiver | null;
  /** Set by the privsep broker: its parser process is up and listening (/healthz). */
  parserListening = false;
  /** Null in --test mode: no firewall is touched. */
  private grants: GrantLifecycle | null = null;
  /** The backend's name, for the grants metric. */
  private backend = "none";
  private readonly metrics: DaemonMetrics;
  /** Grant numbers (attribution, --status). */
  private grantIds = 0;
  private readonly admission: Admission;
  private readonly replay: ReplayGuard;
  /** REPLAY_STORE redis: the claim shared with other gateways, and the grant journal. */
  private store: RedisStore | null = null;
  private readonly actions: Actions;
  private readonly status: StatusFile;
  private readonly inFlight = new Set<Promise<void>>();
  /** ENABLE_NFQ_CAPTURE: the queue rule, once installed. */
  private queueRule: QueueRule | null = null;

  constructor(
    private cfg: DaemonConfig,
    private readonly deps: DaemonDeps,
  ) {
    const log = (line: string, level: Level = "info"): void => {
      this.log(line, level);
    };
    this.metrics = deps.metrics ?? NO_METRICS;
    this.replay = new ReplayGuard({ nowSecs: deps.nowSecs, log });
    this.actions = new Actions(join(cfg.runDir, "cmd-cycle-pending.json"), {
      nowSecs: deps.nowSecs,
      log,
      config: () => this.cfg,
    });
    this.status = new StatusFile({
      path: () => this.statusFile,
      nowSecs: deps.nowSecs,
      nowMs: deps.nowMs,
      grants: () => this.liveGrants(),
    });
    this.admission = new Admission({
      nowSecs: deps.nowSecs,
      logger: deps.logger,
      liveGrants: () => this.grants?.list() ?? [],
      changed: () => {
        this.status.changed();
      },
    });
    this.receiver =
      deps.receive === false
        ? null
        : new Receiver(cfg, pipelineSettingsOf(cfg, this.replay), {
            nowSecs: deps.nowSecs,
            logger: deps.logger,
            metrics: this.metrics,
            isSeen: this.replay.isSeen,
            holdWhile: (digest, decided) => this.replay.holdWhile(digest, decided),
            settle: (decision, d, arrived) => {
              void this.settle(decision, replayMeta(d), arrived);
            },
            onLimit: deps.onLimit,
            ...(deps.gpgEngine ? { gpgEngine: deps.gpgEngine } : {}),
          });
  }

  private log(line: string, level: Level = "info"): void {
    this.deps.logger.log(level, line);
  }

  private event(
    level: Level,
    event: Parameters<EventLog>[1],
    fields: EventFields,
    text: string,
  ): void {
    this.deps.logger.event(level, event, fields, text);
  }

  get statusFile(): string {
    return join(this.cfg.runDir, STATUS_FILE_NAME);
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    this.replay.open(cfg);
    if (cfg.redis !== null)
      this.store = await RedisStore.open(cfg.redis, { ...this.deps, metrics: this.metrics });
    if (!cfg.testMode) {
      const fw = cfg.makeFirewall();
      this.backend = fw.name;
      this.grants = new GrantLifecycle(fw, {
        nowSecs: this.deps.nowSecs,
        log: (line, level = "info") => {
          this.log(line, level);
        },
        event: this.deps.logger.event,
        onEnded: (gs) => {
          void this.admission.ended(gs);
          this.store?.ended(gs);
        },
      });
      await this.grants.start(cfg);
      this.receiver?.reconfigure(cfg, pipelineSettingsOf(cfg, this.replay, this.grants.noNat));
      await this.admission.start(fw.name, cfg);
      if (cfg.nfq !== null) await this.installQueueRule(cfg.makeQueueRule(cfg.nfq.rule));
    } else {
      this.log("--test mode enabled: no firewall changes will be made");
      if (cfg.nfq !== null)
        this.log(
          `--test mode: no NFQUEUE rule is installed; only what the firewall already queues to queue ${cfg.nfq.queue} is read`,
          "warning",
        );
    }
    if (this.receiver !== null) {
      await this.receiver.listen();
      for (const l of this.receiver.descriptions)
        this.event("info", "listening", {}, `Listening: ${l}`);
    }
    const pending = this.actions.load();
    if (pending > 0) this.log(`Command cycles: ${pending} pending close command(s) rescheduled`);
    this.status.write();
  }

  /**
   * ENABLE_NFQ_CAPTURE: the rule that queues SPA datagrams, by this (root) process; the reader
   * (here or in the parser) binds the queue after. Kept so that stop() removes it, even when it
   * was installed only in part.
   */
  private async installQueueRule(rule: QueueRule): Promise<void> {
    this.queueRule = rule;
    await rule.install();
    this.log(`Installed ${rule.description}`);
  }

  /** What processSpa is given: the configuration's settings, NAT off where the firewall has none. */
  pipelineSettings(): PipelineSettings {
    return pipelineSettingsOf(this.cfg, this.replay, this.grants?.noNat ?? null);
  }

  /** The configuration in force (the privsep broker checks requests against it). */
  get config(): DaemonConfig {
    return this.cfg;
  }

  /** SIGHUP: new stanzas and settings; live grants and the firewall stay as they are. */
  reload(cfg: DaemonConfig): void {
    this.cfg = { ...cfg, makeFirewall: this.cfg.makeFirewall };
    this.replay.reconfigure(cfg);
    this.receiver?.reconfigure(cfg, this.pipelineSettings());
    this.event(
      "info",
      "reload",
      {},
      `Reloaded configuration: ${cfg.stanzas.length} access stanza(s)`,
    );
  }

  /**
   * The privsep broker's way in: a decision the parser asked for, already checked against this
   * configuration (privsep/check-request.ts). Resolves once it is acted on.
   */
  settleChecked(decision: Settled, meta: ReplayMeta, arrived: number): Promise<void> {
    return this.settle(decision, meta, arrived);
  }

  /** The replay cache's view, for the broker's own replay check. */
  get replayState(): ReplayGuard {
    return this.replay;
  }

  /**
   * Act on an authentic decision: burn the digest of a refused packet, grant, or run commands.
   * Tracked, so a stop waits for it.
   */
  private settle(decision: Settled, meta: ReplayMeta, arrived: number): Promise<void> {
    const p =
      decision.kind === "refuse"
        ? this.burn(decision, meta)
        : decision.kind === "grant"
          ? this.grant(decision, meta, arrived)
          : this.runDecision(decision, meta);
    this.track(p);
    return p;
  }

  private async burn(decision: Settled, meta: ReplayMeta): Promise<void> {
    if (!this.replay.enabled) return;
    try {
      await this.replay.remember(decision, meta);
    } catch (e) {
      this.log(`Digest cache write failed: ${messageOf(e)}`, "err");
    }
  }

  private async grant(g: Granted, meta: ReplayMeta, arrived: number): Promise<void> {
    try {
      // In the file before the port opens: a crash cannot make the same packet valid again.
      if (!(await this.claim(g, meta)) || this.grants === null) return;
      const grants = g.grants.map((x) => ({ ...x, id: ++this.grantIds, spaSource: meta.srcIp }));
      if (await this.grants.open({ ...g, grants }, meta.srcIp)) {
        this.metrics.granted(this.backend, g.grants.length, (performance.now() - arrived) / 1000);
        const hmacKey = this.cfg.stanzas[g.stanza - 1]?.hmacKey ?? null;
        this.admission.granted(grants, hmacKey, g.digest);
        this.store?.granted(grants, meta.srcIp);
        this.status.changed();
      }
    } catch (e) {
      this.metrics.firewallError();
      this.event(
        "err",
        "grant_failed",
        { user: g.user, stanza: g.stanza, src: meta.srcIp, reason: messageOf(e) },
        `[${meta.srcIp}] (stanza #${g.stanza}) grant failed: ${messageOf(e)}`,
      );
    }
  }

  /** Command messages and cycles: the digest is in the file first, as for grants. */
  private async runDecision(d: CommandDecision | CycleDecision, meta: ReplayMeta): Promise<void> {
    try {
      if (await this.claim(d, meta)) await this.actions.run(d);
    } catch (e) {
      this.log(`[${meta.srcIp}] (stanza #${d.stanza}) command failed: ${messageOf(e)}`, "err");
    }
  }

  /**
   * The shared claim (REPLAY_STORE redis) decides; the local cache keeps the digest either way.
   * The local cache is told first: it marks the digest seen at once, so a second copy arriving
   * while Redis answers is a replay here too, and a packet refused for want of Redis stays spent.
   */
  private async claim(d: ClaimedDigests, meta: ReplayMeta): Promise<boolean> {
    const window = this.cfg.packetAging ? this.cfg.maxPacketAge : null;
    const local = this.replay.remember(d, meta);
    const [ok] = await Promise.all([this.store?.claim(d, meta, window) ?? true, local]);
    return ok;
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** --pcap-file: hand every SPA payload of the file to the pipeline and wait until all are done. */
  async processPcapFile(path: string): Promise<number> {
    const n = this.receiver?.readFile(path) ?? 0;
    await this.receiver?.drain();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.log(`Processed ${n} SPA-sized packet(s) from ${path}`);
    return n;
  }

  liveGrants(): StatusGrant[] {
    return (this.grants?.list() ?? []).map((g) =>
      statusGrantOf(g, this.admission.connectionsOf(g)),
    );
  }

  /** For /healthz. */
  health(): DaemonHealth {
    const parts = {
      listeners: this.receiver?.listening ?? this.parserListening,
      firewall: this.grants !== null || this.cfg.testMode,
    };
    return { ok: parts.listeners && parts.firewall, parts };
  }

  /** For the replay cache gauge. */
  get replayEntries(): number {
    return this.replay.entries;
  }

  /** For `fwknopd --status`: written atomically (throttled after grants, see StatusFile). */
  writeStatus(): void {
    this.status.write();
  }

  async stop(): Promise<void> {
    await this.receiver?.close();
    await this.receiver?.drain();
    if (this.queueRule !== null) {
      const rule = this.queueRule;
      this.queueRule = null;
      await rule.remove().catch((e: unknown) => {
        this.log(`Removing the NFQUEUE rule failed: ${messageOf(e)}`, "err");
      });
    }
    // Packets already taken (a gpg run, a grant under way) finish before the firewall closes.
    await Promise.allSettled([...this.inFlight]);
    this.status.stop();
    this.actions.stop();
    await this.admission.close();
    await this.grants?.stop(this.cfg.flushAtExit);
    await this.replay.close();
    await this.store?.close();
  }
}
