/**
 * The running server: listeners -> pipeline -> replay cache -> grant table -> firewall.
 * The receive path is synchronous up to the decision. An accepted packet's replay digest is
 * written before its grant (and synced before it too with DIGEST_SYNC_BEFORE_GRANT); the waits on
 * the disk sync, gpg and the firewall never block receiving.
 */
import { lookup } from "node:dns/promises";
import { writeFileSync, renameSync } from "node:fs";
import { isIPv4 } from "node:net";
import { join } from "node:path";
import type { DaemonConfig } from "./daemon-config.js";
import type { FirewallBackend, Grant } from "./firewall/types.js";
import { GrantTable } from "./grants.js";
import { unwrapHttpSpa } from "./listen/http.js";
import { listenPcap, readPcapFile } from "./listen/pcap.js";
import { listenTcp } from "./listen/tcp.js";
import type { Datagram, Listener } from "./listen/types.js";
import { listenUdp } from "./listen/udp.js";
import { listenUdpBatch } from "./listen/udp-batch.js";
import type { Logger } from "./log.js";
import { LogBudget } from "./log-limit.js";
import type { GpgEngine } from "../spa/index.js";
import {
  MAX_ARGS,
  resolveRunAs,
  runCommand,
  splitArgs,
  substitute,
  type CycleVars,
} from "./commands.js";
import { PendingCycles } from "./pending-cycles.js";
import { processSpa } from "./pipeline.js";
import type {
  CommandDecision,
  CycleDecision,
  Granted,
  PipelineSettings,
  Settled,
} from "./pipeline/types.js";
import { GpgRunner } from "./gpg-runner.js";
import { ReplayCache, type ReplayMeta } from "./replay/replay-cache.js";

export interface DaemonDeps {
  nowSecs: () => number;
  logger: Logger;
  /** Called when -C's packet limit is reached. */
  onLimit: () => void;
  /** The engine for a stanza's gpg and keyring; the gpg binary by default. */
  gpgEngine?: (exe: string, homeDir: string) => GpgEngine;
}

export interface StatusGrant {
  user: string;
  address: string;
  proto: string;
  port: number;
  stanza: number;
  expiresAt: number;
}

const STATUS_MIN_INTERVAL_MS = 100;

export class Daemon {
  private listeners: Listener[] = [];
  private fw: FirewallBackend | null = null;
  private grants: GrantTable | null = null;
  private replay: ReplayCache | null = null;
  private packets = 0;
  private pruneTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  /** What processSpa is given for every packet, made once per configuration, not per packet. */
  private pipelineSettings: PipelineSettings;
  /** The firewall's reason it cannot do NAT (FirewallBackend.noNat), once it is known. */
  private noNat: string | null = null;
  private readonly isSeen = (digest: string): boolean =>
    this.replay?.has(digest) === true || this.deciding.has(digest);
  private readonly logPacketLine = (line: string): void => {
    this.packetLog(line, "info");
  };
  /** 200 per-packet lines a second, bursts of 1,000. */
  private readonly packetLogBudget = new LogBudget(200, 1000);
  private statusWrittenMs = 0;
  private readonly cycles: PendingCycles;
  /** Wire digests of packets whose GPG stanzas are still being tried. */
  private readonly deciding = new Set<string>();
  private readonly gpg: GpgRunner;

  constructor(
    private cfg: DaemonConfig,
    private readonly deps: DaemonDeps,
  ) {
    this.pipelineSettings = pipelineSettingsOf(cfg);
    this.cycles = new PendingCycles(join(cfg.runDir, "cmd-cycle-pending.json"), deps.nowSecs, (p) =>
      this.runArgv("CMD_CYCLE_CLOSE", p.stanza, p.user, p.argv),
    );
    this.gpg = new GpgRunner({ ...cfg.gpg, ...(deps.gpgEngine ? { engine: deps.gpgEngine } : {}) });
  }

