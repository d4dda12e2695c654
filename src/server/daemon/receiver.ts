/**
 * The receiving half of fwknopd: listeners -> HTTP unwrap -> pipeline -> a decision, with the
 * per-packet log lines and counters. It holds no firewall and no file: an authentic decision
 * (a grant, a command, a cycle, or a refusal whose digest is burnt) goes to `settle`. In one
 * process that is the daemon's acting half (daemon.ts); with privilege separation this runs in
 * the unprivileged parser process and `settle` sends a request to the broker (privsep/).
 */
import { EnvironmentError } from "../../errors.js";
import type { GpgEngine } from "../../spa/index.js";
import type { DaemonConfig } from "../daemon-config.js";
import { GpgRunner } from "../gpg-runner.js";
import { unwrapHttpSpa } from "../listen/http.js";
import { keepNfq } from "../listen/nfq.js";
import { listenPcap, readPcapFile } from "../listen/pcap.js";
import { listenTcp } from "../listen/tcp.js";
import type { Datagram, Listener } from "../listen/types.js";
import { listenUdp } from "../listen/udp.js";
import { STALE_MS, listenUdpBatch, type UdpBatchListener } from "../listen/udp-batch.js";
import { LogBudget } from "../log-limit.js";
import type { EventFields, Level, Logger } from "../log.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { processSpa } from "../pipeline.js";
import type { Incoming, PacketLogFields, PipelineSettings, Settled } from "../pipeline/types.js";
import { REFUSAL_LEVEL, Refusal } from "../refusals.js";

/** At most one line a minute about datagrams dropped unread. */
const DROP_NOTE_MS = 60_000;

export type ReceiverConfig = Pick<
  DaemonConfig,
  "udp" | "tcp" | "http" | "ipv6" | "pcap" | "pcapFile" | "nfq" | "stanzas" | "packetLimit" | "gpg"
>;

export interface ReceiverDeps {
  nowSecs: () => number;
  logger: Pick<Logger, "log" | "event" | "wants">;
  metrics: DaemonMetrics;
  /** Seen before, or being decided right now (ReplayGuard.isSeen, or the parser's mirror). */
  isSeen: (digest: string) => boolean;
  /** Until `decided` settles the digest counts as seen (a GPG stanza's gpg run). */
  holdWhile: <T>(digest: string, decided: Promise<T>) => Promise<T>;
  /** An authentic decision: a grant, command or cycle, or a refusal with a digest to burn. */
  settle: (decision: Settled, d: Datagram, arrived: number) => void;
  /** -C's packet limit reached. */
  onLimit: () => void;
  gpgEngine?: (exe: string, homeDir: string) => GpgEngine;
  /**
   * The privsep parser: its NFQUEUE reader ended and, unprivileged, it cannot start another; it
   * ends so that the broker starts both again. Without it (one process) the reader is restarted.
   */
  captureGone?: (why: string) => void;
  /** Payloads are dropped until this says yes (the parser before it has dropped privileges). */
  open?: () => boolean;
}

export class Receiver {
  private listeners: Listener[] = [];
  /** The batched UDP listener, when it is the one running (askDestinations). */
  private udpBatch: UdpBatchListener | null = null;
  private packets = 0;
  private stale = 0;
  private shed = 0;
  private dropNoted = -Infinity;
  private readonly gpg: GpgRunner;
  private readonly inFlight = new Set<Promise<void>>();
  /** 200 per-packet lines a second, bursts of 1,000. */
  private readonly packetLogBudget = new LogBudget(200, 1000);
  private readonly logPacketLine = (line: string, about: PacketLogFields): void => {
    if (this.packetLineAllowed(about.level))
      this.deps.logger.event(about.level, about.event, packetFields(about), line);
  };

  constructor(
    private cfg: ReceiverConfig,
    private settings: PipelineSettings,
    private readonly deps: ReceiverDeps,
  ) {
    this.gpg = new GpgRunner({ ...cfg.gpg, ...(deps.gpgEngine ? { engine: deps.gpgEngine } : {}) });
  }

  /** A reload: new stanzas and settings; the listeners stay. */
  reconfigure(cfg: ReceiverConfig, settings: PipelineSettings): void {
    this.cfg = cfg;
    this.settings = settings;
    if (this.udpBatch !== null) this.askDestinations(null);
  }

  /**
   * The UDP server reads each datagram's destination only while something uses it:
   * ENABLE_DESTINATION_RULE, or a stanza's DESTINATION. `noBatch`: why the batched listener,
   * which alone can read it, is not there. A rule that cannot be honoured stops the start.
   */
  private askDestinations(noBatch: string | null): void {
    const rule = this.settings.destinationRule === true;
    const stanza = this.cfg.stanzas.some((s) => s.destination !== null && !s.destination.any);
    let why = noBatch;
    if (this.udpBatch !== null && !this.udpBatch.destinations(rule || stanza))
      why = "the kernel refused IP_PKTINFO";
    if (why === null) return;
    if (rule)
      throw new EnvironmentError(
        `ENABLE_DESTINATION_RULE needs the address each SPA datagram was sent to, which the UDP server cannot read here (${why}). Use ENABLE_TCP_SERVER, ENABLE_SPA_OVER_HTTP or pcap capture, or set ENABLE_DESTINATION_RULE N`,
      );
    if (stanza)
      this.deps.logger.log(
        "warning",
        `access.conf DESTINATION: the UDP server cannot read the address datagrams were sent to here (${why}); they read as 0.0.0.0, as in C's UDP server`,
      );
  }

  get listening(): boolean {
    return this.listeners.length > 0;
  }

