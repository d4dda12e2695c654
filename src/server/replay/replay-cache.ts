/**
 * Replay digest cache (server/replay_cache.c, file-cache build), kept compatible with C fwknopd's
 * digest.cache so either daemon can take over the other's file:
 *   "<b64 sha256 of the wire> <ip proto> <src ip> <src port> <dst ip> <dst port> <epoch>"
 * Differences from C, on purpose: O(1) lookups (C scans a list), entries older than the packet-age
 * window are dropped when aging is on (such packets are refused by age anyway), and each new entry
 * is written before the caller grants access (and synced right after, or before with
 * DIGEST_SYNC_BEFORE_GRANT), so a daemon crash cannot re-open a replay. C only writes.
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  openSync,
  readSync,
  renameSync,
  statSync,
  write,
  writeFileSync,
  writeSync,
} from "node:fs";
import { EnvironmentError, messageOf } from "../../errors.js";
import { DigestTable, KEY_BYTES, digestKey, digestKeyOf } from "./digest-table.js";

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
  /**
   * DIGEST_SYNC_BEFORE_GRANT: an add resolves only after fdatasync. Otherwise it resolves once
   * the line is written (in the page cache, so a crash or kill of the daemon loses nothing) and
   * the fdatasync follows at once; only a power cut in that millisecond could lose the entry.
   */
  syncBeforeGrant?: boolean;
  /** A background fdatasync failed (only without syncBeforeGrant). */
  onSyncError?: (e: Error) => void;
}

const HEADER = "# <digest> <proto> <src_ip> <src_port> <dst_ip> <dst_port> <time>\n";

export interface LoadStats {
  loaded: number;
  expired: number;
  invalid: number;
}

/** Bytes read from the file at a time while loading (keeps the peak small for big files). */
const CHUNK = 4 << 20;
const SPACE = 0x20;
const NEWLINE = 0x0a;

