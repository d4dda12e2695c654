/**
 * Plaintext -> fields: lib/fko_decode.c:fko_decode_spa_data and its field parsers, in the same
 * order. Never throws: every refusal is a Result with a reason. Numeric fields are read strictly
 * (digits only) where C's strtol would also take trailing junk or a sign; no C client writes
 * either, so only forged input is affected.
 */
import { b64DecodeLenient } from "./base64.js";
import {
  FKO_RAND_VAL_SIZE,
  MAX_CLIENT_TIMEOUT,
  MAX_SPA_ENCODED_MSG_SIZE,
  MAX_SPA_FIELDS,
  MAX_SPA_MESSAGE_SIZE,
  MAX_SPA_MESSAGE_TYPE_SIZE,
  MAX_SPA_TIMESTAMP,
  MAX_SPA_TIMESTAMP_SIZE,
  MAX_SPA_USERNAME_SIZE,
  MAX_SPA_VERSION_SIZE,
  MIN_SPA_ENCODED_MSG_SIZE,
  MIN_SPA_FIELDS,
  hasTimeoutField,
  isNatType,
  type MessageType,
} from "./constants.js";
import { verifyDigest } from "./digest.js";
import type { DecodedSpa } from "./fields.js";
import { Reject, fail, ok, type Result } from "./reasons.js";
import {
  validateAccessMsg,
  validateCmdMsg,
  validateNatAccessMsg,
  validateUsername,
} from "./validate.js";

const DIGITS = /^[0-9]+$/;

/** Most ':' a message type may have after the type field, digest cut (fko_decode.c:parse_msg_type). */
function maxColonsAfterType(t: MessageType): number {
  switch (t) {
    case 0:
    case 1:
      return 2;
    case 2:
    case 3:
    case 5:
      return 3;
    case 4:
    case 6:
      return 4;
  }
}

/** A b64 field decoded to a byte string; null if it is not base64 or holds a NUL. */
function b64Field(token: string): string | null {
  const raw = b64DecodeLenient(token);
  if (raw === null || raw.includes(0)) return null;
  return raw.toString("latin1");
}

function isPrintable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

