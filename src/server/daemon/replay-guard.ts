/**
 * The daemon's side of replay protection: the digest cache (replay/replay-cache.ts) opened as
 * fwknopd.conf says, the digests of packets still being decided (a GPG stanza's gpg run), and the
 * digests of a decision persisted before the daemon acts on it.
 */
import type { DaemonConfig } from "../daemon-config.js";
import type { Datagram } from "../listen/types.js";
import type { Logger } from "../log.js";
import { ReplayCache, type ReplayMeta } from "../replay/replay-cache.js";

export interface ReplayGuardDeps {
  nowSecs: () => number;
  log: (line: string, level?: Parameters<Logger["log"]>[0]) => void;
}

type ReplayConfig = Pick<
  DaemonConfig,
  "replayProtection" | "digestFile" | "packetAging" | "maxPacketAge" | "digestSyncBeforeGrant"
>;

export class ReplayGuard {
  private cache: ReplayCache | null = null;
  /** Wire digests of packets whose GPG stanzas are still being tried. */
  private readonly deciding = new Set<string>();
  private pruneTimer: NodeJS.Timeout | null = null;

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

  open(cfg: ReplayConfig): void {
    if (!cfg.replayProtection) {
      this.deps.log("ENABLE_DIGEST_PERSISTENCE is N: replay detection is off", "warning");
      return;
    }
    this.cache = new ReplayCache({
      path: cfg.digestFile,
      // A packet is refused by age after maxPacketAge either side of now; keep its digest that long.
      retentionSecs: cfg.packetAging ? 2 * cfg.maxPacketAge + 60 : null,
      nowSecs: this.deps.nowSecs,
      syncBeforeGrant: cfg.digestSyncBeforeGrant,
      onSyncError: (e) => {
        this.deps.log(`Digest cache sync failed: ${e.message}`, "err");
      },
    });
    const st = this.cache.open();
    this.deps.log(
      `Digest cache ${cfg.digestFile}: ${st.loaded} entries loaded, ${st.expired} expired, ${st.invalid} invalid lines skipped`,
    );
    this.pruneTimer = setInterval(() => this.cache?.prune(), 60_000);
    this.pruneTimer.unref();
  }

  /** Until `decided` settles, the same packet again counts as a replay. */
  holdWhile<T>(digest: string, decided: Promise<T>): Promise<T> {
    this.deciding.add(digest);
    return decided.finally(() => this.deciding.delete(digest));
  }

  /** The replay digest, and for GPG the digest of the decrypted message (pipeline/after-gpg.ts). */
  async remember(
    d: { digest: string | null; innerDigest: string | null },
    meta: ReplayMeta,
  ): Promise<void> {
    if (this.cache === null || d.digest === null) return;
    const both = [this.cache.add(d.digest, meta)];
    if (d.innerDigest !== null) both.push(this.cache.add(d.innerDigest, meta));
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
