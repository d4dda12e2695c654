/**
 * Fields -> ENCODED (+ digest): lib/fko_encode.c:fko_encode_spa_data, with the setter checks of
 * lib/fko_user.c, fko_message.c, fko_nat_access.c, fko_server_auth.c, fko_client_timeout.c applied
 * up front. Throws FkoError on a value libfko would refuse: these are the caller's mistakes.
 */
import { b64NoPad } from "./base64.js";
import {
  FKO_RAND_VAL_SIZE,
  MAX_CLIENT_TIMEOUT,
  MAX_SPA_ENCODED_MSG_SIZE,
  MAX_SPA_MESSAGE_SIZE,
  MAX_SPA_NAT_ACCESS_SIZE,
  MAX_SPA_SERVER_AUTH_SIZE,
  MAX_SPA_TIMESTAMP_SIZE,
  MAX_SPA_USERNAME_SIZE,
  MAX_SPA_VERSION_SIZE,
  MIN_SPA_ENCODED_MSG_SIZE,
  effectiveMessageType,
  isNatType,
  type DigestName,
} from "./constants.js";
import { digestB64 } from "./digest.js";
import { FkoError } from "./fko-errors.js";
import type { SpaFields } from "./fields.js";
import {
  validateAccessMsg,
  validateCmdMsg,
  validateNatAccessMsg,
  validateUsername,
} from "./validate.js";

const toB64 = (s: string): string => b64NoPad(Buffer.from(s, "latin1"));

export interface EncodedSpa {
  /** The fields as written, after the 1<->3 / 2<->4 / 5<->6 switch. */
  fields: SpaFields;
  encoded: string;
  digestType: DigestName;
  digest: string;
  /** ENCODED ":" DIGEST, the text that gets encrypted. */
  plaintext: string;
}

/** lib/fko_user.c:fko_set_username keeps at most 63 bytes of a locally set name. */
export function truncateUsername(name: string): string {
  return name.slice(0, MAX_SPA_USERNAME_SIZE - 1);
}

export function encodeSpaFields(input: SpaFields, digestType: DigestName): EncodedSpa {
  const f: SpaFields = {
    ...input,
    username: truncateUsername(input.username),
    messageType: effectiveMessageType(input.messageType, input.clientTimeout),
  };

  if (!/^[0-9]+$/.test(f.rand) || f.rand.length !== FKO_RAND_VAL_SIZE)
    throw new FkoError("FKO_ERROR_INVALID_DATA", "random value", "must be 16 digits");
  const userErr = validateUsername(f.username);
  if (userErr !== null) throw new FkoError(userErr, "username", JSON.stringify(f.username));
  if (
    !Number.isSafeInteger(f.timestamp) ||
    f.timestamp < 0 ||
    String(f.timestamp).length > MAX_SPA_TIMESTAMP_SIZE
  )
    throw new FkoError("FKO_ERROR_INVALID_DATA_TIMESTAMP_VALIDFAIL", "timestamp", `${f.timestamp}`);
  if (f.version.length === 0 || f.version.length > MAX_SPA_VERSION_SIZE || f.version.includes(":"))
    throw new FkoError("FKO_ERROR_INVALID_DATA", "version");

  if (f.message.length === 0) throw new FkoError("FKO_ERROR_INVALID_DATA_MESSAGE_EMPTY", "message");
  if (f.message.length >= MAX_SPA_MESSAGE_SIZE)
    throw new FkoError("FKO_ERROR_DATA_TOO_LARGE", "message");
  const msgErr = f.messageType === 0 ? validateCmdMsg(f.message) : validateAccessMsg(f.message);
  if (msgErr !== null) throw new FkoError(msgErr, "message", JSON.stringify(f.message));

  if (isNatType(f.messageType)) {
    if (f.natAccess === null || f.natAccess.length === 0)
      throw new FkoError("FKO_ERROR_INVALID_DATA_NAT_EMPTY", "NAT access");
    if (f.natAccess.length >= MAX_SPA_NAT_ACCESS_SIZE)
      throw new FkoError("FKO_ERROR_DATA_TOO_LARGE", "NAT access");
    const natErr = validateNatAccessMsg(f.natAccess);
    if (natErr !== null) throw new FkoError(natErr, "NAT access", JSON.stringify(f.natAccess));
  } else if (f.natAccess !== null) {
    // C would append it anyway, and its own decoder would then read it as server auth.
    throw new FkoError("FKO_ERROR_INVALID_SPA_NAT_ACCESS_MSG", "NAT access", "not a NAT message");
  }

  if (f.serverAuth !== null) {
    if (f.serverAuth.length === 0 || f.serverAuth.length >= MAX_SPA_SERVER_AUTH_SIZE)
      throw new FkoError("FKO_ERROR_INVALID_DATA_SRVAUTH_MISSING", "server auth");
  }
  if (!Number.isInteger(f.clientTimeout) || f.clientTimeout < 0)
    throw new FkoError("FKO_ERROR_INVALID_DATA", "client timeout");
  if (f.clientTimeout > MAX_CLIENT_TIMEOUT)
    // The C client lets 131072 through and its own decoder then refuses the packet.
    throw new FkoError("FKO_ERROR_INVALID_DATA", "client timeout", `at most ${MAX_CLIENT_TIMEOUT}`);
  if (f.messageType === 0) f.clientTimeout = 0;

  const parts = [
    f.rand,
    toB64(f.username),
    String(f.timestamp),
    f.version,
    String(f.messageType),
    toB64(f.message),
  ];
  if (f.natAccess !== null) parts.push(toB64(f.natAccess));
  if (f.serverAuth !== null) parts.push(toB64(f.serverAuth));
  if (f.clientTimeout > 0) parts.push(String(f.clientTimeout));
  const encoded = parts.join(":");
  if (encoded.length < MIN_SPA_ENCODED_MSG_SIZE || encoded.length >= MAX_SPA_ENCODED_MSG_SIZE)
    throw new FkoError("FKO_ERROR_INVALID_DATA_ENCODE_MSGLEN_VALIDFAIL", "encoded message");

  const digest = digestB64(digestType, encoded);
  return { fields: f, encoded, digestType, digest, plaintext: `${encoded}:${digest}` };
}
