/**
 * Opening a GPG packet, shared by fwknopd and the client's -T self-check (lib/fko_encryption.c:
 * gpg_decrypt): the candidate texts from verifyGpgHmac, each decrypted by the engine until one
 * works, then decoded. At most MAX_TRIES gpg runs per packet, so unauthenticated input cannot make
 * one packet cost many.
 */
import {
  Reject,
  b64DecodeCanonical,
  decodeGpgPlaintext,
  fail,
  ok,
  type DecodedSpa,
  type GpgEngine,
  type GpgSignature,
  type Result,
} from "../spa/index.js";

export interface GpgOpened {
  spa: DecodedSpa;
  signatures: GpgSignature[];
  /** The full b64 text that opened. */
  ciphertextB64: string;
}

const MAX_TRIES = 2;

export async function openGpgSpa(
  candidates: readonly string[],
  engine: GpgEngine,
  passphrase: string | null,
): Promise<Result<GpgOpened>> {
  let last: Result<GpgOpened> = fail(Reject.NotOpenPgp, "not an OpenPGP message");
  for (const text of candidates.slice(0, MAX_TRIES)) {
    const bytes = b64DecodeCanonical(text);
    if (bytes === null) continue;
    const r = await engine.decrypt(bytes, passphrase);
    if (!r.ok) {
      last = fail(Reject.GpgDecrypt, r.error);
      continue;
    }
    const spa = decodeGpgPlaintext(r.value.plaintext);
    if (!spa.ok) return spa;
    return ok({ spa: spa.value, signatures: r.value.signatures, ciphertextB64: text });
  }
  return last;
}
