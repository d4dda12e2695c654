/**
 * The inner digest (lib/digest.c *_base64, lib/fko_decode.c:is_valid_digest_len / verify_digest).
 * It is an unkeyed hash of the encoded fields; its type is not sent, only implied by its length.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { b64NoPad } from "./base64.js";
import { DIGESTS, digestInfo, type DigestName } from "./constants.js";

export function digestB64(name: DigestName, text: string): string {
  return b64NoPad(createHash(digestInfo(name).node).update(text, "latin1").digest());
}

/** Types a digest of this b64 length may be, in the order libfko tries them (SHA-2 before SHA-3). */
export function digestCandidatesForLength(len: number): DigestName[] {
  return DIGESTS.filter((d) => d.b64Len === len).map((d) => d.name);
}

/** Constant-time comparison of two ASCII strings of possibly different lengths. */
export function equalAscii(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "latin1"), Buffer.from(b, "latin1"));
}

/**
 * Which digest type verifies `digest` over `encoded`, or null. The comparison is over the b64 text,
 * like common/fko_util.c:constant_runtime_cmp, so unused bits in the last character count too.
 */
export function verifyDigest(encoded: string, digest: string): DigestName | null {
  for (const name of digestCandidatesForLength(digest.length)) {
    if (equalAscii(digestB64(name, encoded), digest)) return name;
  }
  return null;
}
