/**
 * The running server: listeners -> pipeline -> replay cache -> grant table -> firewall.
 * The receive path is synchronous up to the decision; only accepted packets wait on disk (the
 * replay digest is fsync'd before the grant) and on the firewall, and those waits never block
 * receiving.
 */
import { writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { DaemonConfig } from "./daemon-config.js";
import type { FirewallBackend } from "./firewall/types.js";
import { GrantTable } from "./grants.js";
import { unwrapHttpSpa } from "./listen/http.js";
import { listenTcp } from "./listen/tcp.js";
import type { Datagram, Listener } from "./listen/types.js";
import { listenUdp } from "./listen/udp.js";
import type { Logger } from "./log.js";
import { processSpa, type Granted } from "./pipeline.js";
import { ReplayCache } from "./replay/replay-cache.js";

export interface DaemonDeps {
  nowSecs: () => number;
  logger: Logger;
  /** Called when -C's packet limit is reached. */
  onLimit: () => void;
}

export interface StatusGrant {
  user: string;
  address: string;
  proto: string;
  port: number;
  stanza: number;
  expiresAt: number;
}

export class Daemon {
  private listeners: Listener[] = [];
  private fw: FirewallBackend | null = null;
  private grants: GrantTable | null = null;
  private replay: ReplayCache | null = null;
  private packets = 0;
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(
    private cfg: DaemonConfig,
    private readonly deps: DaemonDeps,
  ) {}

  private log(line: string, level: Parameters<Logger["log"]>[0] = "info"): void {
    this.deps.logger.log(level, line);
  }

  get statusFile(): string {
    return join(this.cfg.runDir, "fwknopd.status.json");
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    if (cfg.replayProtection) {
      this.replay = new ReplayCache({
        path: cfg.digestFile,
        // A packet is refused by age after maxPacketAge either side of now; keep its digest that long.
        retentionSecs: cfg.packetAging ? 2 * cfg.maxPacketAge + 60 : null,
        nowSecs: this.deps.nowSecs,
      });
      const st = this.replay.open();
      this.log(
        `Digest cache ${cfg.digestFile}: ${st.loaded} entries loaded, ${st.expired} expired, ${st.invalid} invalid lines skipped`,
      );
    } else {
      this.log("ENABLE_DIGEST_PERSISTENCE is N: replay detection is off", "warning");
    }

    if (!cfg.testMode) {
      const fw = cfg.makeFirewall();
      this.fw = fw;
      await fw.init(cfg.flushAtInit);
      this.grants = new GrantTable(fw, this.deps.nowSecs, (l) => {
        this.log(l);
      });
      if (!cfg.flushAtInit) await this.reconcile();
      this.log(`Firewall backend: ${fw.name}${cfg.flushAtInit ? " (flushed at init)" : ""}`);
    } else {
      this.log("--test mode enabled: no firewall changes will be made");
    }

    const onPayload = (d: Datagram): void => {
      this.onPayload(d);
    };
    if (cfg.udp.enabled) this.listeners.push(await listenUdp(cfg.udp.port, cfg.ipv6, onPayload));
    if (cfg.tcp.enabled) this.listeners.push(await listenTcp(cfg.tcp.port, cfg.ipv6, onPayload));
    for (const l of this.listeners) this.log(`Listening: ${l.description}`);
    this.pruneTimer = setInterval(() => this.replay?.prune(), 60_000);
    this.pruneTimer.unref();
    this.writeStatus();
  }

  /** Leftovers of an earlier run: expired ones go, live ones are kept and scheduled. */
  private async reconcile(): Promise<void> {
    if (this.fw === null || this.grants === null) return;
    const now = this.deps.nowSecs();
    const found = await this.fw.list(now);
    const expired = found.filter((g) => g.expiresAt <= now);
    const live = found.filter((g) => g.expiresAt > now);
    if (expired.length > 0 && !this.fw.expiresItself) await this.fw.revoke(expired);
    this.grants.adopt(live);
    if (found.length > 0)
      this.log(
        `Reconciled firewall: ${live.length} live grant(s) kept, ${expired.length} expired removed`,
      );
  }

  /** SIGHUP: new stanzas and settings; live grants and the firewall stay as they are. */
  reload(cfg: DaemonConfig): void {
    this.cfg = { ...cfg, makeFirewall: this.cfg.makeFirewall };
    this.log(`Reloaded configuration: ${cfg.stanzas.length} access stanza(s)`);
  }

  private onPayload(d: Datagram): void {
    const cfg = this.cfg;
    let data = d.data;
    if (cfg.http.enabled) {
      const h = unwrapHttpSpa(data, cfg.http.allowAnyUserAgent);
      if (h.kind === "refused") {
        this.log(`[${d.srcIp}] ${h.why}`);
        return;
      }
      if (h.kind === "spa") data = h.data;
    }
    const now = this.deps.nowSecs();
    const decision = processSpa(
      { data, srcIp: d.srcIp, srcPort: d.srcPort, dstIp: d.dstIp, dstPort: d.dstPort },
      cfg.stanzas,
      { packetAging: cfg.packetAging, maxPacketAge: cfg.maxPacketAge, testMode: cfg.testMode },
      (digest) => this.replay?.has(digest) ?? false,
      now,
      (line) => {
        this.log(line);
      },
    );
    const meta = {
      proto: d.transport === "udp" ? 17 : 6,
      srcIp: d.srcIp,
      srcPort: d.srcPort,
      dstIp: d.dstIp,
      dstPort: d.dstPort,
    };
    if (decision.kind === "refuse") {
      // Stanza-level refusals were logged as each stanza was tried; junk that never reached a
      // stanza is logged only at debug level (a flood must not flood the log).
      if (decision.stanza === null)
        this.log(
          decision.message,
          decision.reason === "no_source_match" || decision.reason === "replay" ? "info" : "debug",
        );
      if (decision.digest !== null && this.replay !== null)
        this.replay.add(decision.digest, meta).catch((e: unknown) => {
          this.log(`Digest cache write failed: ${(e as Error).message}`, "err");
        });
    } else {
      void this.grant(decision, meta);
    }
    this.countPacket();
  }

  private async grant(g: Granted, meta: Parameters<ReplayCache["add"]>[1]): Promise<void> {
    try {
      // On disk before the port opens: a crash cannot make the same packet valid again.
      if (this.replay !== null) await this.replay.add(g.digest, meta);
      if (this.grants === null) return;
      await this.grants.add(g.grants);
      for (const x of g.grants)
        this.log(
          `Added access for user '${g.user}' (stanza #${g.stanza}) from ${x.address} to ${x.proto}/${x.port} via ${this.fw?.name ?? "?"}, expires at ${x.expiresAt} (${g.timeout} s)`,
        );
      this.writeStatus();
    } catch (e) {
      this.log(
        `[${meta.srcIp}] (stanza #${g.stanza}) grant failed: ${(e as Error).message}`,
        "err",
      );
    }
  }

  private countPacket(): void {
    this.packets++;
    if (this.cfg.packetLimit > 0 && this.packets >= this.cfg.packetLimit) {
      this.log(`Incoming packet count limit of ${this.cfg.packetLimit} reached`);
      this.deps.onLimit();
    }
  }

  liveGrants(): StatusGrant[] {
    return (this.grants?.list() ?? []).map((g) => ({
      user: g.user,
      address: g.address,
      proto: g.proto,
      port: g.port,
      stanza: g.stanza,
      expiresAt: g.expiresAt,
    }));
  }

  /** For `fwknopd --status`: written atomically on every change. */
  writeStatus(): void {
    const body = JSON.stringify({
      pid: process.pid,
      written: this.deps.nowSecs(),
      grants: this.liveGrants(),
    });
    const tmp = `${this.statusFile}.tmp`;
    try {
      writeFileSync(tmp, body, { mode: 0o600 });
      renameSync(tmp, this.statusFile);
    } catch {
      // status is a convenience; never let it stop the daemon
    }
  }

  async stop(): Promise<void> {
    for (const l of this.listeners) await l.close();
    this.listeners = [];
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    this.grants?.stop();
    if (this.fw !== null) {
      if (this.cfg.flushAtExit) {
        await this.fw.flush();
        this.log("Flushed firewall rules at exit");
      }
      await this.fw.close();
    }
    await this.replay?.drain();
    this.replay?.close();
  }
}