export function decodeSpaPlaintext(plaintext: string): Result<DecodedSpa> {
  const len = plaintext.length;
  if (len < MIN_SPA_ENCODED_MSG_SIZE || len >= MAX_SPA_ENCODED_MSG_SIZE)
    return fail(Reject.MsgLength, `plaintext length ${len}`);
  if (!isPrintable(plaintext)) return fail(Reject.NonAscii, "non-printable byte in plaintext");

  const parts = plaintext.split(":");
  const colons = parts.length - 1;
  if (colons < MIN_SPA_FIELDS) return fail(Reject.FieldCount, `${colons} fields`);
  // fko_decode.c:last_field stops counting at MAX_SPA_FIELDS+2; beyond that the "digest" it takes
  // would contain ':' and could never verify.
  if (colons > MAX_SPA_FIELDS + 2) return fail(Reject.FieldCount, `${colons} fields`);

  const digest = parts.pop() ?? "";
  const encoded = plaintext.slice(0, len - digest.length - 1);
  const digestType = verifyDigest(encoded, digest);
  if (digestType === null) {
    return [22, 27, 43, 64, 86].includes(digest.length)
      ? fail(Reject.DigestMismatch, "digest does not match")
      : fail(Reject.DigestType, `digest length ${digest.length}`);
  }

  // Fields 1..6 are always present (colons >= 6 leaves at least six tokens).
  const [randTok, userTok, tsTok, verTok, typeTok, msgTok] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];

  if (randTok.length < FKO_RAND_VAL_SIZE || !DIGITS.test(randTok.slice(0, FKO_RAND_VAL_SIZE)))
    return fail(Reject.RandValue, "random value");
  const rand = randTok.slice(0, FKO_RAND_VAL_SIZE);

  if (userTok.length < 1 || userTok.length > MAX_SPA_USERNAME_SIZE)
    return fail(Reject.Username, "username length");
  const username = b64Field(userTok);
  if (username === null || validateUsername(username) !== null)
    return fail(Reject.Username, "username");

  if (tsTok.length < 1 || tsTok.length > MAX_SPA_TIMESTAMP_SIZE || !DIGITS.test(tsTok))
    return fail(Reject.Timestamp, "timestamp");
  const timestamp = Number(tsTok);
  // parse_timestamp reads the field with strtol_wrapper(min 0) into an int: from 2^31 on it is
  // negative and refused (FKO_ERROR_INVALID_DATA_DECODE_TIMESTAMP_DECODEFAIL). Values from 2^32 on
  // wrap, and C takes some of them (2^32 + 5 as 5); we refuse those too rather than copy the wrap.
  if (timestamp > MAX_SPA_TIMESTAMP)
    return fail(Reject.Timestamp, `timestamp ${tsTok} is over 2^31 - 1`);

  if (verTok.length < 1 || verTok.length > MAX_SPA_VERSION_SIZE)
    return fail(Reject.Version, "version");

  if (typeTok.length < 1 || typeTok.length > MAX_SPA_MESSAGE_TYPE_SIZE || !DIGITS.test(typeTok))
    return fail(Reject.MessageType, "message type");
  const typeNum = Number(typeTok);
  if (typeNum > 6) return fail(Reject.MessageType, `message type ${typeNum}`);
  const messageType = typeNum as MessageType;
  // parts[4..] are the type and what follows it; their ':' count is parts.length - 5.
  if (parts.length - 5 > maxColonsAfterType(messageType))
    return fail(Reject.FieldCount, `too many fields for type ${messageType}`);

  if (msgTok.length < 1 || msgTok.length > MAX_SPA_MESSAGE_SIZE)
    return fail(Reject.Message, "message length");
  const message = b64Field(msgTok);
  if (message === null) return fail(Reject.Message, "message is not base64");
  if ((messageType === 0 ? validateCmdMsg(message) : validateAccessMsg(message)) !== null)
    return fail(Reject.Message, "message format");

  let next = 6;
  let natAccess: string | null = null;
  if (isNatType(messageType)) {
    const natTok = parts[next++] ?? "";
    if (natTok.length < 1 || natTok.length > MAX_SPA_MESSAGE_SIZE)
      return fail(Reject.NatAccess, "NAT access missing");
    natAccess = b64Field(natTok);
    if (natAccess === null || validateNatAccessMsg(natAccess) !== null)
      return fail(Reject.NatAccess, "NAT access format");
  }

  // fko_decode.c:parse_server_auth / parse_client_timeout: for timeout types the rest is
  // "[sa:]timeout", otherwise it is all server auth.
  const rest = parts.slice(next);
  let serverAuthTok: string | undefined;
  let timeoutTok: string | undefined;
  if (hasTimeoutField(messageType)) {
    if (rest.length === 2) [serverAuthTok, timeoutTok] = rest;
    else timeoutTok = rest[0];
  } else {
    serverAuthTok = rest[0];
  }

  let serverAuth: string | null = null;
  if (serverAuthTok !== undefined && serverAuthTok.length > 0) {
    if (serverAuthTok.length > MAX_SPA_MESSAGE_SIZE)
      return fail(Reject.ServerAuth, "server auth too long");
    serverAuth = b64Field(serverAuthTok);
    if (serverAuth === null) return fail(Reject.ServerAuth, "server auth is not base64");
  }

  let clientTimeout = 0;
  if (hasTimeoutField(messageType)) {
    if (timeoutTok === undefined || timeoutTok.length < 1)
      return fail(Reject.ClientTimeout, "client timeout missing");
    if (timeoutTok.length > MAX_SPA_MESSAGE_SIZE || !DIGITS.test(timeoutTok))
      return fail(Reject.ClientTimeout, "client timeout format");
    clientTimeout = Number(timeoutTok);
    if (clientTimeout > MAX_CLIENT_TIMEOUT)
      return fail(Reject.ClientTimeout, `client timeout ${timeoutTok}`);
  }

  return ok({
    rand,
    username,
    timestamp,
    version: verTok,
    messageType,
    message,
    natAccess,
    serverAuth,
    clientTimeout,
    digestType,
    encoded,
    digest,
  });
}
