/**
 * The packet parser process (PRIVSEP Y): everything that touches attacker bytes. Started by the
 * broker as root only so it can bind the SPA port (and start tcpdump); it binds, gives up root
 * and every capability for good (setgroups, setgid, setuid: from uid 0 to another, the kernel
 * clears the permitted and effective sets), checks /proc/self/status that it did, and only then
 * looks at a packet. It never reads a config file (access.conf is root's): the broker sends the
 * configuration over the pipe. What it decides goes back as a request (protocol.ts), which the
 * broker checks before acting (check-request.ts).
 */
import { ownCredentials } from "./credentials.js";
import { messageOf } from "../../errors.js";
import { Receiver } from "../daemon/receiver.js";
import type { Datagram } from "../listen/types.js";
import type { EventFields, Level, LogEvent } from "../log-format.js";
import type { Logger } from "../log.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { replayMeta } from "../daemon/replay-guard.js";
import type { PipelineSettings, Settled } from "../pipeline/types.js";
import type { RefusalReason } from "../refusals.js";
import type { ActRequest, BrokerMessage, ParserMessage, ReplayView } from "./protocol.js";
import { setNoNewPrivs } from "./no-new-privs.js";
import { fromWire, type WireConfig } from "./wire-config.js";

/** The parser's own memory of digests it sent; the broker's cache is the one that counts. */
const MIRROR_MAX = 200_000;
/** How often counts go to the broker (its /metrics), when there are any. */
const COUNTS_EVERY_MS = 200;

export interface ParserIo {
  send(m: ParserMessage): void;
  exit(code: number): void;
}

/** The request the broker acts on, from a decision on an authentic packet. */
export function requestOf(decision: Settled, d: Datagram, arrived: number): ActRequest {
  const meta = replayMeta(d);
  if (decision.kind === "command")
    return { t: "command", stanza: decision.stanza, data: d.data, meta };
  const digests = {
    at: performance.timeOrigin + arrived,
    digest: decision.digest ?? "",
    innerDigest: decision.innerDigest,
    meta,
    ...(decision.spaTime !== undefined ? { spaTime: decision.spaTime } : {}),
  };
  if (decision.kind === "refuse") return { t: "burn", reason: decision.reason, ...digests };
  if (decision.kind === "cycle")
    return {
      t: "cycle",
      ...digests,
      stanza: decision.stanza,
      user: decision.user,
      address: decision.vars.IP,
      port: {
        proto: decision.vars.PROTO === "17" ? "udp" : "tcp",
        port: Number(decision.vars.PORT),
      },
      seconds: decision.closeAfter,
    };
  const first = decision.grants[0];
  const nat = first?.nat;
  return {
    t: "grant",
    ...digests,
    stanza: decision.stanza,
    user: decision.user,
    address: first?.address ?? "",
    ports: decision.grants.map((g) => ({ proto: g.proto, port: g.port })),
    timeout: decision.timeout,
    ...(nat !== undefined
      ? { nat: { kind: nat.kind, toAddress: nat.toAddress, toPort: nat.toPort } }
      : {}),
  };
}

export class Parser {
  private receiver: Receiver | null = null;
  private dropped = false;
  private wants = new Set<Level>();
  private replay: ReplayView = { forgottenBefore: 0, full: false };
  private readonly mirror = new Set<string>();
  private readonly deciding = new Set<string>();
  private packets = 0;
  private refused = new Map<RefusalReason | "http", number>();
  private countsTimer: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(
    private readonly io: ParserIo,
    private readonly runAs: { uid: number; gid: number },
  ) {}

  private readonly logger: Pick<Logger, "log" | "event" | "wants"> = {
    wants: (level) => this.wants.has(level),
    event: (level: Level, event: LogEvent, fields: EventFields, text: string) => {
      this.io.send({ t: "log", level, event, fields, text });
    },
    log: (level, line) => {
      this.io.send({ t: "log", level, event: "message", fields: {}, text: line });
    },
  };

