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
import { GpgRunner } from "../gpg-runner.js";
import { GrantLifecycle } from "../grants/lifecycle.js";
import { unwrapHttpSpa } from "../listen/http.js";
import { listenPcap, readPcapFile } from "../listen/pcap.js";
import { listenTcp } from "../listen/tcp.js";
import type { Datagram, Listener } from "../listen/types.js";
import { listenUdp } from "../listen/udp.js";
import { listenUdpBatch } from "../listen/udp-batch.js";
import { LogBudget } from "../log-limit.js";
import type { EventFields, EventLog, Level, Logger } from "../log.js";
import { processSpa } from "../pipeline.js";
import type {
  CommandDecision,
  CycleDecision,
  Granted,
  PacketLogFields,
  PipelineSettings,
  Settled,
} from "../pipeline/types.js";
import { REFUSAL_LEVEL, Refusal } from "../refusals.js";
import type { ReplayMeta } from "../replay/replay-cache.js";
import { pipelineSettingsOf } from "./pipeline-settings.js";
import { ReplayGuard, replayMeta } from "./replay-guard.js";
import { Admission } from "./admission.js";
import { STATUS_FILE_NAME, StatusFile, statusGrantOf, type StatusGrant } from "./status-file.js";
import { messageOf } from "../../errors.js";
import { NO_METRICS, type DaemonMetrics } from "../metrics/daemon-metrics.js";

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
}

/** /healthz: the listeners are up and the firewall backend started (or -t needs none). */
export interface DaemonHealth {
  ok: boolean;
  parts: { listeners: boolean; firewall: boolean };
}

