/**
 * The fwknop client. main() returns the exit code (0 ok, 1 error, as the C client) and takes its
 * clock, randomness and environment as arguments, so tests run it in-process.
 */
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { ConfigError, FwknopTsError, UsageError } from "../errors.js";
import {
  FKO_PROTOCOL_VERSION,
  FkoError,
  Reject,
  encodeSpaFields,
  finishGpgPacket,
  fkoErrorLine,
  generateKeys,
  makeSpaPacket,
  ok,
  openSpaPacket,
  verifyGpgHmac,
  type DigestName,
  type GpgEngine,
  type GpgSignature,
  type MadePacket,
  type OpenedSpa,
  type RandomBytes,
  type Result,
} from "../spa/index.js";
import {
  buildRequest,
  type BuiltRequest,
  type GpgRequest,
  type KeyKind,
} from "../client/build-packet.js";
import { gpgmeSigStatus, gpgmeSigSummary, shortKeyId } from "../gpg/status.js";
import { defaultClientConfig, type ClientConfig } from "../client/config.js";
import { dumpSpaFields, type GpgDumpFields } from "../client/dump.js";
import {
  CLIENT_OPTIONS,
  OPTION_BY_RC,
  RC_ONLY_OPTIONS,
  type Bad,
  type ClientOption,
} from "../client/options.js";
import {
  createRcFileIfMissing,
  rcPermissionWarning,
  readRcFile,
  type RcEntry,
} from "../client/rc-file.js";
import { askSecret, askYesNo, readKeyFromFd } from "../client/prompt.js";
import { DEFAULT_USER_AGENT, FWKNOP_TS_VERSION } from "../version.js";
import { getoptLong, type ParsedOpt } from "../argv/getopt.js";

export interface ClientDeps {
  /** --stdin, --fd or the terminal, for a key not given any other way. */
  askKey?: (kind: KeyKind, cfg: ClientConfig) => string;
  /** The GPG engine for GPG mode; the gpg binary by default. */
  gpgEngine?: (req: GpgRequest) => GpgEngine;
  /** "Overwrite [N/y] ?" for --save-rc-stanza; the terminal by default. */
  askYesNo?: (question: string) => boolean;
  nowMs: () => number;
  random: RandomBytes;
  env: NodeJS.ProcessEnv;
  out: (s: string) => void;
  err: (s: string) => void;
  homeDir: () => string | null;
  localUser: () => string | null;
}

/**
 * Output straight to the descriptor: touching process.stdout on a pipe builds a net.Socket and
 * loads the socket layer, milliseconds of a client whose whole run is ~90 ms (bench/client.ts).
 * A descriptor set non-blocking by someone else can refuse a write; the stream handles that.
 */
function writeOut(fd: 1 | 2, s: string): void {
  try {
    writeSync(fd, s);
  } catch {
    (fd === 1 ? process.stdout : process.stderr).write(s);
  }
}

/**
 * node:os when first needed: a knock with HOME and LOGNAME set, the usual case, never needs it,
 * and every module loaded costs start-up time (bench/client.ts).
 */
function os(): typeof import("node:os") {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("node:os") as typeof import("node:os");
}

export function defaultClientDeps(): ClientDeps {
  return {
    nowMs: () => Date.now(),
    random: (n) => randomBytes(n),
    env: process.env,
    out: (s) => {
      writeOut(1, s);
    },
    err: (s) => {
      writeOut(2, s);
    },
    homeDir: () => {
      try {
        return process.env.HOME ?? os().homedir();
      } catch {
        return null;
      }
    },
    localUser: () => {
      try {
        return os().userInfo().username;
      } catch {
        return null;
      }
    },
  };
}

/**
 * Apply command-line options; returns the rc variables they correspond to (for
 * --save-rc-stanza), with the value as given (Y for flags).
 */
function applyArgv(
  cfg: ClientConfig,
  opts: readonly ParsedOpt<ClientOption>[],
  onlyEarly: boolean,
): Map<string, string> {
  const rcValues = new Map<string, string>();
  for (const o of opts) {
    const opt = o.spec;
    if (onlyEarly && opt.early !== true) continue;
    if (opt.rc !== undefined) rcValues.set(opt.rc, o.value ?? "Y");
    if (opt.long === "source-ip") rcValues.set("ALLOW_IP", "source");
    if (opt.impliesGpg === true && !onlyEarly) {
      cfg.useGpg = true;
      rcValues.set("USE_GPG", "Y");
    }
    const bad: Bad = (msg) => {
      throw new UsageError(`${o.given}: ${msg}`, o.given);
    };
    opt.set(cfg, o.value ?? "", bad);
  }
  return rcValues;
}

