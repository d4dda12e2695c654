/**
 * The daemon's side of replay protection: the digest cache (replay/replay-cache.ts) opened as
 * fwknopd.conf says, the digests of packets still being decided (a GPG stanza's gpg run), and the
 * digests of a decision persisted before the daemon acts on it.
 */
import type { DaemonConfig } from "../daemon-config.js";
import type { Datagram } from "../listen/types.js";
import type { Logger } from "../log.js";
import type { ReplayState } from "../pipeline/types.js";
import { ReplayCache, type ReplayMeta } from "../replay/replay-cache.js";

export interface ReplayGuardDeps {
  nowSecs: () => number;
  log: (line: string, level?: Parameters<Logger["log"]>[0]) => void;
}

type ReplayConfig = Pick<
  DaemonConfig,
  | "replayProtection"
  | "digestFile"
  | "packetAging"
  | "maxPacketAge"
  | "digestSyncBeforeGrant"
  | "digestCacheMaxEntries"
>;

/** The packet-age window digests are dropped by: none (null) with aging off. */
function windowOf(cfg: ReplayConfig): number | null {
  return cfg.packetAging ? cfg.maxPacketAge : null;
}

export class ReplayGuard implements ReplayState {
  private cache: ReplayCache | null = null;
  /** Wire digests of packets whose GPG stanzas are still being tried. */
  private readonly deciding = new Set<string>();
  private pruneTimer: NodeJS.Timeout | null = null;
  private windowSecs: number | null = null;
  private maxEntries = Infinity;
  private saidFull = false;

  /** For the pipeline: seen before, or being decided right now. */
  readonly isSeen = (digest: string): boolean =>
    this.cache?.has(digest) === true || this.deciding.has(digest);

  constructor(private readonly deps: ReplayGuardDeps) {}

  /** Digests held (0 with replay detection off). */
  get entries(): number {
    return this.cache?.size ?? 0;
  }

  /** ENABLE_DIGEST_PERSISTENCE N: no cache, nothing is ever a replay (as C). */
  get enabled(): boolean {
    return this.cache !== null;
  }

  forgottenBefore(): number {
    return this.cache?.forgottenBefore ?? 0;
  }

  isFull(): boolean {
    return this.entries >= this.maxEntries;
  }

  /** Say when the cache becomes full, and when it has room again (after adds and drops). */
  private noteFullness(): void {
    const full = this.isFull();
    if (full !== this.saidFull) {
      this.saidFull = full;
      this.deps.log(
        full
          ? `Digest cache is full: ${this.entries} digests, DIGEST_CACHE_MAX_ENTRIES ${this.maxEntries}. SPA packets are refused until digests can be dropped (packet aging) or the limit is raised; none is forgotten to make room.`
          : `Digest cache has room again: ${this.entries} digests, DIGEST_CACHE_MAX_ENTRIES ${this.maxEntries}`,
        full ? "err" : "info",
      );
    }
  }

  open(cfg: ReplayConfig): void {
    if (!cfg.replayProtection) {
      this.deps.log("ENABLE_DIGEST_PERSISTENCE is N: replay detection is off", "warning");
      return;
    }
    this.cache = new ReplayCache({
      path: cfg.digestFile,
      nowSecs: this.deps.nowSecs,
      syncBeforeGrant: cfg.digestSyncBeforeGrant,
      onSyncError: (e) => {
        this.deps.log(`Digest cache sync failed: ${e.message}`, "err");
      },
    });
    this.windowSecs = windowOf(cfg);
    this.maxEntries = cfg.digestCacheMaxEntries;
    const st = this.cache.open(this.windowSecs);
    this.deps.log(
      `Digest cache ${cfg.digestFile}: ${st.loaded} entries loaded, ${st.dropped} dropped (packets older than MAX_SPA_PACKET_AGE), ${st.invalid} invalid lines skipped${this.forgottenNote()}`,
    );
    this.noteFullness();
    this.pruneTimer = setInterval(() => {
      this.prune();
    }, 60_000);
    this.pruneTimer.unref();
  }

  private forgottenNote(): string {
    const t = this.forgottenBefore();
    return t > 0 ? `; packets stamped before ${t} are refused (their digests were dropped)` : "";
  }

  /**
   * SIGHUP: the new packet-age window and size limit, at once. A wider window (or aging off) only
   * stops dropping: what was dropped stays refused by `forgottenBefore`. A narrower one drops now.
   * ENABLE_DIGEST_PERSISTENCE and DIGEST_FILE take effect at the next start.
   */
  reconfigure(cfg: ReplayConfig): void {
    if (this.cache === null) return;
    const before = this.windowSecs;
    this.windowSecs = windowOf(cfg);
    this.maxEntries = cfg.digestCacheMaxEntries;
    if (before !== this.windowSecs)
      this.deps.log(
        this.windowSecs === null
          ? `Digest cache: packet aging is off, no digest is dropped${this.forgottenNote()}`
          : `Digest cache: digests of packets older than ${this.windowSecs} s are dropped${this.forgottenNote()}`,
      );
    this.prune();
  }

  private prune(): void {
    this.cache?.prune(this.windowSecs);
    this.noteFullness();
  }

  /** Until `decided` settles, the same packet again counts as a replay. */
  holdWhile<T>(digest: string, decided: Promise<T>): Promise<T> {
    this.deciding.add(digest);
    return decided.finally(() => this.deciding.delete(digest));
  }

  /**
   * The replay digest, and for GPG the digest of the decrypted message (pipeline/after-gpg.ts),
   * with the packet's timestamp (absent: unknown, never dropped).
   */
  async remember(
    d: { digest: string | null; innerDigest: string | null; spaTime?: number },
    meta: ReplayMeta,
  ): Promise<void> {
    if (this.cache === null || d.digest === null) return;
    const t = d.spaTime ?? null;
    const both = [this.cache.add(d.digest, meta, t)];
    if (d.innerDigest !== null) both.push(this.cache.add(d.innerDigest, meta, t));
    this.noteFullness();
    await Promise.all(both);
  }

  /** Pending writes finished, then the file closed. */
  async close(): Promise<void> {
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    await this.cache?.drain();
    this.cache?.close();
  }
}

/** What the replay cache records about a packet's carrier (C's digest.cache columns). */
export function replayMeta(d: Datagram): ReplayMeta {
  return {
    proto: d.transport === "udp" ? 17 : d.transport === "tcp" ? 6 : 1,
    srcIp: d.srcIp,
    srcPort: d.srcPort,
    dstIp: d.dstIp,
    dstPort: d.dstPort,
  };
}
