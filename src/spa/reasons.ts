/**
 * Why a packet or a field was refused. One enum for the log line, the metric label and the test
 * assertion (design.md "The hot path"). Each maps to the libfko error a C user would recognise.
 */
export const Reject = {
  WireLength: "wire_length",
  NotBase64: "not_base64",
  SaltedPrefix: "salted_prefix",
  HmacLength: "hmac_length",
  HmacMismatch: "hmac_mismatch",
  EncryptionType: "encryption_type",
  CipherDecode: "cipher_decode",
  CipherLength: "cipher_length",
  KeyLength: "key_length",
  BadPadding: "bad_padding",
  DecryptFailed: "decrypt_failed",
  MsgLength: "msg_length",
  NonAscii: "non_ascii",
  FieldCount: "field_count",
  DigestType: "digest_type",
  DigestMismatch: "digest_mismatch",
  RandValue: "rand_value",
  Username: "username",
  Timestamp: "timestamp",
  Version: "version",
  MessageType: "message_type",
  Message: "message",
  NatAccess: "nat_access",
  ServerAuth: "server_auth",
  ClientTimeout: "client_timeout",
  Unsupported: "unsupported",
  NotOpenPgp: "not_openpgp",
  GpgDecrypt: "gpg_decrypt",
} as const;

export type RejectReason = (typeof Reject)[keyof typeof Reject];

export type Result<T> =
  { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(reason: RejectReason, detail: string): Result<T> {
  return { ok: false, reason, detail };
}
