/**
 * Replay digest cache (server/replay_cache.c, file-cache build), kept compatible with C fwknopd's
 * digest.cache so either daemon can take over the other's file:
 *   "<b64 sha256 of the wire> <ip proto> <src ip> <src port> <dst ip> <dst port> <epoch>"
 * Differences from C, on purpose: O(1) lookups (C scans a list), entries older than the packet-age
 * window are dropped when aging is on (such packets are refused by age anyway), and each new entry
 * is on disk (fdatasync) before the caller grants access, so a crash cannot re-open a replay.
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  openSync,
  readFileSync,
  renameSync,
  write,
  writeFileSync,
} from "node:fs";
import { EnvironmentError } from "../../errors.js";

export interface ReplayMeta {
  /** IP protocol number of the carrier (17 UDP, 6 TCP). */
  proto: number;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
}

export interface ReplayCacheOptions {
  path: string;
  /** Seconds after which an entry can no longer matter (2 x MAX_SPA_PACKET_AGE + slack), or null to keep all. */
  retentionSecs: number | null;
  nowSecs: () => number;
}

const HEADER = "# <digest> <proto> <src_ip> <src_port> <dst_ip> <dst_port> <time>\n";
const LINE = /^(\S{1,64}) (\d{1,3}) (\S{1,45}) (\d{1,5}) (\S{1,45}) (\d{1,5}) (\d{1,20})$/;

export interface LoadStats {
  loaded: number;
  expired: number;
  invalid: number;
}

export class ReplayCache {
  private readonly seen = new Map<string, number>();
  private fd: number | null = null;
  private pending: Array<{ line: string; done: (err: Error | null) => void }> = [];
  private flushing = false;

  constructor(private readonly opts: ReplayCacheOptions) {}

  get size(): number {
    return this.seen.size;
  }

  /** Read the file (C's format), drop expired and invalid lines, rewrite it compacted, open for append. */
  open(): LoadStats {
    const stats: LoadStats = { loaded: 0, expired: 0, invalid: 0 };
    const now = this.opts.nowSecs();
    const keep: string[] = [];
    if (existsSync(this.opts.path)) {
      let text: string;
      try {
        text = readFileSync(this.opts.path, "latin1");
      } catch (e) {
        throw new EnvironmentError(
          `cannot read digest cache ${this.opts.path}: ${(e as Error).message}`,
        );
      }
      for (const raw of text.split("\n")) {
        if (raw === "" || raw.startsWith("#")) continue;
        const m = LINE.exec(raw);
        const digest = m?.[1];
        const when = Number(m?.[7]);
        if (m === null || digest === undefined || !Number.isFinite(when)) {
          stats.invalid++;
          continue;
        }
        if (this.expired(when, now)) {
          stats.expired++;
          continue;
        }
        if (!this.seen.has(digest)) keep.push(raw);
        this.seen.set(digest, when);
        stats.loaded++;
      }
    }
    // Compact through a temporary file and a rename, so a crash leaves the old or the new file.
    const tmp = `${this.opts.path}.tmp`;
    try {
      writeFileSync(tmp, HEADER + keep.map((l) => `${l}\n`).join(""), { mode: 0o600 });
      renameSync(tmp, this.opts.path);
      this.fd = openSync(this.opts.path, "a", 0o600);
    } catch (e) {
      throw new EnvironmentError(
        `cannot write digest cache ${this.opts.path}: ${(e as Error).message}`,
      );
    }
    return stats;
  }

  private expired(when: number, now: number): boolean {
    return this.opts.retentionSecs !== null && now - when > this.opts.retentionSecs;
  }

  /** O(1): has this wire digest been accepted before (and still matters)? */
  has(digest: string): boolean {
    const when = this.seen.get(digest);
    if (when === undefined) return false;
    if (this.expired(when, this.opts.nowSecs())) {
      this.seen.delete(digest);
      return false;
    }
    return true;
  }

  /**
   * Record a digest. Memory is updated at once (a second copy arriving meanwhile is a replay);
   * the promise resolves once the line is on disk. Concurrent adds share one write and one sync.
   */
  add(digest: string, meta: ReplayMeta): Promise<void> {
    const now = this.opts.nowSecs();
    this.seen.set(digest, now);
    const line = `${digest} ${meta.proto} ${meta.srcIp} ${meta.srcPort} ${meta.dstIp} ${meta.dstPort} ${now}\n`;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({
        line,
        done: (err) => {
          if (err === null) resolve();
          else reject(err);
        },
      });
      this.flush();
    });
  }

  private flush(): void {
    const fd = this.fd;
    if (this.flushing || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    if (fd === null) {
      for (const p of batch) p.done(new EnvironmentError("digest cache is not open"));
      return;
    }
    this.flushing = true;
    const data = Buffer.from(batch.map((p) => p.line).join(""), "latin1");
    const finish = (err: Error | null): void => {
      this.flushing = false;
      for (const p of batch) p.done(err);
      this.flush();
    };
    write(fd, data, 0, data.length, null, (werr) => {
      if (werr !== null) {
        finish(werr);
        return;
      }
      fdatasync(fd, finish);
    });
  }

  /** Drop entries that can no longer matter; cheap enough to call from a timer. */
  prune(): number {
    if (this.opts.retentionSecs === null) return 0;
    const now = this.opts.nowSecs();
    let dropped = 0;
    for (const [d, when] of this.seen) {
      if (this.expired(when, now)) {
        this.seen.delete(d);
        dropped++;
      }
    }
    return dropped;
  }

  /** Resolves once every pending entry is on disk. */
  async drain(): Promise<void> {
    while (this.flushing || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** --rotate-digest-cache: move the file aside as "<name>-old" (server/replay_cache.c). */
export function rotateDigestCache(path: string): boolean {
  if (!existsSync(path)) return false;
  renameSync(path, `${path}-old`);
  return true;
}