  get descriptions(): string[] {
    return this.listeners.map((l) => l.description);
  }

  async listen(): Promise<void> {
    const cfg = this.cfg;
    const onPayload = (d: Datagram): void => {
      this.onPayload(d);
    };
    if (cfg.udp.enabled) {
      const batched = listenUdpBatch(cfg.udp.port, cfg.ipv6, onPayload, (stale, shed) => {
        this.onDropped(stale, shed);
      });
      if (typeof batched === "string") {
        this.askDestinations(batched);
        this.deps.logger.log("info", `UDP: no batched receive, using dgram: ${batched}`);
        this.listeners.push(await listenUdp(cfg.udp.port, cfg.ipv6, onPayload));
      } else {
        this.listeners.push(batched);
        this.udpBatch = batched;
        this.askDestinations(null);
      }
    }
    if (cfg.tcp.enabled) this.listeners.push(await listenTcp(cfg.tcp.port, cfg.ipv6, onPayload));
    if (cfg.nfq !== null) {
      const say = (line: string): void => {
        this.deps.logger.log("err", line);
      };
      this.listeners.push(await keepNfq(cfg.nfq, onPayload, say, this.deps.captureGone ?? null));
    }
    if (cfg.pcap.enabled && cfg.pcapFile === null)
      this.listeners.push(await listenPcap(cfg.pcap, onPayload));
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

  /**
   * Datagrams dropped unread by the UDP listener (stale: waited past STALE_MS; shed: from an
   * address over its share while the daemon was behind): counted, and said in one line at most
   * every DROP_NOTE_MS (each line counts those since the last), so an overload is visible without
   * a line per datagram.
   */
  private onDropped(stale: number, shed: number): void {
    if (stale > 0) this.deps.metrics.refused(Refusal.Stale, stale);
    if (shed > 0) this.deps.metrics.refused(Refusal.Shed, shed);
    this.stale += stale;
    this.shed += shed;
    const now = performance.now();
    if (now - this.dropNoted < DROP_NOTE_MS) return;
    this.deps.logger.event(
      "warning",
      "spa_rejected",
      { reason: this.stale > 0 ? Refusal.Stale : Refusal.Shed },
      `UDP: more SPA data comes in than the access stanzas can be tried against; dropped unread: ${this.stale} datagrams that waited over ${STALE_MS} ms, ${this.shed} from addresses that had half of the daemon's time`,
    );
    this.stale = 0;
    this.shed = 0;
    this.dropNoted = now;
  }

  private onPayload(d: Datagram): void {
    if (this.deps.open !== undefined && !this.deps.open()) return;
    const cfg = this.cfg;
    const arrived = performance.now();
    this.deps.metrics.packet();
    let data = d.data;
    let xffIp: string | null = null;
    if (cfg.http.enabled) {
      const h = unwrapHttpSpa(data, cfg.http.allowAnyUserAgent, cfg.http.xForwardedFor);
      if (h.kind === "refused") {
        // Junk before any stanza, as the pipeline's: debug (C: a preprocess error), no budget.
        this.deps.metrics.refused("http");
        if (this.packetLineAllowed("debug")) this.deps.logger.log("debug", `[${d.srcIp}] ${h.why}`);
        return;
      }
      if (h.kind === "spa") {
        data = h.data;
        xffIp = h.xff;
        if (h.xffBad !== null && this.packetLineAllowed("warning"))
          this.deps.logger.log(
            "warning",
            `Error parsing X-Forwarded-For header: value '${h.xffBad.slice(0, 80)}' is not an IP address`,
          );
      }
    }
    const inc: Incoming = {
      data,
      srcIp: d.srcIp,
      srcPort: d.srcPort,
      dstIp: d.dstIp,
      dstPort: d.dstPort,
    };
    // Set only behind a proxy: no spread on the path every datagram takes.
    if (xffIp !== null) inc.xffIp = xffIp;
    const decision = processSpa(
      inc,
      cfg.stanzas,
      this.settings,
      this.deps.isSeen,
      this.deps.nowSecs(),
      this.logPacketLine,
      this.gpg.open,
    );
    const payload = data === d.data ? d : { ...d, data };
    if (decision.kind === "pending") {
      // A GPG stanza: gpg runs while we keep receiving. Until it is decided, the same packet
      // again counts as a replay.
      this.track(
        this.deps.holdWhile(
          decision.digest,
          decision.decision.then((settled) => {
            this.decided(settled, payload, arrived);
          }),
        ),
      );
    } else this.decided(decision, payload, arrived);
    this.countPacket();
  }

  /** Log and count a refusal; hand anything authentic on. */
  private decided(decision: Settled, d: Datagram, arrived: number): void {
    if (decision.kind === "refuse") {
      this.deps.metrics.refused(decision.reason);
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
      if (decision.digest === null) return;
    }
    this.deps.settle(decision, d, arrived);
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Packets already taken (a gpg run) finished. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** --pcap-file: hand every SPA payload of the file to the pipeline; how many. */
  readFile(path: string): number {
    return readPcapFile(path, (d) => {
      this.onPayload(d);
    });
  }

  private countPacket(): void {
    this.packets++;
    if (this.cfg.packetLimit > 0 && this.packets >= this.cfg.packetLimit) {
      // C: "* Incoming packet count limit of %i reached" at LOG_WARNING.
      this.deps.logger.event(
        "warning",
        "packet_limit",
        {},
        `Incoming packet count limit of ${this.cfg.packetLimit} reached`,
      );
      this.deps.onLimit();
    }
  }

  async close(): Promise<void> {
    for (const l of this.listeners) await l.close();
    this.listeners = [];
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
