/**
 * Encrypt-then-MAC (lib/fko_hmac.c:fko_set_spa_hmac / fko_verify_hmac). The MAC covers the ASCII
 * base64 ciphertext *with* the "U2FsdGVkX1" (or "hQ") prefix that the wire omits, and is appended
 * to the wire text with no separator. Both are RFC 2104, as lib/hmac.c: packets are made with
 * Node's createHmac, and checked with the same steps over pads kept per key (hmacB64Padded).
 */
import * as crypto from "node:crypto";
import { b64NoPad } from "./base64.js";
import { digestInfo, type DigestName } from "./constants.js";

export function hmacB64(type: DigestName, key: Uint8Array, prefixedB64: string): string {
  return b64NoPad(
    crypto.createHmac(digestInfo(type).node, key).update(prefixedB64, "latin1").digest(),
  );
}

/** crypto.hash, one digest without a Hash object: Node 20.12 and later. */
const oneShot = (crypto as Partial<typeof crypto>).hash;

/** Room for the message after the inner pad: anything a datagram can carry, with its prefix. */
const MAX_MESSAGE = 2048;

/**
 * RFC 2104 section 2 for one key and digest, with its first steps done once: K XOR ipad and
 * K XOR opad, each at the start of a buffer that then takes the message (inner) or the inner
 * digest (outer). Keys longer than B are hashed first, as the RFC and OpenSSL do.
 */
interface Pads {
  readonly algorithm: string;
  readonly block: number;
  readonly inner: Buffer;
  readonly outer: Buffer;
  /** The inner pad and the last message, viewed once per length (a flood keeps one length). */
  innerView: Buffer;
}

/**
 * Per key object: stanza keys live as long as their configuration and are never changed in place,
 * so this holds one entry per stanza and digest and goes with the configuration.
 */
const padsOf = new WeakMap<Uint8Array, Map<DigestName, Pads>>();

function pads(type: DigestName, key: Uint8Array): Pads {
  let byType = padsOf.get(key);
  if (byType === undefined) {
    byType = new Map();
    padsOf.set(key, byType);
  }
  let p = byType.get(type);
  if (p !== undefined) return p;
  const info = digestInfo(type);
  const k = key.length > info.blockLen ? crypto.createHash(info.node).update(key).digest() : key;
  p = {
    algorithm: info.node,
    block: info.blockLen,
    inner: Buffer.alloc(info.blockLen + MAX_MESSAGE),
    outer: Buffer.alloc(info.blockLen + info.rawLen),
    innerView: Buffer.alloc(0),
  };
  for (let i = 0; i < info.blockLen; i++) {
    p.inner[i] = (k[i] ?? 0) ^ 0x36;
    p.outer[i] = (k[i] ?? 0) ^ 0x5c;
  }
  byType.set(type, p);
  return p;
}

/**
 * The b64 HMAC (with '=' padding) of a latin1 text. This runs for every junk packet: createHmac
 * sets up a Hash context and prepares the key each time, which costs more than the two digests;
 * two one-shot digests over the kept pads do the same RFC 2104 steps in about half the time
 * (1.0 against 1.8 us for SHA-256 over 200 characters here). The inner digest comes back as a
 * latin1 ("binary") string, not a Buffer: a Buffer is a malloc'd backing store per call. Where crypto.hash
 * is missing, or the text does not fit, it is createHmac.
 */
export function hmacB64Padded(type: DigestName, key: Uint8Array, text: string): string {
  if (oneShot === undefined || text.length > MAX_MESSAGE)
    return crypto.createHmac(digestInfo(type).node, key).update(text, "latin1").digest("base64");
  const p = pads(type, key);
  const end = p.block + p.inner.write(text, p.block, "latin1");
  if (p.innerView.length !== end) p.innerView = p.inner.subarray(0, end);
  p.outer.write(oneShot(p.algorithm, p.innerView, "binary"), p.block, "latin1");
  return oneShot(p.algorithm, p.outer, "base64");
}

/**
 * Constant-time check of a received b64 HMAC text against the one computed here. The texts are
 * compared (as C's constant_runtime_cmp does), not the decoded bytes: a last character with other
 * unused bits must not pass, or it would make a new wire string, hence a new replay digest, for
 * the same packet. Compared in place, without the Buffers equalAscii makes: this runs for every
 * junk packet.
 */
export function hmacMatches(
  type: DigestName,
  key: Uint8Array,
  prefixedB64: string,
  received: string,
): boolean {
  return sameMacText(hmacB64Padded(type, key, prefixedB64), received);
}

/** A b64 MAC with '=' padding against the wire's text of one (none), in constant time. */
export function sameMacText(mac: string, received: string): boolean {
  let n = mac.length;
  while (n > 0 && mac.charCodeAt(n - 1) === 0x3d) n--; // b64NoPad: no '=' on the wire
  if (n !== received.length) return false;
  let diff = 0;
  for (let i = 0; i < n; i++) diff |= mac.charCodeAt(i) ^ received.charCodeAt(i);
  return diff === 0;
}
