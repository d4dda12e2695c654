/**
 * gpg's machine-readable status lines (--status-fd; GnuPG doc/DETAILS), read the way GPGME reads
 * them for gpgme_op_decrypt_verify (lib/gpgme_funcs.c:gpgme_decrypt, process_sigs): one record per
 * signature, its status, the signing key's fingerprint and key id, and its validity on GPGME's
 * scale. Pure: text in, data out.
 */
import type { GpgSigStatus, GpgSignature, GpgValidityLevel } from "../spa/index.js";

/** GPGME's gpgme_validity_t values for gpg's TRUST_* lines. */
export const GpgValidity = {
  unknown: 0,
  undefined: 1,
  never: 2,
  marginal: 3,
  full: 4,
  ultimate: 5,
} as const satisfies Record<string, GpgValidityLevel>;

export interface GpgStatus {
  signatures: GpgSignature[];
  decryptionOkay: boolean;
  decryptionFailed: boolean;
  /** NO_SECKEY: the message is for a key this keyring does not hold. */
  noSecretKey: boolean;
  badPassphrase: boolean;
  /** A FAILURE or ERROR line, e.g. "sign-encrypt 67108949". */
  failures: string[];
  /** INV_RECP / INV_SGNR: the recipient or signer key cannot be used, with gpg's reason code. */
  invalidKey: string | null;
}

const SIG_STARTS: Record<string, GpgSigStatus> = {
  GOODSIG: "good",
  BADSIG: "bad",
  ERRSIG: "error",
  EXPSIG: "expired_sig",
  EXPKEYSIG: "expired_key",
  REVKEYSIG: "revoked_key",
};

const TRUST: Record<string, GpgValidityLevel> = {
  TRUST_UNDEFINED: GpgValidity.undefined,
  TRUST_NEVER: GpgValidity.never,
  TRUST_MARGINAL: GpgValidity.marginal,
  TRUST_FULLY: GpgValidity.full,
  TRUST_ULTIMATE: GpgValidity.ultimate,
};

const HEX = /^[0-9A-Fa-f]+$/;

function hexOrNull(s: string | undefined): string | null {
  return s !== undefined && HEX.test(s) ? s.toUpperCase() : null;
}

export function parseGpgStatus(text: string): GpgStatus {
  const st: GpgStatus = {
    signatures: [],
    decryptionOkay: false,
    decryptionFailed: false,
    noSecretKey: false,
    badPassphrase: false,
    failures: [],
    invalidKey: null,
  };
  let current: GpgSignature | null = null;
  for (const line of text.split("\n")) {
    if (!line.startsWith("[GNUPG:] ")) continue;
    const [kw = "", ...args] = line.slice(9).trimEnd().split(" ");
    const sigStatus = SIG_STARTS[kw];
    if (sigStatus !== undefined) {
      current = {
        status: sigStatus,
        keyId: hexOrNull(args[0]),
        fingerprint: kw === "ERRSIG" ? hexOrNull(args[6]) : null,
        primaryFingerprint: null,
        validity: GpgValidity.unknown,
        errorCode: kw === "ERRSIG" && /^[0-9]+$/.test(args[5] ?? "") ? Number(args[5]) : null,
      };
      st.signatures.push(current);
      continue;
    }
    const trust = TRUST[kw];
    if (trust !== undefined) {
      if (current !== null) current.validity = trust;
      continue;
    }
    switch (kw) {
      case "NEWSIG":
        current = null;
        break;
      case "VALIDSIG":
        if (current !== null) {
          current.fingerprint = hexOrNull(args[0]);
          current.primaryFingerprint = hexOrNull(args[9]) ?? current.fingerprint;
        }
        break;
      case "DECRYPTION_OKAY":
        st.decryptionOkay = true;
        break;
      case "DECRYPTION_FAILED":
        st.decryptionFailed = true;
        break;
      case "NO_SECKEY":
        st.noSecretKey = true;
        break;
      case "BAD_PASSPHRASE":
        st.badPassphrase = true;
        break;
      case "FAILURE":
      case "ERROR":
        st.failures.push(args.join(" "));
        break;
      case "INV_RECP":
      case "INV_SGNR":
        st.invalidKey = `${kw === "INV_RECP" ? "recipient" : "signer"} ${args.slice(1).join(" ")} (reason ${args[0] ?? "?"})`;
        break;
      default:
        break;
    }
  }
  return st;
}

/**
 * The key id GPGME reports for a signature: the last 8 hex digits of the signing key's fingerprint
 * (lib/fko_encryption.c:fko_get_gpg_signature_id), else of the long key id.
 */
export function shortKeyId(sig: GpgSignature): string | null {
  const src = sig.fingerprint ?? sig.keyId;
  return src === null ? null : src.slice(-8);
}

/**
 * GPGME's view of a signature, for C's -v dump: gpgme_signature_t.status (a gpg_err_code, 0 only
 * for a good one) and its summary bits (GPGME_SIGSUM_*).
 */
const GPGME_SIG: Record<GpgSigStatus, readonly [status: number, summary: number]> = {
  good: [0, 3], // VALID | GREEN (when the key is fully valid)
  bad: [8, 4], // GPG_ERR_BAD_SIGNATURE, RED
  error: [4, 0], // GPG_ERR_PUBKEY_ALGO
  expired_sig: [154, 64], // GPG_ERR_SIG_EXPIRED, SIG_EXPIRED
  expired_key: [153, 32], // GPG_ERR_KEY_EXPIRED, KEY_EXPIRED
  revoked_key: [94, 16], // GPG_ERR_CERT_REVOKED, KEY_REVOKED
};

export function gpgmeSigStatus(sig: GpgSignature): number {
  return sig.status === "error" && sig.errorCode === 9 ? 9 : GPGME_SIG[sig.status][0]; // NO_PUBKEY
}

export function gpgmeSigSummary(sig: GpgSignature): number {
  if (sig.status === "error" && sig.errorCode === 9) return 128; // KEY_MISSING
  if (sig.status === "good" && sig.validity < GpgValidity.full) return 0;
  return GPGME_SIG[sig.status][1];
}