function applyRc(cfg: ClientConfig, file: string, entries: readonly RcEntry[]): void {
  for (const e of entries) {
    const set = OPTION_BY_RC.get(e.name)?.set ?? RC_ONLY_OPTIONS.get(e.name);
    if (set === undefined) continue;
    const bad: Bad = (msg) => {
      throw new ConfigError(file, e.line, `${e.name} '${e.value}': ${msg}`);
    };
    set(cfg, e.value, bad);
  }
}

function rcPath(cfg: ClientConfig, deps: ClientDeps): string {
  if (cfg.rcFile !== null) return cfg.rcFile;
  const home = cfg.noHomeDir ? null : deps.homeDir();
  if (home === null)
    throw new UsageError("No home directory for ~/.fwknoprc: use --rc-file FILE or --no-rc-file");
  return join(home, ".fwknoprc");
}

function loadRcFile(cfg: ClientConfig, deps: ClientDeps): void {
  if (cfg.noRcFile) return;
  const path = rcPath(cfg, deps);
  if (createRcFileIfMissing(path)) deps.out(`[*] Creating initial rc file: ${path}.\n`);
  const warn = rcPermissionWarning(path);
  if (warn !== null) deps.err(`${warn}\n`);
  const rc = readRcFile(path);
  applyRc(cfg, path, rc.stanzas.get("default") ?? []);
  if (cfg.stanzaList) {
    deps.out(`The following stanzas are configured in ${path} :\n`);
    for (const name of rc.stanzas.keys()) if (name !== "default") deps.out(` - ${name}\n`);
    return;
  }
  if (cfg.namedConfig !== null) {
    const named = rc.stanzas.get(cfg.namedConfig);
    // A stanza about to be created by --save-rc-stanza need not exist yet.
    if (named === undefined && cfg.saveRcStanza) return;
    if (named === undefined)
      throw new UsageError(
        `Named configuration stanza '${cfg.namedConfig}' not found in ${path}`,
        "-n",
      );
    applyRc(cfg, path, named);
  }
}

function saveArgs(argv: readonly string[], cfg: ClientConfig, deps: ClientDeps): void {
  if (cfg.noSaveArgs) return;
  const home = deps.homeDir();
  const path = cfg.saveArgsFile ?? (home === null ? null : join(home, ".fwknop.run"));
  if (path === null) return;
  try {
    writeFileSync(path, `fwknop ${argv.join(" ")}\n`, { mode: 0o600 });
  } catch (e) {
    deps.err(`[-] Could not save arguments to ${path}: ${(e as Error).message}\n`);
  }
}

function argsFile(cfg: ClientConfig, deps: ClientDeps): string | null {
  const home = deps.homeDir();
  return cfg.saveArgsFile ?? (home === null ? null : join(home, ".fwknop.run"));
}

const PROMPTS: Record<KeyKind, string> = {
  encryption: "Enter encryption key: ",
  hmac: "Enter HMAC key: ",
  signing: "Enter passphrase for signing: ",
};

/** The key prompt as the C client does it (client/getpasswd.c), or --stdin / --fd. */
function defaultAskKey(kind: KeyKind, cfg: ClientConfig): string {
  if (kind !== "hmac" && cfg.keyFromStdin) return readKeyFromFd(0);
  if (kind !== "hmac" && cfg.keyFd !== null) return readKeyFromFd(cfg.keyFd);
  return askSecret(PROMPTS[kind]);
}

