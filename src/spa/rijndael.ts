/**
 * Rijndael as libfko does it (lib/cipher_funcs.c): always AES-256, key and IV from the user key used
 * as a *password* with an 8-byte salt through OpenSSL's EVP_BytesToKey(MD5, 1 round), PKCS#7
 * padding in every mode, and the blob "Salted__" || salt || ciphertext, as `openssl enc -md md5`.
 */
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import {
  RIJNDAEL_BLOCKSIZE,
  RIJNDAEL_MAX_KEYSIZE,
  RIJNDAEL_MIN_KEYSIZE,
  RIJNDAEL_SALT_MAGIC,
  SALT_LEN,
  encModeInfo,
  type EncMode,
} from "./constants.js";
import { InternalError } from "../errors.js";

export type RijndaelMode = Exclude<EncMode, "asymmetric">;

const MAGIC = Buffer.from(RIJNDAEL_SALT_MAGIC, "latin1");

/**
 * lib/cipher_funcs.c:rij_salt_and_iv. Legacy mode (pre-2.5 peers) first right-pads a password
 * shorter than 16 bytes with ASCII '0'.
 */
export function deriveKeyIv(
  password: Uint8Array,
  salt: Uint8Array,
  mode: RijndaelMode,
): { key: Buffer; iv: Buffer } {
  let pw = Buffer.from(password);
  if (mode === "legacy" && pw.length < RIJNDAEL_MIN_KEYSIZE) {
    pw = Buffer.concat([pw, Buffer.alloc(RIJNDAEL_MIN_KEYSIZE - pw.length, 0x30)]);
  }
  const out = Buffer.alloc(RIJNDAEL_MAX_KEYSIZE + RIJNDAEL_BLOCKSIZE);
  let prev = Buffer.alloc(0);
  for (let off = 0; off < out.length; off += 16) {
    prev = createHash("md5").update(prev).update(pw).update(salt).digest();
    prev.copy(out, off);
  }
  return { key: out.subarray(0, 32), iv: out.subarray(32, 48) };
}

function pkcs7Pad(data: Buffer): Buffer {
  const n = RIJNDAEL_BLOCKSIZE - (data.length % RIJNDAEL_BLOCKSIZE);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

/** null when the padding is malformed (libfko silently keeps such bytes; we refuse them). */
function pkcs7Unpad(data: Buffer): Buffer | null {
  const n = data[data.length - 1];
  if (n === undefined || n < 1 || n > RIJNDAEL_BLOCKSIZE || n > data.length) return null;
  for (let i = data.length - n; i < data.length; i++) if (data[i] !== n) return null;
  return data.subarray(0, data.length - n);
}

/**
 * Legacy mode keeps lib/cipher_funcs.c:rij_decrypt's rule: a last byte n of 0..16 whose last n
 * bytes all equal n is padding and goes; otherwise nothing goes. Old clients sent unpadded
 * plaintexts of whole blocks (upstream's "Android 4.1.2" packet), which C grants. Whatever is
 * kept must still decode as a printable message with a matching digest, as in C.
 */
function legacyUnpad(data: Buffer): Buffer {
  const n = data[data.length - 1] ?? 0;
  if (n > RIJNDAEL_BLOCKSIZE) return data;
  for (let i = data.length - n; i < data.length; i++) if (data[i] !== n) return data;
  return data.subarray(0, data.length - n);
}

function cipherName(mode: RijndaelMode): string {
  const node = encModeInfo(mode).node;
  if (node === null) throw new InternalError(`${mode} is not a Rijndael mode`);
  return node;
}

/** lib/cipher_funcs.c:rij_encrypt. The salt comes from the caller (injected randomness). */
export function rijndaelEncrypt(
  plaintext: Buffer,
  password: Uint8Array,
  mode: RijndaelMode,
  salt: Uint8Array,
): Buffer {
  if (salt.length !== SALT_LEN) throw new InternalError("salt must be 8 bytes");
  const { key, iv } = deriveKeyIv(password, salt, mode);
  const c = createCipheriv(cipherName(mode), key, mode === "ecb" ? null : iv);
  c.setAutoPadding(false);
  const body = Buffer.concat([c.update(pkcs7Pad(plaintext)), c.final()]);
  return Buffer.concat([MAGIC, salt, body]);
}

/**
 * lib/cipher_funcs.c:rij_decrypt; the salt is bytes 8..15. Returns null when the blob cannot be a
 * ciphertext, the padding is malformed (in modes other than legacy, see legacyUnpad), or the
 * "Salted__" magic is wrong. C does not check the magic, but part of it rides in the first wire
 * character, so without the check an attacker can alter that character and get a new wire string
 * (a new replay digest) for the same ciphertext. Every client writes the magic, so checking it
 * refuses nothing real.
 */
export function rijndaelDecrypt(
  blob: Buffer,
  password: Uint8Array,
  mode: RijndaelMode,
): Buffer | null {
  if (blob.length < 2 * RIJNDAEL_BLOCKSIZE || blob.length % RIJNDAEL_BLOCKSIZE !== 0) return null;
  if (!blob.subarray(0, SALT_LEN).equals(MAGIC)) return null;
  const salt = blob.subarray(SALT_LEN, 2 * SALT_LEN);
  const { key, iv } = deriveKeyIv(password, salt, mode);
  const d = createDecipheriv(cipherName(mode), key, mode === "ecb" ? null : iv);
  d.setAutoPadding(false);
  const padded = Buffer.concat([d.update(blob.subarray(2 * SALT_LEN)), d.final()]);
  return mode === "legacy" ? legacyUnpad(padded) : pkcs7Unpad(padded);
}
