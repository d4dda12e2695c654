/**
 * The fwknop client. main() returns the exit code (0 ok, 1 error, as the C client) and takes its
 * clock, randomness and environment as arguments, so tests run it in-process.
 */
import { randomBytes } from "node:crypto";
import { existsSync, unlinkSync, writeFileSync, appendFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { ConfigError, FwknopTsError, UsageError } from "../errors.js";
import {
  FKO_PROTOCOL_VERSION,
  FkoError,
  generateKeys,
  makeSpaPacket,
  openSpaPacket,
  type RandomBytes,
} from "../spa/index.js";
import { buildRequest } from "../client/build-packet.js";
import { defaultClientConfig, type ClientConfig } from "../client/config.js";
import { dumpSpaFields } from "../client/dump.js";
import { clientHelp } from "../client/help.js";
import { CLIENT_OPTIONS, OPTION_BY_RC, type Bad } from "../client/options.js";
import {
  createRcFileIfMissing,
  rcPermissionWarning,
  readRcFile,
  type RcEntry,
} from "../client/rc-file.js";
import { sendHttp, sendTcp, sendUdp } from "../client/transport.js";
import { DEFAULT_USER_AGENT, FWKNOP_TS_VERSION } from "../version.js";
import { getoptLong, type ParsedOpt } from "./getopt.js";

export interface ClientDeps {
  nowMs: () => number;
  random: RandomBytes;
  env: NodeJS.ProcessEnv;
  out: (s: string) => void;
  err: (s: string) => void;
  homeDir: () => string | null;
  localUser: () => string | null;
}

export function defaultClientDeps(): ClientDeps {
  return {
    nowMs: () => Date.now(),
    random: (n) => randomBytes(n),
    env: process.env,
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    homeDir: () => {
      try {
        return process.env.HOME ?? homedir();
      } catch {
        return null;
      }
    },
    localUser: () => {
      try {
        return userInfo().username;
      } catch {
        return null;
      }
    },
  };
}

function applyArgv(cfg: ClientConfig, opts: readonly ParsedOpt[], onlyEarly: boolean): void {
  for (const o of opts) {
    const opt = CLIENT_OPTIONS.find((c) => c.long === o.spec.long);
    if (opt === undefined || (onlyEarly && opt.early !== true)) continue;
    const bad: Bad = (msg) => {
      throw new UsageError(`${o.given}: ${msg}`, o.given);
    };
    opt.set(cfg, o.value ?? "", bad);
  }
}

function applyRc(cfg: ClientConfig, file: string, entries: readonly RcEntry[]): void {
  for (const e of entries) {
    const opt = OPTION_BY_RC.get(e.name);
    if (opt === undefined) continue; // rc-only GPG passphrase variables: used with GPG later
    const bad: Bad = (msg) => {
      throw new ConfigError(file, e.line, `${e.name} '${e.value}': ${msg}`);
    };
    opt.set(cfg, e.value, bad);
  }
}

function loadRcFile(cfg: ClientConfig, deps: ClientDeps): void {
  if (cfg.noRcFile) return;
  let path = cfg.rcFile;
  if (path === null) {
    const home = cfg.noHomeDir ? null : deps.homeDir();
    if (home === null)
      throw new UsageError("No home directory for ~/.fwknoprc: use --rc-file FILE or --no-rc-file");
    path = join(home, ".fwknoprc");
  }
  if (createRcFileIfMissing(path)) deps.out(`[*] Creating initial rc file: ${path}.\n`);
  const warn = rcPermissionWarning(path);
  if (warn !== null) deps.err(`${warn}\n`);
  const rc = readRcFile(path);
  applyRc(cfg, path, rc.stanzas.get("default") ?? []);
  if (cfg.namedConfig !== null) {
    const named = rc.stanzas.get(cfg.namedConfig);
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

async function run(argv: readonly string[], deps: ClientDeps): Promise<number> {
  const { opts } = getoptLong(argv, CLIENT_OPTIONS, "fwknop");
  const cfg = defaultClientConfig();
  applyArgv(cfg, opts, true);
  if (cfg.showHelp) {
    deps.out(clientHelp());
    return 0;
  }
  if (cfg.showVersion) {
    deps.out(
      `fwknop client ${FWKNOP_TS_VERSION} (fwknop-ts), FKO protocol version ${FKO_PROTOCOL_VERSION}\n`,
    );
    return 0;
  }
  loadRcFile(cfg, deps);
  applyArgv(cfg, opts, false);

  if (cfg.keyGen) {
    const keys = generateKeys(
      deps.random,
      cfg.hmacType ?? "sha256",
      cfg.keyLen ?? undefined,
      cfg.hmacKeyLen ?? undefined,
    );
    const text = `KEY_BASE64: ${keys.keyBase64}\nHMAC_KEY_BASE64: ${keys.hmacKeyBase64}\n`;
    if (cfg.keyGenFile !== null) {
      writeFileSync(cfg.keyGenFile, text, { mode: 0o600 });
      deps.out(`[+] Wrote Rijndael and HMAC keys to: ${cfg.keyGenFile}\n`);
    } else deps.out(text);
    return 0;
  }

  if (cfg.destination === null && !cfg.test)
    throw new UsageError("Must use --destination unless --test mode is used", "-D");

  const req = buildRequest(cfg, {
    nowMs: deps.nowMs(),
    random: deps.random,
    env: deps.env,
    localUser: deps.localUser(),
  });
  for (const w of req.warnings) deps.err(`${w}\n`);
  const made = makeSpaPacket(req.fields, cfg.digestType, req.keys, deps.random);
  const dump = dumpSpaFields({
    fields: made.encoded.fields,
    digestType: made.encoded.digestType,
    hmacType: req.keys.hmac?.type ?? null,
    mode: req.keys.mode,
    encoded: made.encoded.encoded,
    digest: made.encoded.digest,
    hmac: made.hmac,
    finalData: made.wire,
  });
  if (cfg.test || cfg.verbose > 0) deps.out(dump);

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
    const back = openSpaPacket(made.wire, req.keys);
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
        })}\n`,
      );
    return 0;
  }

  const target = { host: cfg.destination ?? "", port: req.serverPort, sourcePort: cfg.sourcePort };
  let sent: number;
  if (proto === "udp") sent = await sendUdp(made.wire, target);
  else if (proto === "tcp") sent = await sendTcp(made.wire, target);
  else if (proto === "http")
    sent = await sendHttp(made.wire, target, cfg.userAgent ?? DEFAULT_USER_AGENT);
  else throw new UsageError(`-P ${proto} is not supported yet; use -P udp, tcp or http`, "-P");
  if (cfg.verbose > 0) deps.out(`send_spa_packet: bytes sent: ${sent}\n`);
  return 0;
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
