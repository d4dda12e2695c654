/**
 * Signature policy of a GPG stanza, pure:
 * - lib/gpgme_funcs.c:process_sigs: with GPG_REQUIRE_SIG there must be a signature, and unless
 *   GPG_IGNORE_SIG_VERIFY_ERROR the first one must be good with validity at least marginal (the
 *   server's keyring must trust the client's key);
 * - server/incoming_spa.c:handle_gpg_sigs: the signer must be in GPG_FINGERPRINT_ID (checked
 *   first) and in GPG_REMOTE_ID, when those are set. C compares the fingerprint exactly and the id
 *   with the last 8 hex digits of the fingerprint. We also ignore case, spaces and a "0x", accept
 *   16-digit (long) ids as a suffix too, and accept the primary key's fingerprint when a subkey
 *   signed: every value C matches still matches.
 */
import { fkoErrorText, type GpgSignature } from "../spa/index.js";
import { GpgValidity, shortKeyId } from "../gpg/status.js";

export interface SignerPolicy {
  remoteIds: readonly string[] | null;
  fingerprintIds: readonly string[] | null;
}

/** Why process_sigs refuses, as "<fko_errstr> - GPG ERROR: ...", or null. */
export function signatureProblem(sig: GpgSignature | null, ignoreErrors: boolean): string | null {
  if (sig === null) return fkoErrorText("FKO_ERROR_GPGME_NO_SIGNATURE");
  if (ignoreErrors) return null;
  if (sig.status !== "good")
    return `${fkoErrorText("FKO_ERROR_GPGME_BAD_SIGNATURE")} - GPG ERROR: ${SIG_WORDS[sig.status]}`;
  if (sig.validity < GpgValidity.marginal)
    return `${fkoErrorText("FKO_ERROR_GPGME_BAD_SIGNATURE")} - GPG ERROR: the signing key is not trusted in the server's keyring (validity ${sig.validity} < 3)`;
  return null;
}

const SIG_WORDS: Record<GpgSignature["status"], string> = {
  good: "good signature",
  bad: "bad signature",
  error: "signature could not be checked (no public key?)",
  expired_sig: "signature expired",
  expired_key: "signing key expired",
  revoked_key: "signing key revoked",
};

const norm = (s: string): string => s.replace(/^0x/i, "").replace(/\s+/g, "").toUpperCase();

/** The refusal message of handle_gpg_sigs, or null when the signer is allowed. */
export function signerRefusal(sig: GpgSignature, p: SignerPolicy): string | null {
  const fprs = [sig.fingerprint, sig.primaryFingerprint].filter((f): f is string => f !== null);
  if (p.fingerprintIds !== null && !p.fingerprintIds.some((f) => fprs.includes(norm(f))))
    return `Incoming SPA packet signed by: ${sig.fingerprint ?? "?"}, but that fingerprint is not in the GPG_FINGERPRINT_ID list.`;
  if (p.remoteIds !== null) {
    const ids = [...fprs, ...(sig.keyId !== null ? [sig.keyId] : [])];
    const known = p.remoteIds.some((r) => {
      const id = norm(r);
      return id.length >= 8 && ids.some((x) => x.endsWith(id));
    });
    if (!known)
      return `Incoming SPA packet signed by ID: ${shortKeyId(sig) ?? "?"}, but that ID is not in the GPG_REMOTE_ID list.`;
  }
  return null;
}