export class Daemon {
  private listeners: Listener[] = [];
  /** Null in --test mode: no firewall is touched. */
  private grants: GrantLifecycle | null = null;
  /** The backend's name, for the grants metric. */
  private backend = "none";
  private readonly metrics: DaemonMetrics;
  /** Grant numbers (attribution, --status). */
  private grantIds = 0;
  private readonly admission: Admission;
  private packets = 0;
  /** What processSpa is given for every packet, made once per configuration, not per packet. */
  private pipelineSettings: PipelineSettings;
  private readonly logPacketLine = (line: string, about: PacketLogFields): void => {
    if (this.packetLineAllowed(about.level))
      this.deps.logger.event(about.level, about.event, packetFields(about), line);
  };
  /** 200 per-packet lines a second, bursts of 1,000. */
  private readonly packetLogBudget = new LogBudget(200, 1000);
  private readonly replay: ReplayGuard;
  private readonly actions: Actions;
  private readonly status: StatusFile;
  private readonly gpg: GpgRunner;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private cfg: DaemonConfig,
    private readonly deps: DaemonDeps,
  ) {
    const log = (line: string, level: Level = "info"): void => {
      this.log(line, level);
    };
    this.metrics = deps.metrics ?? NO_METRICS;
    this.replay = new ReplayGuard({ nowSecs: deps.nowSecs, log });
    this.pipelineSettings = pipelineSettingsOf(cfg, this.replay);
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
    this.gpg = new GpgRunner({ ...cfg.gpg, ...(deps.gpgEngine ? { engine: deps.gpgEngine } : {}) });
  }

  /**
   * May a line about one packet be written: its level is shown, and (above debug) the flood
   * budget allows it (see LogBudget). Asked before the line's fields are built.
   */
  private packetLineAllowed(level: Level): boolean {
    if (!this.deps.logger.wants(level)) return false;
    if (level === "debug") return true;
    const t = this.packetLogBudget.take();
    if (t.note !== null) this.deps.logger.event("warning", "log_suppressed", {}, t.note);
    return t.ok;
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
    if (!cfg.testMode) {
      const fw = cfg.makeFirewall();
      this.backend = fw.name;
      this.grants = new GrantLifecycle(fw, {
        nowSecs: this.deps.nowSecs,
        log: (line, level = "info") => {
          this.log(line, level);
        },
        event: this.deps.logger.event,
        onEnded: (gs) => void this.admission.ended(gs),
      });
      await this.grants.start(cfg);
      this.pipelineSettings = pipelineSettingsOf(cfg, this.replay, this.grants.noNat);
      await this.admission.start(fw.name, cfg);
    } else {
      this.log("--test mode enabled: no firewall changes will be made");
    }
    await this.listen(cfg);
    const pending = this.actions.load();
    if (pending > 0) this.log(`Command cycles: ${pending} pending close command(s) rescheduled`);
    this.status.write();
  }

  private async listen(cfg: DaemonConfig): Promise<void> {
    const onPayload = (d: Datagram): void => {
      this.onPayload(d);
    };
    if (cfg.udp.enabled) {
      const batched = listenUdpBatch(cfg.udp.port, cfg.ipv6, onPayload);
      if (typeof batched === "string") this.log(`UDP: no batched receive, using dgram: ${batched}`);
      this.listeners.push(
        typeof batched === "string" ? await listenUdp(cfg.udp.port, cfg.ipv6, onPayload) : batched,
      );
    }
    if (cfg.tcp.enabled) this.listeners.push(await listenTcp(cfg.tcp.port, cfg.ipv6, onPayload));
    if (cfg.pcap.enabled && cfg.pcapFile === null)
      this.listeners.push(await listenPcap(cfg.pcap, onPayload));
    for (const l of this.listeners)
      this.event("info", "listening", {}, `Listening: ${l.description}`);
  }

  /** SIGHUP: new stanzas and settings; live grants and the firewall stay as they are. */
  reload(cfg: DaemonConfig): void {
    this.cfg = { ...cfg, makeFirewall: this.cfg.makeFirewall };
    this.pipelineSettings = pipelineSettingsOf(cfg, this.replay, this.grants?.noNat ?? null);
    this.replay.reconfigure(cfg);
    this.event(
      "info",
      "reload",
      {},
      `Reloaded configuration: ${cfg.stanzas.length} access stanza(s)`,
    );
  }

  private onPayload(d: Datagram): void {
    const cfg = this.cfg;
    const arrived = performance.now();
    this.metrics.packet();
    let data = d.data;
    if (cfg.http.enabled) {
      const h = unwrapHttpSpa(data, cfg.http.allowAnyUserAgent);
      if (h.kind === "refused") {
        // Junk before any stanza, as the pipeline's: debug (C: a preprocess error), no budget.
        this.metrics.refused("http");
        if (this.packetLineAllowed("debug")) this.log(`[${d.srcIp}] ${h.why}`, "debug");
        return;
      }
      if (h.kind === "spa") data = h.data;
    }
    const decision = processSpa(
      { data, srcIp: d.srcIp, srcPort: d.srcPort, dstIp: d.dstIp, dstPort: d.dstPort },
      cfg.stanzas,
      this.pipelineSettings,
      this.replay.isSeen,
      this.deps.nowSecs(),
      this.logPacketLine,
      this.gpg.open,
    );
    if (decision.kind === "pending") {
      // A GPG stanza: gpg runs while we keep receiving. Until it is decided, the same packet
      // again counts as a replay.
      this.track(
        this.replay.holdWhile(
          decision.digest,
          decision.decision.then((settled) => {
            this.settle(settled, d, arrived);
          }),
        ),
      );
    } else this.settle(decision, d, arrived);
    this.countPacket();
  }

  /**
   * Act on a decision: burn the digest of a refused authentic packet, grant, or run commands.
   * The replay record is built only for those (junk, the common case, needs none).
   */
  private settle(decision: Settled, d: Datagram, arrived: number): void {
    if (decision.kind === "refuse") {
      this.metrics.refused(decision.reason);
      // Stanza-level refusals were logged as each stanza was tried. Of the rest, no stanza for
      // the source and a replay are logged at C's level (warning), within the flood budget;
      // junk that never reached a stanza only at debug level (a flood must not flood the log).
      const level =
        decision.reason === Refusal.NoSourceMatch || decision.reason === Refusal.Replay
          ? REFUSAL_LEVEL[decision.reason]
          : "debug";
      if (decision.stanza === null && this.packetLineAllowed(level))
        this.deps.logger.event(
          level,
          "spa_rejected",
          { src: d.srcIp, reason: decision.reason },
          decision.message,
        );
      if (decision.digest !== null && this.replay.enabled)
        this.replay.remember(decision, replayMeta(d)).catch((e: unknown) => {
          this.log(`Digest cache write failed: ${messageOf(e)}`, "err");
        });
    } else if (decision.kind === "grant") {
      this.track(this.grant(decision, replayMeta(d), arrived));
    } else {
      this.track(this.runDecision(decision, replayMeta(d)));
    }
  }

  private async grant(g: Granted, meta: ReplayMeta, arrived: number): Promise<void> {
    try {
      // In the file before the port opens: a crash cannot make the same packet valid again.
      await this.replay.remember(g, meta);
      if (this.grants === null) return;
      const grants = g.grants.map((x) => ({ ...x, id: ++this.grantIds, spaSource: meta.srcIp }));
      if (await this.grants.open({ ...g, grants }, meta.srcIp)) {
        this.metrics.granted(this.backend, g.grants.length, (performance.now() - arrived) / 1000);
        const hmacKey = this.cfg.stanzas[g.stanza - 1]?.hmacKey ?? null;
        this.admission.granted(grants, hmacKey, g.digest);
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
      await this.replay.remember(d, meta);
      await this.actions.run(d);
    } catch (e) {
      this.log(`[${meta.srcIp}] (stanza #${d.stanza}) command failed: ${messageOf(e)}`, "err");
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** --pcap-file: hand every SPA payload of the file to the pipeline and wait until all are done. */
  async processPcapFile(path: string): Promise<number> {
    const n = readPcapFile(path, (d) => {
      this.onPayload(d);
    });
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.log(`Processed ${n} SPA-sized packet(s) from ${path}`);
    return n;
  }

  private countPacket(): void {
    this.packets++;
    if (this.cfg.packetLimit > 0 && this.packets >= this.cfg.packetLimit) {
      // C: "* Incoming packet count limit of %i reached" at LOG_WARNING.
      this.event(
        "warning",
        "packet_limit",
        {},
        `Incoming packet count limit of ${this.cfg.packetLimit} reached`,
      );
      this.deps.onLimit();
    }
  }

  liveGrants(): StatusGrant[] {
    return (this.grants?.list() ?? []).map((g) =>
      statusGrantOf(g, this.admission.connectionsOf(g)),
    );
  }

  /** For /healthz. */
  health(): DaemonHealth {
    const parts = {
      listeners: this.listeners.length > 0,
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
    for (const l of this.listeners) await l.close();
    this.listeners = [];
    // Packets already taken (a gpg run, a grant under way) finish before the firewall closes.
    await Promise.allSettled([...this.inFlight]);
    this.status.stop();
    this.actions.stop();
    await this.admission.close();
    await this.grants?.stop(this.cfg.flushAtExit);
    await this.replay.close();
  }
}

/** The fields of a packet line that the structured log shows. */
function packetFields(about: PacketLogFields): EventFields {
  return {
    src: about.src,
    ...(about.stanza !== null ? { stanza: about.stanza } : {}),
    ...(about.user !== undefined ? { user: about.user } : {}),
    ...(about.reason !== undefined ? { reason: about.reason } : {}),
  };
}
