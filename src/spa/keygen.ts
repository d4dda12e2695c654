/**
 * Key generation as lib/fko_funcs.c:fko_key_gen: random bytes, printed as *padded* base64.
 * HMAC key length defaults by type; SHA3 types have no default (as upstream: pass a length).
 */
import { b64Padded } from "./base64.js";
import { FKO_DEFAULT_KEY_LEN, MAX_KEY_LEN, RIJNDAEL_MAX_KEYSIZE, digestInfo } from "./constants.js";
import type { DigestName } from "./constants.js";
import { FkoError } from "./fko-errors.js";
import type { RandomBytes } from "./packet.js";

export interface GeneratedKeys {
  keyBase64: string;
  hmacKeyBase64: string;
}

export function generateKeys(
  random: RandomBytes,
  hmacType: DigestName,
  keyLen: number = FKO_DEFAULT_KEY_LEN,
  hmacKeyLen?: number,
): GeneratedKeys {
  if (!Number.isInteger(keyLen) || keyLen < 1 || keyLen > RIJNDAEL_MAX_KEYSIZE)
    throw new FkoError(
      "FKO_ERROR_INVALID_DATA_FUNCS_GEN_KEYLEN_VALIDFAIL",
      "key length",
      `${keyLen}`,
    );
  const hlen = hmacKeyLen ?? digestInfo(hmacType).defaultHmacKeyLen;
  if (!Number.isInteger(hlen) || hlen < 1 || hlen > MAX_KEY_LEN)
    throw new FkoError(
      "FKO_ERROR_INVALID_DATA_FUNCS_GEN_HMACLEN_VALIDFAIL",
      "HMAC key length",
      hmacKeyLen === undefined ? `no default for ${hmacType}: give --hmac-key-len` : `${hlen}`,
    );
  return { keyBase64: b64Padded(random(keyLen)), hmacKeyBase64: b64Padded(random(hlen)) };
}
