/**
 * One message checked against many HMAC keys of one digest type: what a server does with every
 * packet when it has many stanzas (no key id travels on the wire, so each is tried). The same
 * RFC 2104 steps as hmac.ts:hmacMatches, arranged for that loop: every key's K XOR ipad and
 * K XOR opad blocks are made once, side by side in one buffer; the message is written once per
 * packet after a block-sized gap, and each key only copies its two blocks in front of the
 * message and of the inner digest. Per key that saves the message copy and the per-key lookups,
 * and keeps what a thousand keys touch in one place in memory.
 */
import * as crypto from "node:crypto";
import { digestInfo, type DigestName } from "./constants.js";
import { hmacMatches, sameMacText } from "./hmac.js";

/** crypto.hash, one digest without a Hash object: Node 20.12 and later. */
const oneShot = (crypto as Partial<typeof crypto>).hash;

/** Room for the message after the inner pad: anything a datagram can carry, with its prefix. */
const MAX_MESSAGE = 2048;

export class HmacKeyring {
  private readonly algorithm: string;
  private readonly block: number;
  /** Per key: the ipad block, then the opad block (as 32-bit words). */
  private readonly pads: Int32Array;
  private readonly inner: Buffer;
  private readonly innerWords: Int32Array;
  private readonly outer: Buffer;
  private readonly outerWords: Int32Array;
  private innerView: Buffer;
  /** The message set last, or null when it did not fit (then each key goes through hmac.ts). */
  private message: string | null = null;
  /** The message when it did not fit. */
  private fallback = "";

  constructor(
    readonly type: DigestName,
    private readonly keys: readonly Uint8Array[],
  ) {
    const info = digestInfo(type);
    this.algorithm = info.node;
    this.block = info.blockLen;
    const bytes = Buffer.alloc(2 * info.blockLen * keys.length);
    keys.forEach((key, n) => {
      const k =
        key.length > info.blockLen ? crypto.createHash(info.node).update(key).digest() : key;
      const at = 2 * info.blockLen * n;
      for (let i = 0; i < info.blockLen; i++) {
        bytes[at + i] = (k[i] ?? 0) ^ 0x36;
        bytes[at + info.blockLen + i] = (k[i] ?? 0) ^ 0x5c;
      }
    });
    this.pads = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    this.inner = Buffer.alloc(info.blockLen + MAX_MESSAGE);
    this.innerWords = new Int32Array(this.inner.buffer, this.inner.byteOffset, info.blockLen / 4);
    this.outer = Buffer.alloc(info.blockLen + info.rawLen);
    this.outerWords = new Int32Array(this.outer.buffer, this.outer.byteOffset, info.blockLen / 4);
    this.innerView = this.inner.subarray(0, info.blockLen);
  }

  /** The text the next matches() calls check (latin1, the prefixed b64 ciphertext). */
  setMessage(text: string): void {
    if (text === this.message) return;
    if (oneShot === undefined || text.length > MAX_MESSAGE) {
      this.message = null;
      this.fallback = text;
      return;
    }
    const end = this.block + this.inner.write(text, this.block, "latin1");
    if (this.innerView.length !== end) this.innerView = this.inner.subarray(0, end);
    this.message = text;
  }

  /**
   * Key `n`'s b64 HMAC of the message equals `received` (no '=' padding, as on the wire), compared
   * as text in constant time like hmac.ts:hmacMatches.
   */
  matches(n: number, received: string): boolean {
    const key = this.keys[n];
    if (key === undefined) return false;
    if (this.message === null || oneShot === undefined)
      return hmacMatches(this.type, key, this.fallback, received);
    const words = this.block / 4;
    const at = 2 * words * n;
    for (let i = 0; i < words; i++) this.innerWords[i] = this.pads[at + i] ?? 0;
    const innerDigest = oneShot(this.algorithm, this.innerView, "binary");
    for (let i = 0; i < words; i++) this.outerWords[i] = this.pads[at + words + i] ?? 0;
    this.outer.write(innerDigest, this.block, "latin1");
    return sameMacText(oneShot(this.algorithm, this.outer, "base64"), received);
  }
}
