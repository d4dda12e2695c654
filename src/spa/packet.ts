/**
 * Whole SPA packets (fwknop-reference.md §1.1, §1.11).
 *   make: fields -> ENCODED:DIGEST -> Rijndael blob -> b64nopad -> HMAC -> wire
 *   open: wire -> HMAC check (before anything else) -> decrypt -> decode
 * Pure: randomness comes in as a function, there is no clock, no I/O. `openSpaPacket` never
 * throws; `makeSpaPacket` throws FkoError for values libfko would refuse.
 */
import { b64DecodeCanonical, b64NoPad, isBase64Text } from "./base64.js";
import {
  B64_GPG_PREFIX,
  B64_RIJNDAEL_SALT,
  FKO_RAND_VAL_SIZE,
  MAX_DIGEST_BLOCK_LEN,
  MAX_SPA_ENCODED_MSG_SIZE,
  MIN_GNUPG_MSG_SIZE,
  MIN_SPA_ENCODED_MSG_SIZE,
  RIJNDAEL_BLOCKSIZE,
  RIJNDAEL_MAX_KEYSIZE,
  RIJNDAEL_MIN_KEYSIZE,
  SALT_LEN,
  digestInfo,
  type DigestName,
  type EncMode,
} from "./constants.js";
import { decodeSpaPlaintext } from "./decode.js";
import { gpgCiphertextCandidates, gpgWireBody, isOpenPgpPkMessage } from "./gpg.js";
import { encodeSpaFields, type EncodedSpa } from "./encode.js";
import type { DecodedSpa, SpaFields } from "./fields.js";
import { FkoError } from "./fko-errors.js";
import { hmacB64, hmacMatches } from "./hmac.js";
import { Reject, fail, ok, type Result } from "./reasons.js";
import { rijndaelDecrypt, rijndaelEncrypt } from "./rijndael.js";

/** Injected randomness: n cryptographically random bytes. */
export type RandomBytes = (n: number) => Uint8Array;

export interface HmacSpec {
  type: DigestName;
  key: Uint8Array;
}

export interface SpaKeys {
  mode: EncMode;
  /** The Rijndael password (raw bytes, whether it came as text or base64). */
  key: Uint8Array;
  hmac: HmacSpec | null;
}

export interface MadePacket {
  /** What is sent: the b64 ciphertext minus its constant prefix, then the HMAC. */
  wire: string;
  /** The full b64 ciphertext, prefix included (what the HMAC covers). */
  ciphertextB64: string;
  hmac: string | null;
  encoded: EncodedSpa;
}

export interface OpenedSpa extends DecodedSpa {
  mode: EncMode;
  hmacType: DigestName | null;
}

/**
 * Legacy mode uses at most 16 bytes of the key: client/fwknop.c:main truncates with a warning and
 * server/access.c:acc_data_is_valid does the same, so both ends agree.
 */
export function effectiveRijndaelKey(mode: EncMode, key: Uint8Array): Uint8Array {
  return mode === "legacy" && key.length > RIJNDAEL_MIN_KEYSIZE
    ? key.subarray(0, RIJNDAEL_MIN_KEYSIZE)
    : key;
}

/** 16 decimal digits from a CSPRNG (upstream concatenates libc rand() output instead). */
export function generateRandValue(random: RandomBytes): string {
  let out = "";
  while (out.length < FKO_RAND_VAL_SIZE) {
    for (const b of random(FKO_RAND_VAL_SIZE)) {
      // Rejection sampling keeps every digit equally likely.
      if (b < 250 && out.length < FKO_RAND_VAL_SIZE) out += String(b % 10);
    }
  }
  return out;
}

/**
 * lib/fko_encryption.c:fko_encryption_type as the receiver applies it: data of 400+ b64 chars is
 * taken for GPG. With an HMAC the prefix has been put back by then, without one it has not.
 */
function receiverClassLength(ciphertextB64Len: number, withHmac: boolean): number {
  return withHmac ? ciphertextB64Len : ciphertextB64Len - B64_RIJNDAEL_SALT.length;
}

