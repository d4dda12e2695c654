/**
 * GPG ("Asymmetric") mode, the pure part (fwknop-reference.md §1.7). The gpg binary sits behind
 * GpgEngine (src/gpg/gpg-binary.ts), so the codec stays free of I/O. What is here:
 * - the wire rule: b64nopad of the binary OpenPGP message, first two chars dropped when they are
 *   "hQ" (lib/fko_funcs.c:fko_get_spa_data drops them blindly);
 * - the receiver's way back (lib/cipher_funcs.c:add_gpg_prefix puts "hQ" back), widened so that
 *   messages whose first packet does not encode as "hQ" also open (upstream issue #247): each
 *   possible prefix is tried, and only a text that parses as an OpenPGP public-key-encrypted
 *   message (RFC 4880 §4.2, §5.1) is kept. Random or forged text almost never parses, so it is
 *   dropped here, before any HMAC or gpg run.
 */
import { b64DecodeCanonical } from "./base64.js";
import { B64_GPG_PREFIX } from "./constants.js";

export interface GpgEncryptRequest {
  plaintext: string;
  recipient: string;
  signer: string | null;
  /**
   * How gpg gets the signing key's passphrase: a string is written to a pipe (loopback pinentry,
   * "" for a key without one); null leaves it to gpg-agent (--gpg-agent).
   */
  passphrase: string | null;
}

/** GPGME's gpgme_validity_t, the scale lib/gpgme_funcs.c:process_sigs compares with 3. */
export type GpgValidityLevel = 0 | 1 | 2 | 3 | 4 | 5;

export type GpgSigStatus = "good" | "bad" | "error" | "expired_sig" | "expired_key" | "revoked_key";

export interface GpgSignature {
  status: GpgSigStatus;
  /** Long (16 hex) key id. */
  keyId: string | null;
  /** Fingerprint of the signing (sub)key, upper-case hex. */
  fingerprint: string | null;
  /** Fingerprint of its primary key. */
  primaryFingerprint: string | null;
  validity: GpgValidityLevel;
  /** ERRSIG's reason code (9: no public key). */
  errorCode: number | null;
}

export interface GpgDecrypted {
  plaintext: Buffer;
  signatures: GpgSignature[];
}

export type GpgDecryptOutcome = { ok: true; value: GpgDecrypted } | { ok: false; error: string };

export interface GpgEngine {
  /** Binary OpenPGP; throws (an error naming what gpg said) when gpg fails. */
  encrypt(req: GpgEncryptRequest): Promise<Uint8Array>;
  /** Never throws for a message gpg refuses: that is a value, like any other refusal. */
  decrypt(ciphertext: Uint8Array, passphrase: string | null): Promise<GpgDecryptOutcome>;
}

/**
 * The wire text for a GPG message's b64. Like C, "hQ" is dropped; any other start is kept whole,
 * because the receiver cannot know what was dropped (C would drop it anyway: issue #247).
 */
export function gpgWireBody(fullB64: string): string {
  return fullB64.startsWith(B64_GPG_PREFIX) ? fullB64.slice(B64_GPG_PREFIX.length) : fullB64;
}

/** OpenPGP packet tags (RFC 4880 §4.3, RFC 9580 §5). */
const TAG_PKESK = 1;
const TAG_SEIPD = 18;
const TAG_AEAD = 20;
/** Public-key algorithms a PKESK may name: RSA, Elgamal, ECDH, X25519, X448. */
const PKESK_ALGOS = new Set([1, 2, 16, 18, 20, 25, 26]);

interface PacketHeader {
  tag: number;
  bodyStart: number;
  /** -1: runs to the end of the data (old-format indeterminate length). */
  bodyLen: number;
  /** New-format partial body length: more chunks follow. */
  partial: boolean;
}

/** New-format body length at `off` (RFC 4880 §4.2.2). */
function newLength(
  b: Uint8Array,
  off: number,
): { len: number; size: number; partial: boolean } | null {
  const o = b[off];
  if (o === undefined) return null;
  if (o < 192) return { len: o, size: 1, partial: false };
  if (o < 224) {
    const o2 = b[off + 1];
    return o2 === undefined ? null : { len: ((o - 192) << 8) + o2 + 192, size: 2, partial: false };
  }
  if (o === 255) {
    if (off + 5 > b.length) return null;
    const len = Buffer.from(b.subarray(off + 1, off + 5)).readUInt32BE(0);
    return { len, size: 5, partial: false };
  }
  return { len: 1 << (o & 0x1f), size: 1, partial: true };
}