async function run(argv: readonly string[], deps: ClientDeps, again = false): Promise<number> {
  const { opts } = getoptLong(argv, CLIENT_OPTIONS, "fwknop");
  const cfg = defaultClientConfig();
  applyArgv(cfg, opts, true);
  if (cfg.showHelp) {
    deps.out((await import("../client/help.js")).clientHelp());
    return 0;
  }
  if (cfg.showVersion) {
    deps.out(
      `fwknop client ${FWKNOP_TS_VERSION} (fwknop-ts), FKO protocol version ${FKO_PROTOCOL_VERSION}\n`,
    );
    return 0;
  }
  if (cfg.showLast || (cfg.lastCmd && !again)) {
    // client/fwknop.c:prev_exec: the saved line, split on white space (no quoting, as C).
    const file = argsFile(cfg, deps);
    let line = "";
    try {
      line = file === null ? "" : readFileSync(file, "latin1").trim();
    } catch {
      line = "";
    }
    if (line === "")
      throw new UsageError(`No saved arguments in ${file ?? "~/.fwknop.run"} yet`, "-l");
    if (cfg.showLast) {
      deps.out(`Last fwknop client command line: ${line}\n`);
      return 0;
    }
    const words = line.split(/\s+/).slice(1);
    deps.out(`Running with last known args: ${words.join(" ")}\n`);
    return run(words, deps, true);
  }
  loadRcFile(cfg, deps);
  if (cfg.stanzaList) return 0;
  const rcValues = applyArgv(cfg, opts, false);
  // The command line beats the rc file: -s or -R given there means no ALLOW_IP from a stanza
  // (unless -a is given there too).
  const cmdAllow = rcValues.get("ALLOW_IP");
  const cmdResolve = [
    "RESOLVE_IP_HTTPS",
    "RESOLVE_IP_HTTP",
    "RESOLVE_URL",
    "RESOLVE_HTTP_ONLY",
  ].some((v) => rcValues.has(v));
  if (cmdAllow === "source" || (cmdAllow === undefined && cmdResolve)) cfg.allowIp = null;

  // --key-gen: one pair of keys, written to the rc stanza (--save-rc-stanza) or printed.
  const keys = cfg.keyGen
    ? generateKeys(
        deps.random,
        cfg.hmacType ?? "sha256",
        cfg.keyLen ?? undefined,
        cfg.hmacKeyLen ?? undefined,
      )
    : null;

  if (cfg.saveRcStanza) {
    const stanza = cfg.namedConfig ?? cfg.destination;
    if (stanza === null)
      throw new UsageError(
        "--save-rc-stanza needs a stanza name: -n NAME or -D HOST",
        "--save-rc-stanza",
      );
    const path = rcPath(cfg, deps);
    if (keys !== null) {
      rcValues.set("KEY_BASE64", keys.keyBase64);
      rcValues.set("HMAC_KEY_BASE64", keys.hmacKeyBase64);
    }
    const { saveRcStanza } = await import("../client/rc-writer.js");
    await saveRcStanza(
      path,
      stanza,
      rcValues,
      (v, st) =>
        Promise.resolve(
          (deps.askYesNo ?? askYesNo)(
            `Variable '${v}' found in stanza '${st}'. Overwrite [N/y] ? `,
          ),
        ),
      cfg.forceStanza,
    );
    if (keys !== null) {
      deps.out(`[+] Wrote Rijndael and HMAC keys to rc file: ${path}\n`);
      return 0;
    }
    deps.out(`[+] Saved arguments to stanza [${stanza}] in ${path}\n`);
  }

  if (keys !== null) {
    const text = `KEY_BASE64: ${keys.keyBase64}\nHMAC_KEY_BASE64: ${keys.hmacKeyBase64}\n`;
    if (cfg.keyGenFile !== null) {
      writeFileSync(cfg.keyGenFile, text, { mode: 0o600 });
      deps.out(`[+] Wrote Rijndael and HMAC keys to: ${cfg.keyGenFile}\n`);
    } else deps.out(text);
    return 0;
  }

  if (cfg.resolveIp && cfg.allowIp === null) {
    const { resolveExternalIp } = await import("../client/resolve-ip.js");
    cfg.allowIp = await resolveExternalIp(
      cfg.resolveUrl,
      cfg.resolveHttpOnly,
      cfg.userAgent ?? DEFAULT_USER_AGENT,
      (l) => {
        deps.err(`${l}\n`);
      },
    );
    if (cfg.verbose > 0)
      deps.out(
        `    Resolved external IP (via ${cfg.resolveUrl ?? "default resolver"}) as: ${cfg.allowIp}\n`,
      );
  }

  if (cfg.destination === null && !cfg.test)
    throw new UsageError("Must use --destination unless --test mode is used", "-D");

  const req = buildRequest(cfg, {
    nowMs: deps.nowMs(),
    random: deps.random,
    env: deps.env,
    localUser: deps.localUser,
    askKey: (kind) => (deps.askKey ?? defaultAskKey)(kind, cfg),
  });
  for (const w of req.warnings) deps.err(`${w}\n`);
  const engine = req.gpg === null ? null : (deps.gpgEngine ?? (await gpgBinaryLoader()))(req.gpg);
  const made =
    req.gpg === null || engine === null
      ? makeSpaPacket(req.fields, cfg.digestType, req.keys, deps.random)
      : await makeGpgPacket(req, req.gpg, engine, cfg.digestType);
  if (cfg.test || cfg.verbose > 0)
    deps.out(
      dumpSpaFields({
        fields: made.encoded.fields,
        digestType: made.encoded.digestType,
        hmacType: req.keys.hmac?.type ?? null,
        mode: req.keys.mode,
        encoded: made.encoded.encoded,
        digest: made.encoded.digest,
        hmac: made.hmac,
        finalData: made.wire,
        ...(req.gpg !== null ? { gpg: gpgDumpFields(req.gpg) } : {}),
      }),
    );

  if (cfg.savePacketFile !== null) {
    if (cfg.savePacketAppend) appendFileSync(cfg.savePacketFile, `${made.wire}\n`);
    else {
      if (existsSync(cfg.savePacketFile)) unlinkSync(cfg.savePacketFile);
      writeFileSync(cfg.savePacketFile, `${made.wire}\n`);
    }
  }
  saveArgs(argv, cfg, deps);

  const proto = cfg.serverProto;
  if (cfg.verbose > 0) {
    deps.out(
      `\nGenerating SPA packet:\n            protocol: ${proto}\n` +
        `         source port: ${cfg.sourcePort ?? "<OS assigned>"}\n` +
        `    destination port: ${req.serverPort}\n` +
        `             IP/host: ${cfg.destination ?? "<none>"}\n`,
    );
  }

  if (cfg.test) {
    deps.out("test mode enabled, SPA packet not actually sent.\n");
    // Like the C client, decode our own packet again to prove it is sound.
    const back: Result<SelfOpened> | null =
      req.gpg === null || engine === null
        ? openSpaPacket(made.wire, req.keys)
        : await selfOpenGpg(made.wire, req, req.gpg, engine, deps);
    if (back === null) return 1;
    if (!back.ok) {
      deps.err(`fwknop: self-decode of the packet failed: ${back.reason} (${back.detail})\n`);
      return 1;
    }
    if (cfg.verbose > 0)
      deps.out(
        `\nDump of the Decoded Data\n${dumpSpaFields({
          fields: back.value,
          digestType: back.value.digestType,
          hmacType: back.value.hmacType,
          mode: back.value.mode,
          encoded: back.value.encoded,
          digest: back.value.digest,
          hmac: made.hmac,
          finalData: made.wire,
          ...(back.value.gpg !== undefined ? { gpg: back.value.gpg } : {}),
        })}\n`,
      );
    return 0;
  }

  const target = { host: cfg.destination ?? "", port: req.serverPort, sourcePort: cfg.sourcePort };
  let sent: number;
  // Loaded when needed: start-up time is most of a knock's wall time (bench/client.ts).
  const { sendHttp, sendTcp, sendUdp } = await import("../client/transport.js");
  if (proto === "udp") sent = await sendUdp(made.wire, target);
  else if (proto === "tcp") sent = await sendTcp(made.wire, target);
  else if (proto === "http")
    sent = await sendHttp(made.wire, target, cfg.userAgent ?? DEFAULT_USER_AGENT, cfg.httpProxy);
  else throw new UsageError(`-P ${proto} is not supported yet; use -P udp, tcp or http`, "-P");
  if (cfg.verbose > 0) deps.out(`send_spa_packet: bytes sent: ${sent}\n`);
  return 0;
}

