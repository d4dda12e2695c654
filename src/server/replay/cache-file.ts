/**
 * digest.cache, the file (server/replay_cache.c, file-cache build). A line is C's seven fields and
 * one of ours:
 *   "<digest> <proto> <src_ip> <src_port> <dst_ip> <dst_port> <time> <spa_time>"
 * <time> is when the line was written, as C writes it; <spa_time> is the packet's own timestamp,
 * which decides when the digest may be dropped (replay-cache.ts). C reads a line with
 * sscanf("%64s %hhu %16s %hu %16s %hu %ld") and asks only for those seven conversions
 * (replay_file_cache_init), so it ignores <spa_time> and takes over our file as it is. C's lines,
 * and ours from before <spa_time>, have seven fields: their packet time is unknown (UNKNOWN_TIME)
 * and they are never dropped, as in C.
 * Lines starting with "#" are comments for C (IS_EMPTY_LINE); one of ours records up to when
 * digests were dropped from the file (FORGOTTEN_TAG), which must outlive a restart.
 */
import { closeSync, openSync, readSync } from "node:fs";

export const HEADER =
  "# <digest> <proto> <src_ip> <src_port> <dst_ip> <dst_port> <time> <spa_time>\n";

/** "# forgotten-before <epoch>": digests of packets stamped before <epoch> were dropped. */
const FORGOTTEN_TAG = "# forgotten-before ";

/** A packet time that is not known (C's seven-field lines): never dropped. */
export const UNKNOWN_TIME = 0xffffffff;

/** Bytes read from the file at a time while loading (keeps the peak small for big files). */
export const CHUNK = 4 << 20;
export const SPACE = 0x20;
export const NEWLINE = 0x0a;
const HASH = 0x23;
const CR = 0x0d;

/** Digits only, 1..max of them. */
function digits(b: Uint8Array, from: number, to: number, max: number): boolean {
  if (to <= from || to - from > max) return false;
  for (let i = from; i < to; i++) {
    const c = b[i] ?? 0;
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function numberAt(b: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n = n * 10 + ((b[i] ?? 0) - 0x30);
  return n;
}

/** `b[start, end)` without a trailing carriage return (C's %ld stops before it). */
export function lineEnd(b: Uint8Array, start: number, end: number): number {
  return end > start && b[end - 1] === CR ? end - 1 : end;
}

/** A blank line or a comment: not an entry. */
export function isComment(b: Uint8Array, start: number, end: number): boolean {
  return end === start || b[start] === HASH;
}

/**
 * One entry line, `b[start, end)`: its packet time, UNKNOWN_TIME when it has no readable
 * <spa_time> (C's seven fields), or -1 when its first seven fields are not in C's format.
 */
export function parseLine(b: Uint8Array, start: number, end: number): number {
  const sp: number[] = [];
  for (let i = start; i < end && sp.length < 8; i++) if (b[i] === SPACE) sp.push(i);
  if (sp.length < 6) return -1;
  const [s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = end, s8 = end] = sp;
  const field = (a: number, z: number, max: number): boolean => z > a && z - a <= max;
  if (!field(start, s1, 64) || !field(s2 + 1, s3, 45) || !field(s4 + 1, s5, 45)) return -1;
  if (!digits(b, s1 + 1, s2, 3) || !digits(b, s3 + 1, s4, 5) || !digits(b, s5 + 1, s6, 5))
    return -1;
  if (!digits(b, s6 + 1, s7, 10) || numberAt(b, s6 + 1, s7) > 0xffffffff) return -1;
  if (s7 === end || !digits(b, s7 + 1, s8, 10)) return UNKNOWN_TIME;
  return Math.min(numberAt(b, s7 + 1, s8), UNKNOWN_TIME);
}

/** The epoch of a FORGOTTEN_TAG comment, or -1 for any other line. */
export function parseForgotten(b: Buffer, start: number, end: number): number {
  const tag = FORGOTTEN_TAG.length;
  if (end - start <= tag || b.toString("latin1", start, start + tag) !== FORGOTTEN_TAG) return -1;
  let z = start + tag;
  while (z < end && b[z] !== SPACE) z++;
  return digits(b, start + tag, z, 10) ? numberAt(b, start + tag, z) : -1;
}

/** The comment that records `forgottenBefore` (a packet time), with a word for whoever reads it. */
export function forgottenLine(forgottenBefore: number): string {
  return `${FORGOTTEN_TAG}${forgottenBefore} (fwknop-ts: the digests of older packets were dropped; such packets are refused)\n`;
}

/** Call `line(buf, start, end)` for every line of the file, reading it in chunks. */
export function eachLine(
  path: string,
  line: (b: Buffer, start: number, end: number) => void,
): void {
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
        line(buf, from, lineEnd(buf, from, nl));
        from = nl + 1;
      }
      if (n === 0) {
        if (from < end) line(buf, from, lineEnd(buf, from, end));
        return;
      }
      buf.copy(buf, 0, from, end);
      have = end - from;
    }
  } finally {
    closeSync(fd);
  }
}