export function makeSpaPacket(
  fields: SpaFields,
  digestType: DigestName,
  keys: SpaKeys,
  random: RandomBytes,
): MadePacket {
  if (keys.mode === "asymmetric")
    throw new FkoError(
      "FKO_ERROR_UNSUPPORTED_FEATURE",
      "encryption mode",
      "GPG packets are made with finishGpgPacket",
    );
  if (keys.key.length > RIJNDAEL_MAX_KEYSIZE)
    throw new FkoError("FKO_ERROR_INVALID_KEY_LEN", "encryption key", `${keys.key.length} bytes`);
  if (keys.hmac !== null && keys.hmac.key.length > MAX_DIGEST_BLOCK_LEN)
    throw new FkoError(
      "FKO_ERROR_INVALID_HMAC_KEY_LEN",
      "HMAC key",
      `${keys.hmac.key.length} bytes`,
    );

  const encoded = encodeSpaFields(fields, digestType);
  const salt = random(SALT_LEN);
  const blob = rijndaelEncrypt(
    Buffer.from(encoded.plaintext, "latin1"),
    effectiveRijndaelKey(keys.mode, keys.key),
    keys.mode,
    salt,
  );
  const ciphertextB64 = b64NoPad(blob);
  if (ciphertextB64.length >= MAX_SPA_ENCODED_MSG_SIZE)
    throw new FkoError(
      "FKO_ERROR_INVALID_DATA_ENCRYPT_RESULT_MSGLEN_VALIDFAIL",
      "encrypted message",
    );
  if (receiverClassLength(ciphertextB64.length, keys.hmac !== null) >= MIN_GNUPG_MSG_SIZE)
    // The C client sends such packets; every receiver then takes them for GPG and drops them.
    throw new FkoError(
      "FKO_ERROR_INVALID_DATA_ENCRYPT_TYPE_UNKNOWN",
      "encrypted message",
      `${ciphertextB64.length} chars: too long for Rijndael (shorten the message or use a shorter digest)`,
    );

  const hmac = keys.hmac === null ? null : hmacB64(keys.hmac.type, keys.hmac.key, ciphertextB64);
  const wire = ciphertextB64.slice(B64_RIJNDAEL_SALT.length) + (hmac ?? "");
  return { wire, ciphertextB64, hmac, encoded };
}

/** The prefix a receiver puts back in front of the wire text (lib/cipher_funcs.c:add_salted_str). */
function restorePrefix(body: string, mode: EncMode, charsetChecked: boolean): string | null {
  if (!charsetChecked && !isBase64Text(body)) return null;
  const prefix = mode === "asymmetric" ? B64_GPG_PREFIX : B64_RIJNDAEL_SALT;
  return body.startsWith(prefix) ? body : prefix + body;
}

/**
 * Step 1 of opening (lib/fko_funcs.c:fko_new_with_data + lib/fko_hmac.c:fko_verify_hmac): length
 * bounds, then the HMAC over the prefixed ciphertext text, compared in constant time. Returns the
 * prefixed ciphertext b64 for step 2. Nothing is decrypted before this passes.
 * `charsetChecked`: the caller found the whole wire to be base64 alphabet (isWireCharset), as the
 * server does first for every packet, so the scan is not repeated once per stanza.
 */
export function verifySpaHmac(
  wire: string,
  mode: EncMode,
  hmac: HmacSpec | null,
  charsetChecked = false,
): Result<string> {
  if (wire.length < MIN_SPA_ENCODED_MSG_SIZE || wire.length >= MAX_SPA_ENCODED_MSG_SIZE)
    return fail(Reject.WireLength, `length ${wire.length}`);
  if (hmac === null) {
    if (mode !== "asymmetric" && wire.length >= MIN_GNUPG_MSG_SIZE)
      return fail(Reject.EncryptionType, "too long for Rijndael");
    const prefixed = restorePrefix(wire, mode, charsetChecked);
    return prefixed === null ? fail(Reject.NotBase64, "not base64") : ok(prefixed);
  }
  const split = splitSpaWire(wire, mode, hmac.type, charsetChecked);
  return split.ok ? checkSpaHmac(split.value, mode, hmac) : split;
}

/** A wire text cut into the prefixed ciphertext text and the HMAC it carries. */
export interface SplitWire {
  prefixed: string;
  received: string;
}

