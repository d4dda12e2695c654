/**
 * Replay digest cache (server/replay_cache.c, file-cache build), in a file either daemon can take
 * over from the other (cache-file.ts has the format). Differences from C, on purpose: O(1) lookups
 * (C scans a list); each new entry is written before the caller grants access (and synced right
 * after, or before with DIGEST_SYNC_BEFORE_GRANT), so a daemon crash cannot re-open a replay (C
 * only writes); and with packet aging on, digests of packets that age alone refuses are dropped
 * (C keeps every digest forever).
 *
 * Dropping is by the packet's own timestamp against the window in force (pruneCut), and it cannot
 * be undone: a later, wider window (a raised MAX_SPA_PACKET_AGE, aging turned off, on SIGHUP or at
 * a restart) would accept those packets again. So the cache remembers up to when it dropped
 * (`forgottenBefore`, kept in the file across restarts) and the pipeline refuses any packet stamped
 * before that, whatever the window (pipeline/policy.ts). Dropping from memory alone is undone by
 * the next start, which reads the file again; only the rewrite at start removes lines for good.
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  openSync,
  renameSync,
  statSync,
  write,
  writeFileSync,
  writeSync,
} from "node:fs";
import { EnvironmentError, messageOf } from "../../errors.js";
import {
  CHUNK,
  HEADER,
  NEWLINE,
  SPACE,
  UNKNOWN_TIME,
  eachLine,
  forgottenLine,
  isComment,
  parseForgotten,
  parseLine,
} from "./cache-file.js";
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

export interface LoadStats {
  loaded: number;
  /** Entries whose packets the packet-age window refuses: not loaded. */
  dropped: number;
  invalid: number;
}

/**
 * The prune rule: with packet aging on, a packet stamped before `now - maxPacketAge` is refused by
 * age now and ever after, so its digest can go; entries at or after the cut stay, and so do
 * packets stamped in the future, which come into the window later. With aging off (null) nothing
 * is ever dropped. Returns the packet time below which entries may be dropped, or null.
 */
export function pruneCut(now: number, windowSecs: number | null): number | null {
  return windowSecs === null ? null : now - windowSecs;
}

/** C reads lines with fgets into 1,024 bytes (MAX_LINE_LEN): a longer one is cut there. */
const MAX_LINE = 1023;

export class ReplayCache {
  private seen = new DigestTable();
  private readonly key = new Uint8Array(KEY_BYTES);
  private fd: number | null = null;
  private pending: Array<{ line: string; done: (err: Error | null) => void }> = [];
  private flushing = false;
  private syncing = false;
  private syncAgain = false;
  private forgotten = 0;

  constructor(private readonly opts: ReplayCacheOptions) {}

  get size(): number {
    return this.seen.size;
  }

  /**
   * Digests of packets stamped before this epoch may have been dropped (0: none was): the pipeline
   * refuses such packets as possible replays.
   */
  get forgottenBefore(): number {
    return this.forgotten;
  }

  /**
   * Read the file in chunks, leaving out invalid lines and those `windowSecs` drops (see
   * pruneCut); rewrite it without them when they are a quarter of it or more; open it for
   * appending.
   */
  open(windowSecs: number | null): LoadStats {
    const stats: LoadStats = { loaded: 0, dropped: 0, invalid: 0 };
    const cut = pruneCut(this.opts.nowSecs(), windowSecs) ?? -1;
    const path = this.opts.path;
    const exists = existsSync(path);
    let total = 0;
    if (exists) {
      // ~90 bytes a line: size the table once instead of growing it step by step.
      this.seen = new DigestTable(Math.floor(statSync(path).size / 90));
      try {
        eachLine(path, (b, start, end) => {
          if (isComment(b, start, end)) {
            this.forgotten = Math.max(this.forgotten, parseForgotten(b, start, end));
            return;
          }
          total++;
          const when = parseLine(b, start, end);
          if (when < 0) stats.invalid++;
          else if (when < cut) {
            stats.dropped++;
            this.forgotten = Math.max(this.forgotten, when + 1);
          } else {
            digestKey(b, start, b.indexOf(SPACE, start), this.key);
            this.seen.set(this.key, when);
            stats.loaded++;
          }
        });
      } catch (e) {
        throw new EnvironmentError(`cannot read digest cache ${path}: ${messageOf(e)}`);
      }
    }
    const dropped = stats.dropped + stats.invalid;
    try {
      if (!exists) writeFileSync(path, HEADER, { mode: 0o600 });
      else if (dropped > 0 && dropped * 4 >= total) this.compact(cut);
      this.fd = openSync(path, "a", 0o600);
    } catch (e) {
      throw new EnvironmentError(`cannot write digest cache ${path}: ${messageOf(e)}`);
    }
    return stats;
  }

  /**
   * Rewrite the file with its valid lines of packets stamped at or after `cut`, and the comment
   * that says what was dropped, through a temporary file and a rename.
   */
  private compact(cut: number): void {
    const tmp = `${this.opts.path}.tmp`;
    const out = openSync(tmp, "w", 0o600);
    const buf = Buffer.alloc(CHUNK);
    const head = this.forgotten > 0 ? HEADER + forgottenLine(this.forgotten) : HEADER;
    let used = buf.write(head, "latin1");
    try {
      eachLine(this.opts.path, (b, start, end) => {
        if (isComment(b, start, end)) return;
        const when = parseLine(b, start, end);
        if (when < 0 || when < cut) return;
        const stop = Math.min(end, start + MAX_LINE);
        if (used + (stop - start) + 1 > buf.length) {
          writeSync(out, buf, 0, used);
          used = 0;
        }
        used += b.copy(buf, used, start, stop);
        buf[used++] = NEWLINE;
      });
      writeSync(out, buf, 0, used);
    } finally {
      closeSync(out);
    }
    renameSync(tmp, this.opts.path);
  }

  /** O(1): has this wire digest been accepted (or burnt) before? */
  has(digest: string): boolean {
    digestKeyOf(digest, this.key);
    return this.seen.get(this.key) !== 0;
  }

  /**
   * Record a digest with its packet's timestamp (null: unknown, never dropped). Memory is updated
   * at once (a second copy arriving meanwhile is a replay). The line is written at once,
   * synchronously (a page-cache write takes microseconds; handing it to libuv's thread pool cost
   * a fraction of a millisecond of every grant, bench/latency.ts), and synced in the background,
   * many lines per sync. With syncBeforeGrant the promise resolves only after the sync, and
   * concurrent adds share one write and one sync.
   */
  add(digest: string, meta: ReplayMeta, spaTime: number | null): Promise<void> {
    const now = this.opts.nowSecs();
    digestKeyOf(digest, this.key);
    this.seen.set(this.key, spaTime ?? UNKNOWN_TIME);
    const tail = spaTime === null ? "" : ` ${spaTime}`;
    const line = `${digest} ${meta.proto} ${meta.srcIp} ${meta.srcPort} ${meta.dstIp} ${meta.dstPort} ${now}${tail}\n`;
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

  /**
   * Drop the entries `windowSecs` allows to drop (pruneCut) from memory, and move
   * `forgottenBefore` past them. Returns how many went.
   */
  prune(windowSecs: number | null): number {
    const cut = pruneCut(this.opts.nowSecs(), windowSecs);
    if (cut === null) return 0;
    let latest = -1;
    const n = this.seen.retain((when) => {
      if (when >= cut) return true;
      latest = Math.max(latest, when);
      return false;
    });
    this.forgotten = Math.max(this.forgotten, latest + 1);
    return n;
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
