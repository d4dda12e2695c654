/**
 * Encrypt-then-MAC (lib/fko_hmac.c:fko_set_spa_hmac / fko_verify_hmac). The MAC covers the ASCII
 * base64 ciphertext *with* the "U2FsdGVkX1" (or "hQ") prefix that the wire omits, and is appended
 * to the wire text with no separator. Node's HMAC is RFC 2104, as lib/hmac.c.
 */
import { createHmac } from "node:crypto";
import { b64NoPad } from "./base64.js";
import { digestInfo, type DigestName } from "./constants.js";

export function hmacB64(type: DigestName, key: Uint8Array, prefixedB64: string): string {
  return b64NoPad(createHmac(digestInfo(type).node, key).update(prefixedB64, "latin1").digest());
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
  const mac = createHmac(digestInfo(type).node, key).update(prefixedB64, "latin1").digest("base64");
  let n = mac.length;
  while (n > 0 && mac.charCodeAt(n - 1) === 0x3d) n--; // b64NoPad: no '=' on the wire
  if (n !== received.length) return false;
  let diff = 0;
  for (let i = 0; i < n; i++) diff |= mac.charCodeAt(i) ^ received.charCodeAt(i);
  return diff === 0;
}
