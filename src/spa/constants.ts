/**
 * Protocol constants of fwknop 2.6 / libfko, named after their C counterparts so that a grep maps
 * this code to upstream (lib/fko.h, lib/fko_limits.h, lib/rijndael.h, common/common.h).
 * Spec: shared/docs/fwknop-reference.md §1.
 */
import { InternalError } from "../errors.js";

export const FKO_PROTOCOL_VERSION = "3.0.0";
export const FKO_DEFAULT_PORT = 62201;

/** lib/fko.h: fko_message_type_t; names as common/fko_util.c:msg_type_inttostr prints them. */
export const FKO_COMMAND_MSG = 0;
export const FKO_ACCESS_MSG = 1;
export const FKO_NAT_ACCESS_MSG = 2;
export const FKO_CLIENT_TIMEOUT_ACCESS_MSG = 3;
export const FKO_CLIENT_TIMEOUT_NAT_ACCESS_MSG = 4;
export const FKO_LOCAL_NAT_ACCESS_MSG = 5;
export const FKO_CLIENT_TIMEOUT_LOCAL_NAT_ACCESS_MSG = 6;
export type MessageType = 0 | 1 | 2 | 3 | 4 | 5 | 6;

export const MESSAGE_TYPE_NAMES: Readonly<Record<MessageType, string>> = {
  0: "Command msg",
  1: "Access msg",
  2: "NAT access msg",
  3: "Client timeout access msg",
  4: "Client timeout NAT access msg",
  5: "Local NAT access msg",
  6: "Client timeout local NAT access msg",
};

export function isNatType(t: MessageType): boolean {
  return t === 2 || t === 4 || t === 5 || t === 6;
}

export function hasTimeoutField(t: MessageType): boolean {
  return t === 3 || t === 4 || t === 6;
}

/**
 * The type the encoder actually writes: lib/fko_client_timeout.c:fko_set_spa_client_timeout flips
 * 1<->3, 2<->4 and 5<->6 by whether a timeout is set; commands (0) never carry one.
 */
export function effectiveMessageType(t: MessageType, clientTimeout: number): MessageType {
  const on = clientTimeout > 0;
  switch (t) {
    case 1:
    case 3:
      return on ? 3 : 1;
    case 2:
    case 4:
      return on ? 4 : 2;
    case 5:
    case 6:
      return on ? 6 : 5;
    case 0:
      return 0;
  }
}

/** Digest and HMAC algorithms share ids (lib/fko.h: fko_digest_type_t, fko_hmac_type_t). */
export type DigestName = "md5" | "sha1" | "sha256" | "sha384" | "sha512" | "sha3_256" | "sha3_512";

export interface DigestInfo {
  readonly id: number;
  readonly name: DigestName;
  /** Label in the C client's -v dump (common/fko_util.c). */
  readonly label: string;
  /** Node's crypto algorithm name. */
  readonly node: string;
  readonly rawLen: number;
  /** Length of the b64 text without '=' padding (lib/md5.h, sha1.h, sha2.h, sha3.h *_B64_LEN). */
  readonly b64Len: number;
  /** The HMAC block size B of RFC 2104 (OpenSSL's EVP_MD_get_block_size; for SHA-3, the rate). */
  readonly blockLen: number;
  /** Default HMAC key length for key generation (lib/fko_funcs.c:fko_key_gen); 0 = none. */
  readonly defaultHmacKeyLen: number;
}

export const DIGESTS: readonly DigestInfo[] = [
  {
    id: 1,
    name: "md5",
    label: "MD5",
    node: "md5",
    rawLen: 16,
    b64Len: 22,
    blockLen: 64,
    defaultHmacKeyLen: 16,
  },
  {
    id: 2,
    name: "sha1",
    label: "SHA1",
    node: "sha1",
    rawLen: 20,
    b64Len: 27,
    blockLen: 64,
    defaultHmacKeyLen: 20,
  },
  {
    id: 3,
    name: "sha256",
    label: "SHA256",
    node: "sha256",
    rawLen: 32,
    b64Len: 43,
    blockLen: 64,
    defaultHmacKeyLen: 64,
  },
  {
    id: 4,
    name: "sha384",
    label: "SHA384",
    node: "sha384",
    rawLen: 48,
    b64Len: 64,
    blockLen: 128,
    defaultHmacKeyLen: 128,
  },
  {
    id: 5,
    name: "sha512",
    label: "SHA512",
    node: "sha512",
    rawLen: 64,
    b64Len: 86,
    blockLen: 128,
    defaultHmacKeyLen: 128,
  },
  {
    id: 6,
    name: "sha3_256",
    label: "SHA3_256",
    node: "sha3-256",
    rawLen: 32,
    b64Len: 43,
    blockLen: 136,
    defaultHmacKeyLen: 0,
  },
  {
    id: 7,
    name: "sha3_512",
    label: "SHA3_512",
    node: "sha3-512",
    rawLen: 64,
    b64Len: 86,
    blockLen: 72,
    defaultHmacKeyLen: 0,
  },
];

export const FKO_DEFAULT_DIGEST: DigestName = "sha256";
export const FKO_DEFAULT_HMAC_MODE: DigestName = "sha256";

const DIGEST_BY_NAME = new Map<DigestName, DigestInfo>(DIGESTS.map((d) => [d.name, d]));

