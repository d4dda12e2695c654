/**
 * The client's GPG ("Asymmetric") packets: the gpg binary as libfko checks it, encrypt-and-sign
 * into a packet, the -T self-check with the local keyring, and the dump's GPG lines. The gpg
 * adapter (and child_process with it) is loaded only when a GPG packet is made.
 */
import { existsSync } from "node:fs";
import {
  FkoError,
  Reject,
  encodeSpaFields,
  finishGpgPacket,
  fkoErrorLine,
  ok,
  verifyGpgHmac,
  type DigestName,
  type GpgEngine,
  type GpgSignature,
  type MadePacket,
  type OpenedSpa,
  type Result,
} from "../spa/index.js";
import { gpgmeSigStatus, gpgmeSigSummary, shortKeyId } from "../gpg/status.js";
import type { BuiltRequest, GpgRequest } from "./build-packet.js";
import type { GpgDumpFields } from "./dump.js";

/** gpgBinaryFor, with the gpg adapter (and child_process) loaded only for GPG packets. */
export async function gpgBinaryLoader(): Promise<(g: GpgRequest) => GpgEngine> {
  const { GpgBinary } = await import("../gpg/gpg-binary.js");
  return (g) => gpgBinaryFor(g, GpgBinary);
}

/** The gpg binary, checked first as libfko does (fko_set_gpg_exe, fko_set_gpg_home_dir stat them). */
function gpgBinaryFor(
  g: GpgRequest,
  GpgBinary: typeof import("../gpg/gpg-binary.js").GpgBinary,
): GpgEngine {
  if (!existsSync(g.exe))
    throw new FkoError("FKO_ERROR_GPGME_BAD_GPG_EXE", "fko_set_gpg_exe", g.exe);
  if (g.homeDir !== null && !existsSync(g.homeDir))
    throw new FkoError("FKO_ERROR_GPGME_BAD_HOME_DIR", "fko_set_gpg_home_dir", g.homeDir);
  // client/fwknop.c unsets GPG_AGENT_INFO unless --gpg-agent.
  const env = { ...process.env };
  if (!g.agent) delete env.GPG_AGENT_INFO;
  // With the agent a pinentry may be waiting for the user; otherwise gpg needs no one.
  return new GpgBinary({
    exe: g.exe,
    homeDir: g.homeDir,
    timeoutMs: g.agent ? 120_000 : 20_000,
    env,
  });
}

/** lib/fko_encryption.c:gpg_encrypt and fko_spa_data_final: encode, gpg, wire. */
export async function makeGpgPacket(
  req: BuiltRequest,
  g: GpgRequest,
  engine: GpgEngine,
  digestType: DigestName,
): Promise<MadePacket> {
  const encoded = encodeSpaFields(req.fields, digestType);
  let blob: Uint8Array;
  try {
    blob = await engine.encrypt({
      plaintext: encoded.plaintext,
      recipient: g.recipient,
      signer: g.signer,
      passphrase: g.passphrase,
    });
  } catch (e) {
    const { GpgError } = await import("../gpg/gpg-binary.js");
    if (!(e instanceof GpgError)) throw e;
    const fko = e.badPassphrase ? "FKO_ERROR_GPGME_BAD_PASSPHRASE" : "FKO_ERROR_GPGME_ENCRYPT_SIGN";
    // Blame gpg, not the command line: its binary, the keyring or the agent said no. C's words,
    // still a GpgError (code E_GPG), so a caller can tell it from a misused flag.
    throw new GpgError(
      `fko_spa_data_final: ${fkoErrorLine(fko)}\nGPG ERR: ${e.message}`,
      e.badPassphrase,
    );
  }
  return finishGpgPacket(encoded, blob, req.keys.hmac);
}

export type SelfOpened = OpenedSpa & { gpg?: GpgDumpFields };

/**
 * -T in GPG mode: decrypt our own packet with the local keyring, as the C client does. That
 * usually needs the recipient's secret key, which a client rarely has: C then says so and exits 1.
 */
export async function selfOpenGpg(
  wire: string,
  req: BuiltRequest,
  g: GpgRequest,
  engine: GpgEngine,
  err: (s: string) => void,
): Promise<Result<SelfOpened> | null> {
  const checked = verifyGpgHmac(wire, req.keys.hmac);
  if (!checked.ok) return checked;
  const { openGpgSpa } = await import("../gpg/open.js");
  const opened = await openGpgSpa(checked.value, engine, g.passphrase);
  if (!opened.ok && opened.reason === Reject.GpgDecrypt) {
    err(
      `fwknop: fko_decrypt_spa_data: ${fkoErrorLine("FKO_ERROR_GPGME_DECRYPT_FAILED")}\nGPG ERR: ${opened.detail}\nNo access to recipient private key?\n`,
    );
    return null;
  }
  if (!opened.ok) return opened;
  return ok({
    ...opened.value.spa,
    mode: "asymmetric",
    hmacType: req.keys.hmac?.type ?? null,
    gpg: gpgDumpFields(g, opened.value.signatures[0] ?? null),
  });
}

/**
 * The dump's GPG lines: of the packet made (sig undefined), or of the one decoded again, whose
 * fresh context knows no signer or recipient (as C prints it).
 */
export function gpgDumpFields(g: GpgRequest, sig?: GpgSignature | null): GpgDumpFields {
  return {
    signer: sig === undefined ? g.signer : null,
    recipient: sig === undefined ? g.recipient : null,
    sigVerify: true,
    ignoreSigError: false,
    sigId: sig == null ? null : shortKeyId(sig),
    sigFpr: sig?.fingerprint ?? null,
    sigSummary: sig == null ? -1 : gpgmeSigSummary(sig),
    sigStatus: sig == null ? -1 : gpgmeSigStatus(sig),
    homeDir: g.homeDir,
    exe: g.exe,
  };
}