  private readonly metrics: DaemonMetrics = {
    packet: () => {
      this.packets++;
      this.countSoon();
    },
    refused: (reason, n = 1) => {
      this.refused.set(reason, (this.refused.get(reason) ?? 0) + n);
      this.countSoon();
    },
    granted: () => undefined,
    firewallError: () => undefined,
  };

  private countSoon(): void {
    if (this.countsTimer !== null) return;
    this.countsTimer = setTimeout(() => {
      this.flushCounts();
    }, COUNTS_EVERY_MS);
  }

  private flushCounts(): void {
    if (this.countsTimer !== null) clearTimeout(this.countsTimer);
    this.countsTimer = null;
    if (this.packets === 0 && this.refused.size === 0) return;
    this.io.send({ t: "counts", packets: this.packets, refused: Object.fromEntries(this.refused) });
    this.packets = 0;
    this.refused = new Map();
  }

  private settings(w: WireConfig): PipelineSettings {
    return {
      ...w.settings,
      replay: {
        forgottenBefore: () => this.replay.forgottenBefore,
        isFull: () => this.replay.full,
      },
    };
  }

  private readonly isSeen = (digest: string): boolean =>
    this.mirror.has(digest) || this.deciding.has(digest);

  private remember(digest: string | null): void {
    if (digest === null) return;
    if (this.mirror.size >= MIRROR_MAX) this.mirror.clear();
    this.mirror.add(digest);
  }

  private settle(decision: Settled, d: Datagram, arrived: number): void {
    if (decision.kind !== "command") {
      this.remember(decision.digest);
      this.remember(decision.innerDigest);
    }
    this.io.send(requestOf(decision, d, arrived));
  }

  /** The first config: bind, drop privileges, say so. A later one: new stanzas and settings. */
  async onMessage(m: BrokerMessage): Promise<void> {
    if (m.t === "stop") return this.stop();
    if (m.t === "replay") {
      this.replay = m.replay;
      return;
    }
    this.wants = new Set(m.wants);
    this.replay = m.replay;
    const cfg = fromWire(m.cfg);
    if (this.receiver !== null) {
      this.receiver.reconfigure(cfg, this.settings(m.cfg));
      return;
    }
    this.receiver = new Receiver(cfg, this.settings(m.cfg), {
      nowSecs: () => Math.floor(Date.now() / 1000),
      logger: this.logger,
      metrics: this.metrics,
      isSeen: this.isSeen,
      holdWhile: (digest, decided) => {
        this.deciding.add(digest);
        return decided.finally(() => this.deciding.delete(digest));
      },
      settle: (decision, d, arrived) => {
        this.settle(decision, d, arrived);
      },
      onLimit: () => {
        this.flushCounts();
        this.io.send({ t: "limit" });
      },
      open: () => this.dropped,
      // EX_TEMPFAIL: the broker logs the exit and starts a new parser (and so a new reader).
      captureGone: () => void this.stop(75),
    });
    await this.receiver.listen();
    const noNewPrivs = setNoNewPrivs();
    this.dropPrivileges();
    this.io.send({
      t: "ready",
      listening: this.receiver.descriptions,
      noNewPrivs,
    });
  }

  /** For good: no way back to root, no capability left; checked, else the process ends. */
  private dropPrivileges(): void {
    const { setgroups, setgid, setuid } = process;
    if (setgroups === undefined || setgid === undefined || setuid === undefined)
      throw new Error("this platform cannot change a process's user");
    setgroups([this.runAs.gid]);
    setgid(this.runAs.gid);
    setuid(this.runAs.uid);
    const c = ownCredentials();
    if (c.uid.includes(0) || c.gid.includes(0) || !/^0+$/.test(c.capEff))
      throw new Error(
        `privileges not dropped: Uid ${c.uid.join(" ")}, Gid ${c.gid.join(" ")}, CapEff ${c.capEff}`,
      );
    this.dropped = true;
  }

  /** Close the listeners, finish what is under way, and end with `code`. */
  async stop(code = 0): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    try {
      await this.receiver?.close();
      await this.receiver?.drain();
    } catch (e) {
      this.logger.log("err", `packet parser stop: ${messageOf(e)}`);
    }
    this.flushCounts();
    this.io.exit(code);
  }
}
