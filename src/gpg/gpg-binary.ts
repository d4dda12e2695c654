/**
 * GpgEngine on the gpg binary, where C fwknop goes through GPGME (lib/gpgme_funcs.c). Each
 * operation is one gpg run through src/exec.ts:runPiped, never a shell:
 *   --batch --no-tty --status-fd 3 [--homedir DIR]
 *   encrypt: --no-armor --trust-model always (GPGME_ENCRYPT_ALWAYS_TRUST) -r RECIPIENT
 *            [-u SIGNER --sign] --encrypt
 *   decrypt: --no-auto-key-retrieve --max-output N --decrypt (verifying any signature)
 * A passphrase goes to gpg on fd 4 (--pinentry-mode loopback --passphrase-fd 4), never in argv;
 * without one (--gpg-agent), gpg-agent supplies it. Signatures come from the status lines on fd 3
 * (src/gpg/status.ts), the way GPGME reads them.
 */
import { runPiped, type ExtraFd, type PipedResult } from "../exec.js";
import type { GpgDecryptOutcome, GpgEncryptRequest, GpgEngine } from "../spa/index.js";
import { FwknopTsError } from "../errors.js";
import { parseGpgStatus, type GpgStatus } from "./status.js";

export { DEFAULT_GPG_EXE } from "./defaults.js";

/** gpg failed to encrypt or sign: what it said, for the user. */
export class GpgError extends FwknopTsError {
  readonly code = "E_GPG";
  /** gpg itself failed (no key, no agent, a bad passphrase it was given): not a usage error. */
  readonly blame = "environment";
  constructor(
    message: string,
    /** BAD_PASSPHRASE was reported (C: FKO_ERROR_GPGME_BAD_PASSPHRASE). */
    readonly badPassphrase = false,
  ) {
    super(message);
    this.name = "GpgError";
  }
}

export interface GpgBinaryOptions {
  exe: string;
  /** --homedir; null: gpg's default (~/.gnupg or $GNUPGHOME). */
  homeDir: string | null;
  /** Per gpg run; the process is killed after it. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

/** Plaintext is at most 1500 chars; anything larger is not ours (and --max-output stops bombs). */
const MAX_PLAINTEXT = 16_384;

type Runner = typeof runPiped;

export class GpgBinary implements GpgEngine {
  constructor(
    private readonly opts: GpgBinaryOptions,
    private readonly run: Runner = runPiped,
  ) {}

  private common(passphrase: string | null): { args: string[]; fds: ExtraFd[] } {
    const args = ["--batch", "--no-tty", "--status-fd", "3"];
    if (this.opts.homeDir !== null) args.push("--homedir", this.opts.homeDir);
    const fds: ExtraFd[] = [{ read: true }];
    if (passphrase !== null) {
      args.push("--pinentry-mode", "loopback", "--passphrase-fd", "4");
      fds.push({ write: Buffer.from(`${passphrase}\n`, "utf8") });
    }
    return { args, fds };
  }

  private async gpg(
    args: string[],
    fds: ExtraFd[],
    stdin: Uint8Array,
  ): Promise<{ r: PipedResult; status: GpgStatus }> {
    const r = await this.run(this.opts.exe, args, {
      timeoutMs: this.opts.timeoutMs,
      stdin,
      extraFds: fds,
      maxOutput: 1 << 20,
      ...(this.opts.env !== undefined ? { env: this.opts.env } : {}),
    });
    return { r, status: parseGpgStatus(r.extra[0]?.toString("utf8") ?? "") };
  }

  async encrypt(req: GpgEncryptRequest): Promise<Uint8Array> {
    const { args, fds } = this.common(req.passphrase);
    args.push("--no-armor", "--trust-model", "always", "--output", "-");
    args.push("--recipient", req.recipient);
    if (req.signer !== null) args.push("--local-user", req.signer, "--sign");
    args.push("--encrypt");
    const { r, status } = await this.gpg(args, fds, Buffer.from(req.plaintext, "latin1"));
    if (r.code === 0 && r.stdout.length > 0) return r.stdout;
    throw new GpgError(
      `gpg could not ${req.signer !== null ? "sign and encrypt" : "encrypt"}: ${explain(r, status, this.opts.timeoutMs)}`,
      status.badPassphrase,
    );
  }

  async decrypt(ciphertext: Uint8Array, passphrase: string | null): Promise<GpgDecryptOutcome> {
    const { args, fds } = this.common(passphrase);
    args.push("--no-auto-key-retrieve", "--max-output", String(MAX_PLAINTEXT));
    args.push("--output", "-", "--decrypt");
    const { r, status } = await this.gpg(args, fds, ciphertext);
    // A bad or unverifiable signature makes gpg exit non-zero after a good decryption; GPGME
    // reports those as signature results, and so do we.
    if (status.decryptionOkay && !status.decryptionFailed && !r.timedOut && r.stdout.length > 0)
      return { ok: true, value: { plaintext: r.stdout, signatures: status.signatures } };
    return { ok: false, error: explain(r, status, this.opts.timeoutMs) };
  }
}

/** A one-line reason from gpg's status lines, else its last stderr line. */
function explain(r: PipedResult, st: GpgStatus, timeoutMs: number): string {
  if (r.timedOut) return `gpg did not finish within ${timeoutMs} ms`;
  if (r.code === 127) return `cannot run gpg: ${r.stderr.trim()}`;
  if (st.badPassphrase) return "bad passphrase";
  if (st.noSecretKey) return "no secret key for this message";
  if (st.invalidKey !== null) return `unusable ${st.invalidKey}`;
  const said = r.stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const last = said[said.length - 1];
  if (last !== undefined) return last;
  if (st.failures.length > 0) return st.failures.join("; ");
  return st.decryptionFailed ? "decryption failed" : `gpg exited with status ${r.code ?? "?"}`;
}
