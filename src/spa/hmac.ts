/**
 * Encrypt-then-MAC (lib/fko_hmac.c:fko_set_spa_hmac / fko_verify_hmac). The MAC covers the ASCII
 * base64 ciphertext *with* the "U2FsdGVkX1" (or "hQ") prefix that the wire omits, and is appended
 * to the wire text with no separator. Node's HMAC is RFC 2104, as lib/hmac.c.
 */
import { createHmac } from "node:crypto";
import { b64NoPad } from "./base64.js";
import { digestInfo, type DigestName } from "./constants.js";
import { equalAscii } from "./digest.js";

export function hmacB64(type: DigestName, key: Uint8Array, prefixedB64: string): string {
  return b64NoPad(createHmac(digestInfo(type).node, key).update(prefixedB64, "latin1").digest());
}

/** Constant-time check of a received b64 HMAC text against the one computed here. */
export function hmacMatches(
  type: DigestName,
  key: Uint8Array,
  prefixedB64: string,
  received: string,
): boolean {
  return equalAscii(hmacB64(type, key, prefixedB64), received);
}