/** gpgBinaryFor, with the gpg adapter (and child_process) loaded only for GPG packets. */
async function gpgBinaryLoader(): Promise<(g: GpgRequest) => GpgEngine> {
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
async function makeGpgPacket(
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
    throw new UsageError(`fko_spa_data_final: ${fkoErrorLine(fko)}\nGPG ERR: ${e.message}`);
  }
  return finishGpgPacket(encoded, blob, req.keys.hmac);
}

type SelfOpened = OpenedSpa & { gpg?: GpgDumpFields };

/**
 * -T in GPG mode: decrypt our own packet with the local keyring, as the C client does. That
 * usually needs the recipient's secret key, which a client rarely has: C then says so and exits 1.
 */
async function selfOpenGpg(
  wire: string,
  req: BuiltRequest,
  g: GpgRequest,
  engine: GpgEngine,
  deps: ClientDeps,
): Promise<Result<SelfOpened> | null> {
  const checked = verifyGpgHmac(wire, req.keys.hmac);
  if (!checked.ok) return checked;
  const { openGpgSpa } = await import("../gpg/open.js");
  const opened = await openGpgSpa(checked.value, engine, g.passphrase);
  if (!opened.ok && opened.reason === Reject.GpgDecrypt) {
    deps.err(
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
function gpgDumpFields(g: GpgRequest, sig?: GpgSignature | null): GpgDumpFields {
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

export async function main(
  argv: readonly string[],
  deps: ClientDeps = defaultClientDeps(),
): Promise<number> {
  try {
    return await run(argv, deps);
  } catch (e) {
    if (e instanceof FkoError || e instanceof FwknopTsError) {
      const msg = e.message.startsWith("fwknop") ? e.message : `fwknop: ${e.message}`;
      deps.err(`${msg}\n`);
      return 1;
    }
    throw e;
  }
}