/**
 * The part of verifySpaHmac that depends on the HMAC's digest type but not on its key: a server
 * trying many stanzas of one type does it once per packet, then checkSpaHmac per stanza.
 */
export function splitSpaWire(
  wire: string,
  mode: EncMode,
  type: HmacSpec["type"],
  charsetChecked: boolean,
): Result<SplitWire> {
  if (wire.length < MIN_SPA_ENCODED_MSG_SIZE || wire.length >= MAX_SPA_ENCODED_MSG_SIZE)
    return fail(Reject.WireLength, `length ${wire.length}`);
  const n = digestInfo(type).b64Len;
  if (wire.length - n < MIN_SPA_ENCODED_MSG_SIZE)
    return fail(Reject.HmacLength, "too short for its HMAC");
  const prefixed = restorePrefix(wire.slice(0, wire.length - n), mode, charsetChecked);
  if (prefixed === null) return fail(Reject.NotBase64, "not base64");
  return ok({ prefixed, received: wire.slice(wire.length - n) });
}

/** The rest of verifySpaHmac, for one key: the HMAC, then the length rule of Rijndael data. */
export function checkSpaHmac(split: SplitWire, mode: EncMode, hmac: HmacSpec): Result<string> {
  if (!hmacMatches(hmac.type, hmac.key, split.prefixed, split.received)) return HMAC_MISMATCH;
  return afterSpaHmac(split, mode);
}

/** What checkSpaHmac returns for a wrong HMAC: one object, as junk meets it once per stanza. */
const HMAC_MISMATCH = Object.freeze(fail(Reject.HmacMismatch, "HMAC does not match"));

/** After a matching HMAC: data this long is taken for GPG (lib/fko_funcs.c's length rule). */
function afterSpaHmac(split: SplitWire, mode: EncMode): Result<string> {
  if (mode !== "asymmetric" && split.prefixed.length >= MIN_GNUPG_MSG_SIZE)
    return fail(Reject.EncryptionType, "too long for Rijndael");
  return ok(split.prefixed);
}

/**
 * Step 2 (lib/fko_encryption.c:_rijndael_decrypt, then fko_decode_spa_data): decrypt the prefixed
 * ciphertext text, check the plaintext starts like one (16 digits and ':'), decode the fields.
 */
export function decryptSpaCiphertext(
  prefixedB64: string,
  mode: EncMode,
  key: Uint8Array,
): Result<DecodedSpa> {
  if (mode === "asymmetric") return fail(Reject.Unsupported, "GPG data is opened by a GpgEngine");
  if (key.length > RIJNDAEL_MAX_KEYSIZE) return fail(Reject.KeyLength, `${key.length}-byte key`);
  const blob = b64DecodeCanonical(prefixedB64);
  if (blob === null) return fail(Reject.CipherDecode, "ciphertext is not canonical base64");
  if (blob.length % RIJNDAEL_BLOCKSIZE !== 0 || blob.length < 2 * RIJNDAEL_BLOCKSIZE)
    return fail(Reject.CipherLength, `ciphertext of ${blob.length} bytes`);
  const pt = rijndaelDecrypt(blob, effectiveRijndaelKey(mode, key), mode);
  if (pt === null)
    return fail(Reject.BadPadding, "bad padding or magic (wrong key or mode, or a damaged packet)");
  if (pt.length <= FKO_RAND_VAL_SIZE || pt[FKO_RAND_VAL_SIZE] !== 0x3a)
    return fail(Reject.DecryptFailed, "decrypted data is not an SPA message (wrong key or mode?)");
  for (let i = 0; i < FKO_RAND_VAL_SIZE; i++) {
    const c = pt[i] ?? 0;
    if (c < 0x30 || c > 0x39)
      return fail(
        Reject.DecryptFailed,
        "decrypted data is not an SPA message (wrong key or mode?)",
      );
  }
  return decodeSpaPlaintext(pt.toString("latin1"));
}

/** HMAC, then decrypt, then decode. */
export function openSpaPacket(wire: string, keys: SpaKeys): Result<OpenedSpa> {
  const checked = verifySpaHmac(wire, keys.mode, keys.hmac);
  if (!checked.ok) return checked;
  const decoded = decryptSpaCiphertext(checked.value, keys.mode, keys.key);
  if (!decoded.ok) return decoded;
  return ok({ ...decoded.value, mode: keys.mode, hmacType: keys.hmac?.type ?? null });
}