function packetHeader(b: Uint8Array, off: number): PacketHeader | null {
  const ctb = b[off];
  if (ctb === undefined || (ctb & 0x80) === 0) return null;
  if ((ctb & 0x40) !== 0) {
    const l = newLength(b, off + 1);
    if (l === null) return null;
    return { tag: ctb & 0x3f, bodyStart: off + 1 + l.size, bodyLen: l.len, partial: l.partial };
  }
  const tag = (ctb >> 2) & 0x0f;
  const lt = ctb & 0x03;
  if (lt === 3) return { tag, bodyStart: off + 1, bodyLen: -1, partial: false };
  const size = 1 << lt;
  if (off + 1 + size > b.length) return null;
  let len = 0;
  for (let i = 0; i < size; i++) len = len * 256 + (b[off + 1 + i] ?? 0);
  return { tag, bodyStart: off + 1 + size, bodyLen: len, partial: false };
}

/** Does the data packet that starts at `h` end exactly at the end of `b`? */
function dataPacketFills(b: Uint8Array, h: PacketHeader): boolean {
  if (h.bodyLen < 0) return h.bodyStart < b.length;
  let off = h.bodyStart + h.bodyLen;
  let partial = h.partial;
  while (partial) {
    const l = newLength(b, off);
    if (l === null) return false;
    off += l.size + l.len;
    partial = l.partial;
  }
  return off === b.length;
}

/**
 * Is this a public-key-encrypted OpenPGP message as gpg writes one: one or more PKESK packets
 * (version 3 with a known algorithm), then one integrity-protected data packet (SEIPD or AEAD;
 * gpg refuses the old unprotected kind) that ends exactly at the end of the data?
 */
export function isOpenPgpPkMessage(b: Uint8Array): boolean {
  let off = 0;
  let keys = 0;
  while (off < b.length) {
    const h = packetHeader(b, off);
    if (h === null) return false;
    if (h.tag === TAG_PKESK) {
      if (h.partial || h.bodyLen < 11 || b[h.bodyStart] !== 3) return false;
      if (!PKESK_ALGOS.has(b[h.bodyStart + 9] ?? 0)) return false;
      off = h.bodyStart + h.bodyLen;
      keys++;
      continue;
    }
    if (keys === 0) return false;
    if (h.tag !== TAG_SEIPD && h.tag !== TAG_AEAD) return false;
    return dataPacketFills(b, h);
  }
  return false;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Two-char starts a sender may have dropped: an old-format PKESK header with a one-octet length
 * (0x84: "hA".."hP", ECDH keys), with a two-octet one (0x85: "hQ", "hR", RSA keys), and a
 * new-format one (0xC1: "wQ".."wd").
 */
const DROPPED_PREFIXES: readonly string[] = [
  ...[...B64.slice(0, 18)].map((c) => `h${c}`),
  ...[...B64.slice(16, 30)].map((c) => `w${c}`),
].filter((p) => p !== B64_GPG_PREFIX);

/**
 * The full b64 texts a GPG wire body may stand for, most likely first, each checked to be an
 * OpenPGP message: C's reading ("hQ" put back), the body as it is (our client keeps a start other
 * than "hQ"), then the body behind each other prefix a C client may have dropped (issue #247).
 */
export function gpgCiphertextCandidates(body: string): string[] {
  const out: string[] = [];
  const tryText = (text: string): void => {
    if (out.includes(text)) return;
    const bytes = b64DecodeCanonical(text);
    if (bytes !== null && isOpenPgpPkMessage(bytes)) out.push(text);
  };
  tryText(body.startsWith(B64_GPG_PREFIX) ? body : B64_GPG_PREFIX + body);
  tryText(body);
  for (const p of DROPPED_PREFIXES) tryText(p + body);
  return out;
}
