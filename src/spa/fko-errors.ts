/**
 * The libfko error numbers and texts a C fwknop user recognises ("Error 95 - Invalid key length").
 * Numbers follow the order of fko_error_codes_t in lib/fko.h (FKO_SUCCESS = 0); texts follow
 * lib/fko_error.c:fko_errstr. Only the codes this implementation can produce are listed.
 */
import { FwknopTsError } from "../errors.js";

const FKO_ERRORS = {
  FKO_ERROR_INVALID_DATA: [4, "Args contain invalid data"],
  FKO_ERROR_INVALID_DATA_ENCODE_MSGLEN_VALIDFAIL: [44, ""],
  FKO_ERROR_INVALID_DATA_ENCRYPT_PTLEN_VALIDFAIL: [50, ""],
  FKO_ERROR_INVALID_DATA_ENCRYPT_RESULT_MSGLEN_VALIDFAIL: [51, ""],
  FKO_ERROR_INVALID_DATA_ENCRYPT_GPG_MSGLEN_VALIDFAIL: [58, ""],
  FKO_ERROR_INVALID_DATA_ENCRYPT_GPG_RESULT_MSGLEN_VALIDFAIL: [59, ""],
  FKO_ERROR_INVALID_DATA_ENCRYPT_TYPE_UNKNOWN: [65, ""],
  FKO_ERROR_INVALID_DATA_FUNCS_GEN_KEYLEN_VALIDFAIL: [68, ""],
  FKO_ERROR_INVALID_DATA_FUNCS_GEN_HMACLEN_VALIDFAIL: [69, ""],
  FKO_ERROR_INVALID_DATA_MESSAGE_TYPE_VALIDFAIL: [79, ""],
  FKO_ERROR_INVALID_DATA_MESSAGE_EMPTY: [80, ""],
  FKO_ERROR_INVALID_DATA_MESSAGE_CMD_MISSING: [81, ""],
  FKO_ERROR_INVALID_DATA_MESSAGE_ACCESS_MISSING: [82, ""],
  FKO_ERROR_INVALID_DATA_MESSAGE_NAT_MISSING: [83, ""],
  FKO_ERROR_INVALID_DATA_NAT_EMPTY: [85, ""],
  FKO_ERROR_INVALID_DATA_SRVAUTH_MISSING: [87, ""],
  FKO_ERROR_INVALID_DATA_TIMESTAMP_VALIDFAIL: [88, ""],
  FKO_ERROR_INVALID_DATA_USER_MISSING: [89, ""],
  FKO_ERROR_INVALID_DATA_USER_FIRSTCHAR_VALIDFAIL: [90, ""],
  FKO_ERROR_INVALID_DATA_USER_REMCHAR_VALIDFAIL: [91, ""],
  FKO_ERROR_DATA_TOO_LARGE: [94, "Value or Size of the data exceeded the max allowed"],
  FKO_ERROR_INVALID_KEY_LEN: [95, "Invalid key length"],
  FKO_ERROR_INVALID_DIGEST_TYPE: [99, "Invalid digest type"],
  FKO_ERROR_INVALID_ALLOW_IP: [100, "Invalid allow IP address in the SPA message data"],
  FKO_ERROR_INVALID_SPA_COMMAND_MSG: [101, "Invalid SPA command message format"],
  FKO_ERROR_INVALID_SPA_ACCESS_MSG: [102, "Invalid SPA access message format"],
  FKO_ERROR_INVALID_SPA_NAT_ACCESS_MSG: [103, "Invalid SPA nat_access message format"],
  FKO_ERROR_INVALID_HMAC_KEY_LEN: [109, "Invalid HMAC key length"],
  FKO_ERROR_UNSUPPORTED_HMAC_MODE: [110, "Unsupported HMAC mode (default: SHA256)"],
  FKO_ERROR_UNSUPPORTED_FEATURE: [111, "Unsupported or unimplemented feature or function"],
  FKO_ERROR_MISSING_GPG_KEY_DATA: [115, "Missing GPG key data (signer or recipient not set)"],
  FKO_ERROR_GPGME_BAD_PASSPHRASE: [121, "The GPG passphrase was not valid"],
  FKO_ERROR_GPGME_ENCRYPT_SIGN: [122, "Error during the encrypt and sign operation"],
  FKO_ERROR_GPGME_DECRYPT_FAILED: [132, "Decryption operation failed"],
  FKO_ERROR_GPGME_BAD_GPG_EXE: [134, "Unable to stat the given GPG executable"],
  FKO_ERROR_GPGME_BAD_HOME_DIR: [135, "Unable to stat the given GPG home directory"],
  FKO_ERROR_GPGME_NO_SIGNATURE: [137, "Missing GPG signature"],
  FKO_ERROR_GPGME_BAD_SIGNATURE: [138, "Bad GPG signature"],
} as const satisfies Record<string, readonly [number, string]>;

export type FkoErrorName = keyof typeof FKO_ERRORS;

export function fkoErrorNumber(name: FkoErrorName): number {
  return FKO_ERRORS[name][0];
}

/** The text fko_errstr() gives; the FKO_ERROR_INVALID_DATA_* family reads "Args contain invalid data: NAME". */
export function fkoErrorText(name: FkoErrorName): string {
  const text = FKO_ERRORS[name][1];
  return text !== "" ? text : `Args contain invalid data: ${name}`;
}

/** "Error 102 - Invalid SPA access message format", as the C client prints it. */
export function fkoErrorLine(name: FkoErrorName): string {
  return `Error ${fkoErrorNumber(name)} - ${fkoErrorText(name)}`;
}

/** A refusal while building a packet: the caller gave a value libfko would not take. */
export class FkoError extends FwknopTsError {
  readonly code: string;
  /** libfko's errors reach main() only from what the user asked for (keys, fields, options). */
  readonly blame = "user";
  constructor(
    readonly fko: FkoErrorName,
    readonly field: string,
    detail?: string,
  ) {
    super(`${field}: ${fkoErrorLine(fko)}${detail !== undefined ? ` (${detail})` : ""}`);
    this.name = "FkoError";
    this.code = fko;
  }
}
