/**
 * The "SPA Field Values" block the C client prints with -T or -v (common/fko_util.c:
 * dump_ctx_to_buffer). Scripts parse "Final SPA Data:" and "Encoded Data:", so labels and spacing
 * are kept exactly.
 */
import {
  MESSAGE_TYPE_NAMES,
  digestInfo,
  encModeInfo,
  type DigestName,
  type EncMode,
  type SpaFields,
} from "../spa/index.js";

/** The GPG lines of the dump; "sig" fields are known only after a decryption. */
export interface GpgDumpFields {
  signer: string | null;
  recipient: string | null;
  sigVerify: boolean;
  ignoreSigError: boolean;
  sigId: string | null;
  sigFpr: string | null;
  /** GPGME's summary bits (3: valid and green), -1 when there is no signature. */
  sigSummary: number;
  /** GPGME's gpg_err_code of the signature (0: good), -1 when there is none. */
  sigStatus: number;
  homeDir: string | null;
  exe: string;
}

export interface DumpInput {
  fields: SpaFields;
  digestType: DigestName;
  hmacType: DigestName | null;
  mode: EncMode;
  encoded: string;
  digest: string;
  hmac: string | null;
  finalData: string;
  gpg?: GpgDumpFields;
}

const NULL = "<NULL>";

export function dumpSpaFields(d: DumpInput): string {
  const dg = digestInfo(d.digestType);
  const hm = d.hmacType === null ? null : digestInfo(d.hmacType);
  const mode = encModeInfo(d.mode);
  const gpg = d.mode === "asymmetric";
  return [
    "SPA Field Values:",
    "=================",
    `   Random Value: ${d.fields.rand}`,
    `       Username: ${d.fields.username}`,
    `      Timestamp: ${d.fields.timestamp}`,
    `    FKO Version: ${d.fields.version}`,
    `   Message Type: ${d.fields.messageType} (${MESSAGE_TYPE_NAMES[d.fields.messageType]})`,
    ` Message String: ${d.fields.message}`,
    `     Nat Access: ${d.fields.natAccess ?? NULL}`,
    `    Server Auth: ${d.fields.serverAuth ?? NULL}`,
    ` Client Timeout: ${d.fields.clientTimeout}`,
    `    Digest Type: ${dg.id} (${dg.label})`,
    `      HMAC Type: ${hm === null ? "0 (None)" : `${hm.id} (${hm.label})`}`,
    `Encryption Type: ${gpg ? "2 (GPG)" : "1 (Rijndael)"}`,
    `Encryption Mode: ${mode.id} (${mode.label})`,
    ...(gpg && d.gpg !== undefined ? gpgLines(d.gpg) : []),
    `   Encoded Data: ${d.encoded}`,
    `SPA Data Digest: ${d.digest}`,
    `           HMAC: ${d.hmac ?? NULL}`,
    ` Final SPA Data: ${d.finalData}`,
    "",
  ].join("\n");
}

/** common/fko_util.c:dump_ctx_to_buffer, the HAVE_LIBGPGME block. */
function gpgLines(g: GpgDumpFields): string[] {
  return [
    `     GPG signer: ${g.signer ?? NULL}`,
    `  GPG recipient: ${g.recipient ?? NULL}`,
    ` GPG sig verify: ${g.sigVerify ? "Yes" : "No"}`,
    ` GPG ignore sig: ${g.ignoreSigError ? "Yes" : "No"}`,
    `     GPG sig ID: ${g.sigId ?? NULL}`,
    `    GPG sig fpr: ${g.sigFpr ?? NULL}`,
    `GPG sig summary: ${g.sigSummary}`,
    ` GPG sig status: ${g.sigStatus}`,
    `   GPG home dir: ${g.homeDir ?? NULL}`,
    `        GPG exe: ${g.exe}`,
  ];
}