  /** A line about one packet: subject to the flood budget (see LogBudget). */
  private packetLog(line: string, level: Parameters<Logger["log"]>[0]): void {
    if (level === "debug") {
      this.log(line, level);
      return;
    }
    const t = this.packetLogBudget.take();
    if (t.note !== null) this.log(t.note, "warning");
    if (t.ok) this.log(line, level);
  }

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
        syncBeforeGrant: cfg.digestSyncBeforeGrant,
        onSyncError: (e) => {
          this.log(`Digest cache sync failed: ${e.message}`, "err");
        },
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
      this.log(
        `Firewall backend: ${fw.name}${fw.detail !== undefined ? `, ${fw.detail}` : ""}${cfg.firewallReason !== null ? ` (${cfg.firewallReason})` : ""}${cfg.flushAtInit ? " (flushed at init)" : ""}`,
      );
      if (fw.noNat !== undefined) {
        this.noNat = fw.noNat;
        this.pipelineSettings = pipelineSettingsOf(cfg, this.noNat);
        if (cfg.nat.forwarding || cfg.nat.localNat)
          this.log(
            `NAT requests cannot be honoured: ${fw.noNat}; SPA packets asking for NAT access will be refused`,
            "warning",
          );
      }
    } else {
      this.log("--test mode enabled: no firewall changes will be made");
    }

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
    for (const l of this.listeners) this.log(`Listening: ${l.description}`);
    const pending = this.cycles.load();
    if (pending > 0) this.log(`Command cycles: ${pending} pending close command(s) rescheduled`);
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
    this.pipelineSettings = pipelineSettingsOf(cfg, this.noNat);
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
      this.pipelineSettings,
      this.isSeen,
      now,
      this.logPacketLine,
      this.gpg.open,
    );
    if (decision.kind === "pending") {
      // A GPG stanza: gpg runs while we keep receiving. Until it is decided, the same packet
      // again counts as a replay.
      const digest = decision.digest;
      this.deciding.add(digest);
      this.track(
        decision.decision
          .then((settled) => {
            this.settle(settled, d);
          })
          .finally(() => this.deciding.delete(digest)),
      );
    } else this.settle(decision, d);
    this.countPacket();
  }

  /**
   * Act on a decision: burn the digest of a refused authentic packet, grant, or run commands.
   * The replay record is built only for those (junk, the common case, needs none).
   */
  private settle(decision: Settled, d: Datagram): void {
    if (decision.kind === "refuse") {
      // Stanza-level refusals were logged as each stanza was tried; junk that never reached a
      // stanza is logged only at debug level (a flood must not flood the log).
      if (decision.stanza === null)
        this.packetLog(
          decision.message,
          decision.reason === "no_source_match" || decision.reason === "replay" ? "info" : "debug",
        );
      if (decision.digest !== null && this.replay !== null)
        this.remember(decision, replayMeta(d)).catch((e: unknown) => {
          this.log(`Digest cache write failed: ${(e as Error).message}`, "err");
        });
    } else if (decision.kind === "grant") {
      this.track(this.grant(decision, replayMeta(d)));
    } else {
      this.track(this.runDecision(decision, replayMeta(d)));
    }
  }

  /** The replay digest, and for GPG the digest of the decrypted message (pipeline.ts:afterGpg). */
  private async remember(
    d: { digest: string | null; innerDigest: string | null },
    meta: ReplayMeta,
  ): Promise<void> {
    if (this.replay === null || d.digest === null) return;
    const both = [this.replay.add(d.digest, meta)];
    if (d.innerDigest !== null) both.push(this.replay.add(d.innerDigest, meta));
    await Promise.all(both);
  }

  private async grant(g: Granted, meta: ReplayMeta): Promise<void> {
    try {
      // In the file before the port opens: a crash cannot make the same packet valid again.
      await this.remember(g, meta);
      if (this.grants === null) return;
      const grants = await this.resolveNat(g.grants, meta.srcIp);
      if (grants === null) return;
      await this.grants.add(grants);
      for (const x of grants)
        this.log(
          `Added access for user '${g.user}' (stanza #${g.stanza}) from ${x.address} to ${x.proto}/${x.port}${describeNat(x)} via ${this.fw?.name ?? "?"}, expires at ${x.expiresAt} (${g.timeout} s)`,
        );
      this.statusChanged();
    } catch (e) {
      this.log(
        `[${meta.srcIp}] (stanza #${g.stanza}) grant failed: ${(e as Error).message}`,
        "err",
      );
    }
  }

  /**
   * NAT fields may name a host (ENABLE_NAT_DNS): resolve it to IPv4 here, after authentication
   * and off the receive path, as server/fw_util_iptables.c:process_spa_request does with
   * ipv4_resolve. Null (logged) when it does not resolve.
   */
  private async resolveNat(grants: Grant[], srcIp: string): Promise<Grant[] | null> {
    const out: Grant[] = [];
    for (const g of grants) {
      if (g.nat === undefined || isIPv4(g.nat.toAddress)) {
        out.push(g);
        continue;
      }
      try {
        const { address } = await lookup(g.nat.toAddress, { family: 4 });
        this.log(`[${srcIp}] Resolved NAT IP in SPA message: ${g.nat.toAddress} -> ${address}`);
        out.push({ ...g, nat: { ...g.nat, toAddress: address } });
      } catch {
        this.log(`[${srcIp}] Unable to resolve Hostname in NAT SPA message: ${g.nat.toAddress}`);
        return null;
      }
    }
    return out;
  }

  /** Command messages and cycles: the digest is in the file first, as for grants. */
  private async runDecision(d: CommandDecision | CycleDecision, meta: ReplayMeta): Promise<void> {
    try {
      await this.remember(d, meta);
      if (d.kind === "command") {
        await this.runText("SPA command", d.stanza, d.user, d.command, null);
        return;
      }
      await this.runText("CMD_CYCLE_OPEN", d.stanza, d.user, d.open, d.vars);
      if (d.close !== null) {
        const argv = this.argvFor(d.stanza, d.close, d.vars);
        if (argv !== null)
          this.cycles.schedule({
            at: this.deps.nowSecs() + d.closeAfter,
            stanza: d.stanza,
            user: d.user,
            argv,
          });
      }
    } catch (e) {
      this.log(
        `[${meta.srcIp}] (stanza #${d.stanza}) command failed: ${(e as Error).message}`,
        "err",
      );
    }
  }

  /** Split, substitute, and wrap in sudo as the stanza says; null (logged) when it cannot be run. */
  private argvFor(stanzaNo: number, text: string, vars: CycleVars | null): string[] | null {
    const s = this.cfg.stanzas.find((x) => x.number === stanzaNo);
    const split = splitArgs(text);
    if (s === undefined || split === null) {
      this.log(
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
    return [this.cfg.commands.sudoExe, ...who, ...argv];
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
    const s = this.cfg.stanzas.find((x) => x.number === stanzaNo);
    const as =
      s === undefined || s.enableCmdSudoExec ? null : resolveRunAs(s.cmdExecUser, s.cmdExecGroup);
    if (typeof as === "string") {
      this.log(
        `(stanza #${stanzaNo}) ${what} not run: ${as === "unknown-user" ? "CMD_EXEC_USER" : "CMD_EXEC_GROUP"} does not exist`,
        "err",
      );
      return;
    }
    const r = await runCommand(argv, { timeoutMs: this.cfg.commands.timeoutMs, runAs: as });
    this.log(
      `${what} for user '${user}' (stanza #${stanzaNo}): ${argv.join(" ")} -> ${r.timedOut ? `killed after ${this.cfg.commands.timeoutMs / 1000} s` : r.code !== null ? `exit status ${r.code}` : `signal ${r.signal ?? "?"}`}${r.stderr !== "" && r.code !== 0 ? ` (${r.stderr.trim()})` : ""}`,
      r.code === 0 ? "info" : "warning",
    );
  }

  private readonly inFlight = new Set<Promise<void>>();

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

  /**
   * The status file after a change: at once when it was last written over 100 ms ago, else once
   * when those 100 ms are up (so at most ten writes a second). Rewriting every live grant on every
   * grant made a burst of grants cost quadratic time on the receive loop (bench/grants.ts).
   */
  private statusChanged(): void {
    if (this.statusTimer !== null) return;
    const wait = this.statusWrittenMs + STATUS_MIN_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.writeStatus();
      return;
    }
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      this.writeStatus();
    }, wait);
    this.statusTimer.unref();
  }

  /** For `fwknopd --status`: written atomically (throttled, see statusChanged). */
  writeStatus(): void {
    this.statusWrittenMs = Date.now();
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
    // Packets already taken (a gpg run, a grant under way) finish before the firewall closes.
    await Promise.allSettled([...this.inFlight]);
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    if (this.statusTimer !== null) clearTimeout(this.statusTimer);
    this.grants?.stop();
    this.cycles.stop();
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

/** " (DNAT to 10.0.0.5:22, SNAT)" for the grant log line; empty for plain access. */
function describeNat(g: Grant): string {
  const n = g.nat;
  if (n === undefined) return "";
  const parts = [
    n.dnat
      ? `${n.kind === "local" ? "local NAT" : "DNAT"} to ${n.toAddress}${n.forwardAll ? "" : `:${n.toPort}`}`
      : `forward to ${n.toAddress}`,
  ];
  if (n.forwardAll) parts.push("all ports");
  if (n.snat !== null) parts.push(n.snat === "masquerade" ? "MASQUERADE" : `SNAT to ${n.snat.to}`);
  return ` (${parts.join(", ")})`;
}

/** `noNat`: the firewall cannot do NAT, so NAT requests are refused whatever the config says. */
function pipelineSettingsOf(cfg: DaemonConfig, noNat: string | null = null): PipelineSettings {
  return {
    packetAging: cfg.packetAging,
    maxPacketAge: cfg.maxPacketAge,
    testMode: cfg.testMode,
    nat:
      noNat === null
        ? cfg.nat
        : { ...cfg.nat, forwarding: false, localNat: false, unsupported: noNat },
  };
}

/** What the replay cache records about a packet's carrier (C's digest.cache columns). */
function replayMeta(d: Datagram): ReplayMeta {
  return {
    proto: d.transport === "udp" ? 17 : d.transport === "tcp" ? 6 : 1,
    srcIp: d.srcIp,
    srcPort: d.srcPort,
    dstIp: d.dstIp,
    dstPort: d.dstPort,
  };
}