/** Digits only, 1..max of them. */
function digits(b: Uint8Array, from: number, to: number, max: number): boolean {
  if (to <= from || to - from > max) return false;
  for (let i = from; i < to; i++) {
    const c = b[i] ?? 0;
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * One line of C's format, `b[start, end)`: "<digest> <proto> <src ip> <src port> <dst ip>
 * <dst port> <epoch>". Returns the epoch, or -1 when the line is not in that format.
 */
function parseLine(b: Uint8Array, start: number, end: number): number {
  const sp: number[] = [];
  for (let i = start; i < end; i++) if (b[i] === SPACE) sp.push(i);
  if (sp.length !== 6) return -1;
  const [s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0] = sp;
  const field = (a: number, z: number, max: number): boolean => z > a && z - a <= max;
  if (!field(start, s1, 64) || !field(s2 + 1, s3, 45) || !field(s4 + 1, s5, 45)) return -1;
  if (!digits(b, s1 + 1, s2, 3) || !digits(b, s3 + 1, s4, 5) || !digits(b, s5 + 1, s6, 5))
    return -1;
  if (!digits(b, s6 + 1, end, 10)) return -1;
  let when = 0;
  for (let i = s6 + 1; i < end; i++) when = when * 10 + ((b[i] ?? 0) - 0x30);
  return when > 0xffffffff ? -1 : when;
}

/** Call `line(buf, start, end)` for every line of the file, reading it in chunks. */
function eachLine(path: string, line: (b: Buffer, start: number, end: number) => void): void {
  const fd = openSync(path, "r");
  try {
    let buf = Buffer.alloc(CHUNK);
    let have = 0;
    for (;;) {
      if (have === buf.length) {
        // A line longer than a chunk: grow (only junk files have such lines).
        const bigger = Buffer.alloc(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const n = readSync(fd, buf, have, buf.length - have, null);
      const end = have + n;
      let from = 0;
      for (;;) {
        const nl = buf.indexOf(NEWLINE, from);
        if (nl < 0 || nl >= end) break;
        line(buf, from, nl);
        from = nl + 1;
      }
      if (n === 0) {
        if (from < end) line(buf, from, end);
        return;
      }
      buf.copy(buf, 0, from, end);
      have = end - from;
    }
  } finally {
    closeSync(fd);
  }
}

export class ReplayCache {
  private seen = new DigestTable();
  private readonly key = new Uint8Array(KEY_BYTES);
  private fd: number | null = null;
  private pending: Array<{ line: string; done: (err: Error | null) => void }> = [];
  private flushing = false;
  private syncing = false;
  private syncAgain = false;

  constructor(private readonly opts: ReplayCacheOptions) {}

  get size(): number {
    return this.seen.size;
  }

  /**
   * Read the file (C's format) in chunks, skipping expired and invalid lines; rewrite it without
   * them when they are a quarter of it or more; open it for appending.
   */
  open(): LoadStats {
    const stats: LoadStats = { loaded: 0, expired: 0, invalid: 0 };
    const now = this.opts.nowSecs();
    const path = this.opts.path;
    const exists = existsSync(path);
    let total = 0;
    if (exists) {
      const size = statSync(path).size;
      // ~90 bytes a line: size the table once instead of growing it step by step.
      this.seen = new DigestTable(Math.floor(size / 90));
      try {
        eachLine(path, (b, start, end) => {
          if (end === start || b[start] === 0x23) return; // blank, or a "#" comment
          total++;
          const when = parseLine(b, start, end);
          if (when < 0) {
            stats.invalid++;
            return;
          }
          if (this.expired(when, now)) {
            stats.expired++;
            return;
          }
          digestKey(b, start, b.indexOf(SPACE, start), this.key);
          this.seen.set(this.key, when);
          stats.loaded++;
        });
      } catch (e) {
        throw new EnvironmentError(`cannot read digest cache ${path}: ${messageOf(e)}`);
      }
    }
    const dropped = stats.expired + stats.invalid;
    try {
      if (!exists) writeFileSync(path, HEADER, { mode: 0o600 });
      else if (dropped > 0 && dropped * 4 >= total) this.compact(now);
      this.fd = openSync(path, "a", 0o600);
    } catch (e) {
      throw new EnvironmentError(`cannot write digest cache ${path}: ${messageOf(e)}`);
    }
    return stats;
  }

  /** Rewrite the file with only its valid, live lines, through a temporary file and a rename. */
  private compact(now: number): void {
    const tmp = `${this.opts.path}.tmp`;
    const out = openSync(tmp, "w", 0o600);
    const buf = Buffer.alloc(CHUNK);
    let used = buf.write(HEADER, "latin1");
    try {
      eachLine(this.opts.path, (b, start, end) => {
        if (end === start || b[start] === 0x23) return;
        const when = parseLine(b, start, end);
        if (when < 0 || this.expired(when, now)) return;
        // A valid line is under 256 bytes (field limits above), so one flush always makes room.
        if (used + (end - start) + 1 > buf.length) {
          writeSync(out, buf, 0, used);
          used = 0;
        }
        used += b.copy(buf, used, start, end);
        buf[used++] = NEWLINE;
      });
      writeSync(out, buf, 0, used);
    } finally {
      closeSync(out);
    }
    renameSync(tmp, this.opts.path);
  }

  private expired(when: number, now: number): boolean {
    return this.opts.retentionSecs !== null && now - when > this.opts.retentionSecs;
  }

  /** O(1): has this wire digest been accepted before (and still matters)? */
  has(digest: string): boolean {
    digestKeyOf(digest, this.key);
    const when = this.seen.get(this.key);
    return when !== 0 && !this.expired(when, this.opts.nowSecs());
  }

  /**
   * Record a digest. Memory is updated at once (a second copy arriving meanwhile is a replay).
   * The line is written at once, synchronously (a page-cache write takes microseconds; handing it
   * to libuv's thread pool cost a fraction of a millisecond of every grant, bench/latency.ts), and
   * synced in the background, many lines per sync. With syncBeforeGrant the promise resolves only
   * after the sync, and concurrent adds share one write and one sync.
   */
  add(digest: string, meta: ReplayMeta): Promise<void> {
    const now = this.opts.nowSecs();
    digestKeyOf(digest, this.key);
    this.seen.set(this.key, now);
    const line = `${digest} ${meta.proto} ${meta.srcIp} ${meta.srcPort} ${meta.dstIp} ${meta.dstPort} ${now}\n`;
    if (this.opts.syncBeforeGrant !== true) {
      if (this.fd === null) return Promise.reject(new EnvironmentError("digest cache is not open"));
      try {
        writeSync(this.fd, line, null, "latin1");
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
      this.syncSoon();
      return Promise.resolve();
    }
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

  /** One background fdatasync at a time; lines written meanwhile get the next one. */
  private syncSoon(): void {
    const fd = this.fd;
    if (fd === null) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    fdatasync(fd, (err) => {
      if (err !== null) this.opts.onSyncError?.(err);
      this.syncing = false;
      if (this.syncAgain) {
        this.syncAgain = false;
        this.syncSoon();
      }
    });
  }

  /** syncBeforeGrant: write and sync the waiting lines together, then resolve their adds. */
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

  /** Drop entries that can no longer matter (rebuilds the index; call it from a timer). */
  prune(): number {
    if (this.opts.retentionSecs === null) return 0;
    const now = this.opts.nowSecs();
    return this.seen.retain((when) => !this.expired(when, now));
  }

  /** Resolves once every pending entry is on disk. */
  async drain(): Promise<void> {
    while (this.flushing || this.syncing || this.pending.length > 0)
      await new Promise((r) => setTimeout(r, 5));
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