export function digestInfo(name: DigestName): DigestInfo {
  const d = DIGEST_BY_NAME.get(name);
  if (d === undefined) throw new InternalError(`unknown digest ${name}`);
  return d;
}

/** common/fko_util.c:digest_strtoint, case-insensitive. */
export function parseDigestName(s: string): DigestName | undefined {
  const lower = s.toLowerCase();
  return DIGEST_BY_NAME.has(lower as DigestName) ? (lower as DigestName) : undefined;
}

/** lib/fko.h: fko_encryption_mode_t; PCBC (4) is deliberately absent: upstream never implemented it. */
export type EncMode = "ecb" | "cbc" | "cfb" | "ofb" | "ctr" | "asymmetric" | "legacy";

export interface EncModeInfo {
  readonly id: number;
  readonly mode: EncMode;
  /** Spelling used by the C tools in config files and -v output (common/fko_util.c:fko_enc_mode_strs). */
  readonly label: string;
  /** Node cipher for the Rijndael modes. */
  readonly node: string | null;
}

export const ENC_MODES: readonly EncModeInfo[] = [
  { id: 1, mode: "ecb", label: "ECB", node: "aes-256-ecb" },
  { id: 2, mode: "cbc", label: "CBC", node: "aes-256-cbc" },
  { id: 3, mode: "cfb", label: "CFB", node: "aes-256-cfb" },
  { id: 5, mode: "ofb", label: "OFB", node: "aes-256-ofb" },
  { id: 6, mode: "ctr", label: "CTR", node: "aes-256-ctr" },
  { id: 7, mode: "asymmetric", label: "Asymmetric", node: null },
  { id: 8, mode: "legacy", label: "legacy", node: "aes-256-cbc" },
];

export const FKO_DEFAULT_ENC_MODE: EncMode = "cbc";

const MODE_BY_NAME = new Map<EncMode, EncModeInfo>(ENC_MODES.map((m) => [m.mode, m]));

export function encModeInfo(mode: EncMode): EncModeInfo {
  const m = MODE_BY_NAME.get(mode);
  if (m === undefined) throw new InternalError(`unknown mode ${mode}`);
  return m;
}

/** Case-insensitive, as common/fko_util.c:enc_mode_strtoint ("legacy" and "Asymmetric" included). */
export function parseEncMode(s: string): EncMode | undefined {
  const lower = s.toLowerCase();
  return MODE_BY_NAME.has(lower as EncMode) ? (lower as EncMode) : undefined;
}

/** lib/fko_limits.h and friends. */
export const MIN_SPA_ENCODED_MSG_SIZE = 36;
/** fwknopd ignores payloads shorter than this (server/fwknopd_common.h:MIN_SPA_DATA_SIZE). */
export const MIN_SPA_DATA_SIZE = 140;
export const MAX_SPA_ENCODED_MSG_SIZE = 1500;
export const MAX_SPA_CMD_LEN = 1400;
export const MAX_SPA_USERNAME_SIZE = 64;
export const MAX_SPA_MESSAGE_SIZE = 256;
export const MAX_SPA_NAT_ACCESS_SIZE = 128;
export const MAX_SPA_SERVER_AUTH_SIZE = 64;
export const MAX_SPA_TIMESTAMP_SIZE = 12;
/** The largest timestamp libfko decodes: it reads the field into a C int (fko_decode.c). */
export const MAX_SPA_TIMESTAMP = 2 ** 31 - 1;
export const MAX_SPA_VERSION_SIZE = 8;
export const MAX_SPA_MESSAGE_TYPE_SIZE = 2;
export const MIN_SPA_FIELDS = 6;
export const MAX_SPA_FIELDS = 9;
export const MIN_GNUPG_MSG_SIZE = 400;
export const MAX_IPV4_STR_LEN = 16;
export const MIN_IPV4_STR_LEN = 7;
export const MAX_PROTO_STR_LEN = 4;
export const MAX_PORT_STR_LEN = 5;
export const MAX_PORT = 65535;
export const MAX_HOSTNAME_LEN = 70;
export const FKO_RAND_VAL_SIZE = 16;
export const RIJNDAEL_MAX_KEYSIZE = 32;
export const RIJNDAEL_MIN_KEYSIZE = 16;
export const RIJNDAEL_BLOCKSIZE = 16;
export const SALT_LEN = 8;
/** lib/hmac.h: libfko accepts HMAC keys up to this many bytes. */
export const MAX_DIGEST_BLOCK_LEN = 136;
/** common/common.h: the client's key buffers. */
export const MAX_KEY_LEN = 128;
/** lib/fko_client_timeout.c / fko_decode.c:parse_client_timeout cap (2 << 15). */
export const MAX_CLIENT_TIMEOUT = 65536;
/** lib/fko.h: B64_RIJNDAEL_SALT and B64_GPG_PREFIX, dropped on the wire and restored on receipt. */
export const B64_RIJNDAEL_SALT = "U2FsdGVkX1";
export const B64_GPG_PREFIX = "hQ";
export const RIJNDAEL_SALT_MAGIC = "Salted__";
/** lib/fko_funcs.c:fko_key_gen default encryption key length. */
export const FKO_DEFAULT_KEY_LEN = 32;