/**
 * GPG packets (lib/fko_encryption.c:gpg_encrypt, then fko_spa_data_final): the engine's binary
 * OpenPGP message in, the wire out. The HMAC covers the full b64 text, prefix included, as C.
 */
export function finishGpgPacket(
  encoded: EncodedSpa,
  blob: Uint8Array,
  hmac: HmacSpec | null,
): MadePacket {
  if (hmac !== null && hmac.key.length > MAX_DIGEST_BLOCK_LEN)
    throw new FkoError("FKO_ERROR_INVALID_HMAC_KEY_LEN", "HMAC key", `${hmac.key.length} bytes`);
  const ciphertextB64 = b64NoPad(blob);
  const mac = hmac === null ? null : hmacB64(hmac.type, hmac.key, ciphertextB64);
  const wire = gpgWireBody(ciphertextB64) + (mac ?? "");
  if (ciphertextB64.length >= MAX_SPA_ENCODED_MSG_SIZE || wire.length >= MAX_SPA_ENCODED_MSG_SIZE)
    throw new FkoError(
      "FKO_ERROR_INVALID_DATA_ENCRYPT_GPG_RESULT_MSGLEN_VALIDFAIL",
      "encrypted message",
      `${wire.length} chars: at most ${MAX_SPA_ENCODED_MSG_SIZE - 1} (use a smaller key, e.g. RSA 2048 or Curve25519)`,
    );
  return { wire, ciphertextB64, hmac: mac, encoded };
}

/**
 * Step 1 of opening a GPG packet (lib/fko_hmac.c:fko_verify_hmac, add_gpg_prefix): the full b64
 * texts the wire may stand for (see gpgCiphertextCandidates), and with an HMAC only the one it
 * authenticates. C's reading ("hQ" put back) is checked first, so an HMAC mismatch reads as in C.
 */
export function verifyGpgHmac(wire: string, hmac: HmacSpec | null): Result<string[]> {
  if (wire.length < MIN_SPA_ENCODED_MSG_SIZE || wire.length >= MAX_SPA_ENCODED_MSG_SIZE)
    return fail(Reject.WireLength, `length ${wire.length}`);
  const n = hmac === null ? 0 : digestInfo(hmac.type).b64Len;
  if (wire.length - n < MIN_SPA_ENCODED_MSG_SIZE)
    return fail(Reject.HmacLength, "too short for its HMAC");
  const body = wire.slice(0, wire.length - n);
  if (!isBase64Text(body)) return fail(Reject.NotBase64, "not base64");
  if (hmac !== null) {
    const received = wire.slice(wire.length - n);
    const cText = body.startsWith(B64_GPG_PREFIX) ? body : B64_GPG_PREFIX + body;
    const text = hmacMatches(hmac.type, hmac.key, cText, received)
      ? cText
      : gpgCiphertextCandidates(body).find((c) => hmacMatches(hmac.type, hmac.key, c, received));
    if (text === undefined) return fail(Reject.HmacMismatch, "HMAC does not match");
    const bytes = b64DecodeCanonical(text);
    return bytes !== null && isOpenPgpPkMessage(bytes)
      ? ok([text])
      : fail(Reject.NotOpenPgp, "authentic, but not an OpenPGP public-key message");
  }
  const candidates = gpgCiphertextCandidates(body);
  return candidates.length === 0
    ? fail(Reject.NotOpenPgp, "not an OpenPGP public-key message")
    : ok(candidates);
}

/** Step 3 (lib/fko_encryption.c:gpg_decrypt, then fko_decode_spa_data): gpg's plaintext to fields. */
export function decodeGpgPlaintext(plaintext: Uint8Array): Result<DecodedSpa> {
  const nul = plaintext.indexOf(0);
  // C reads the plaintext as a C string: it ends at the first NUL.
  const text = Buffer.from(nul < 0 ? plaintext : plaintext.subarray(0, nul)).toString("latin1");
  return decodeSpaPlaintext(text);
}
