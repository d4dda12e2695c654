/**
 * The replay cache's index: digest -> the packet's time, in two flat typed arrays instead of a Map of
 * strings. A million entries fit in 2^21 slots of 20 bytes (40 MB) and make no garbage; the Map
 * of 43-char strings took the daemon to 253 MB and 7.4 s to load 1M (bench/replay.ts). Open
 * addressing with linear probing.
 *
 * Keys are the first 16 bytes of the SHA-256 the wire digest encodes: 128 bits, so a fresh packet
 * is taken for a replay with odds of n / 2^128. A digest that is not 43 characters of base64 (not
 * one fwknopd writes) is keyed by a SHA-256 of its text instead, so it still matches only itself.
 */
import { createHash } from "node:crypto";

export const KEY_BYTES = 16;
const MIN_CAPACITY = 1 << 10;
const MAX_LOAD = 0.7;

const B64 = new Int16Array(256).fill(-1);
for (const [i, c] of [
  ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
].entries())
  B64[c.charCodeAt(0)] = i;

/**
 * The key of a digest given as bytes of its text (`text[start, end)`), written to `out`: for 43
 * base64 characters, the first 16 bytes they encode; for anything else, a SHA-256 of the text.
 */
export function digestKey(text: Uint8Array, start: number, end: number, out: Uint8Array): void {
  if (end - start === 43) {
    let ok = true;
    for (let i = start; i < end && ok; i++) ok = (B64[text[i] ?? 0] ?? -1) >= 0;
    if (ok) {
      let acc = 0;
      let bits = 0;
      let o = 0;
      for (let i = start; o < KEY_BYTES; i++) {
        acc = ((acc << 6) | (B64[text[i] ?? 0] ?? 0)) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out[o++] = (acc >> bits) & 0xff;
        }
      }
      return;
    }
  }
  out.set(createHash("sha256").update(text.subarray(start, end)).digest().subarray(0, KEY_BYTES));
}

/** digestKey for a digest held as a string (lookups and adds). */
export function digestKeyOf(digest: string, out: Uint8Array): void {
  const bytes = Buffer.from(digest, "latin1");
  digestKey(bytes, 0, bytes.length, out);
}

export class DigestTable {
  private keys: Uint8Array;
  /** The packet's time (epoch seconds, at least 1), by which entries are dropped; 0: empty slot. */
  private times: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 0) {
    let cap = MIN_CAPACITY;
    while (cap * MAX_LOAD < expected) cap *= 2;
    this.keys = new Uint8Array(cap * KEY_BYTES);
    this.times = new Uint32Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Slot of `key`, or of the empty slot where it would go. */
  private slot(key: Uint8Array): number {
    // SHA-256 output is uniform: its first four bytes are a good hash.
    let i =
      ((key[0] ?? 0) | ((key[1] ?? 0) << 8) | ((key[2] ?? 0) << 16) | ((key[3] ?? 0) << 24)) &
      this.mask;
    const keys = this.keys;
    for (;;) {
      if (this.times[i] === 0) return i;
      const base = i * KEY_BYTES;
      let same = true;
      for (let b = 0; b < KEY_BYTES; b++)
        if (keys[base + b] !== key[b]) {
          same = false;
          break;
        }
      if (same) return i;
      i = (i + 1) & this.mask;
    }
  }

  /** The key's time, or 0. */
  get(key: Uint8Array): number {
    return this.times[this.slot(key)] ?? 0;
  }

  /**
   * Record a key; returns false when it was already there. A key recorded again keeps the later of
   * its two times, so it is kept at least as long as either asked.
   */
  set(key: Uint8Array, when: number): boolean {
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) this.resize((this.mask + 1) * 2);
    const i = this.slot(key);
    const had = this.times[i] ?? 0;
    if (had === 0) {
      this.keys.set(key.subarray(0, KEY_BYTES), i * KEY_BYTES);
      this.count++;
    }
    this.times[i] = Math.max(1, when, had);
    return had === 0;
  }

  /** Keep only the entries `keep` says yes to (rebuilds the table; linear probing has no deletes). */
  retain(keep: (when: number) => boolean): number {
    let live = 0;
    for (const t of this.times) if (t !== 0 && keep(t)) live++;
    const dropped = this.count - live;
    if (dropped === 0) return 0;
    let cap = MIN_CAPACITY;
    while (cap * MAX_LOAD < live) cap *= 2;
    this.rebuild(cap, keep);
    return dropped;
  }

  private resize(cap: number): void {
    this.rebuild(cap, () => true);
  }

  /** Move the entries `keep` accepts into fresh arrays of `cap` slots. */
  private rebuild(cap: number, keep: (when: number) => boolean): void {
    const oldKeys = this.keys;
    const oldTimes = this.times;
    this.keys = new Uint8Array(cap * KEY_BYTES);
    this.times = new Uint32Array(cap);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < oldTimes.length; i++) {
      const t = oldTimes[i] ?? 0;
      if (t !== 0 && keep(t)) this.set(oldKeys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES), t);
    }
  }
}
