/**
 * The fwknop client. main() returns the exit code (0 ok, 1 error, as the C client) and takes its
 * clock, randomness and environment as arguments, so tests run it in-process.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { FwknopTsError, UsageError, exitStatusOf } from "../errors.js";
import {
  FKO_PROTOCOL_VERSION,
  generateKeys,
  makeSpaPacket,
  openSpaPacket,
  type GeneratedKeys,
  type GpgEngine,
  type MadePacket,
  type RandomBytes,
  type Result,
} from "../spa/index.js";
import {
  buildRequest,
  type BuiltRequest,
  type GpgRequest,
  type KeyKind,
} from "../client/build-packet.js";
import { defaultClientConfig, isRawProto, type ClientConfig } from "../client/config.js";
import { dumpSpaFields } from "../client/dump.js";
import {
  gpgBinaryLoader,
  gpgDumpFields,
  makeGpgPacket,
  selfOpenGpg,
  type SelfOpened,
} from "../client/gpg-packet.js";
import { CLIENT_OPTIONS } from "../client/options.js";
import { refuseWithConnect, settleConnect } from "../client/options/connect.js";
import type { ConnectIo } from "../client/connect.js";
import { askSecret, askYesNo, readKeyFromFd } from "../client/prompt.js";
import { applyArgv, applyCommandLine, loadRcFile, rcPath } from "../client/resolve-options.js";
import { lastArgs, saveArgs } from "../client/saved-args.js";
import { DEFAULT_USER_AGENT, FWKNOP_TS_VERSION } from "../version.js";
import { getoptLong } from "../argv/getopt.js";

export interface ClientDeps extends ConnectIo {
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

/** One run: the settings (flags, rc file), then keys (--key-gen) or a packet made and sent. */
async function run(argv: readonly string[], deps: ClientDeps, again = false): Promise<number> {
  const { opts } = getoptLong(argv, CLIENT_OPTIONS, "fwknop");
  const cfg = defaultClientConfig();
  applyArgv(cfg, opts, true);
  // --connect: stdout carries the relayed bytes only (ssh's ProxyCommand reads it).
  if (cfg.connect !== null) deps = { ...deps, out: deps.err };
  refuseWithConnect(cfg);
  if (cfg.showHelp || cfg.showVersion) return printHelpOrVersion(cfg, deps);
  if (cfg.showLast || (cfg.lastCmd && !again)) return runLastCommand(cfg, deps);
  loadRcFile(cfg, deps);
  if (cfg.stanzaList) return 0;
  const rcValues = applyCommandLine(cfg, opts);
  settleConnect(cfg);
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
    await saveStanza(cfg, rcValues, keys, deps);
    if (keys !== null) return 0;
  }
  if (keys !== null) return writeKeys(cfg, keys, deps);
  await resolveAllowIp(cfg, deps);
  return knock(argv, cfg, deps);
}

async function printHelpOrVersion(cfg: ClientConfig, deps: ClientDeps): Promise<number> {
  if (cfg.showHelp) deps.out((await import("../client/help.js")).clientHelp());
  else
    deps.out(
      `fwknop client ${FWKNOP_TS_VERSION} (fwknop-ts), FKO protocol version ${FKO_PROTOCOL_VERSION}\n`,
    );
  return 0;
}

/** --show-last prints the saved line; -l runs it again, split on white space (no quoting, as C). */
async function runLastCommand(cfg: ClientConfig, deps: ClientDeps): Promise<number> {
  const line = lastArgs(cfg, deps.homeDir);
  if (cfg.showLast) {
    deps.out(`Last fwknop client command line: ${line}\n`);
    return 0;
  }
  const words = line.split(/\s+/).slice(1);
  deps.out(`Running with last known args: ${words.join(" ")}\n`);
  return run(words, deps, true);
}

/** --save-rc-stanza: this command line's settings (and --key-gen's keys) into the rc stanza. */
async function saveStanza(
  cfg: ClientConfig,
  rcValues: Map<string, string>,
  keys: GeneratedKeys | null,
  deps: ClientDeps,
): Promise<void> {
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
        (deps.askYesNo ?? askYesNo)(`Variable '${v}' found in stanza '${st}'. Overwrite [N/y] ? `),
      ),
    cfg.forceStanza,
  );
  if (keys !== null) deps.out(`[+] Wrote Rijndael and HMAC keys to rc file: ${path}\n`);
  else deps.out(`[+] Saved arguments to stanza [${stanza}] in ${path}\n`);
}

/** --key-gen without --save-rc-stanza: the keys to -K's file, or printed. */
function writeKeys(cfg: ClientConfig, keys: GeneratedKeys, deps: ClientDeps): number {
  const text = `KEY_BASE64: ${keys.keyBase64}\nHMAC_KEY_BASE64: ${keys.hmacKeyBase64}\n`;
  if (cfg.keyGenFile !== null) {
    writeFileSync(cfg.keyGenFile, text, { mode: 0o600 });
    deps.out(`[+] Wrote Rijndael and HMAC keys to: ${cfg.keyGenFile}\n`);
  } else deps.out(text);
  return 0;
}

/** -R: this host's external address from a resolver, unless the command line gave one. */
async function resolveAllowIp(cfg: ClientConfig, deps: ClientDeps): Promise<void> {
  if (!cfg.resolveIp || cfg.allowIp !== null) return;
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

/** A packet made, with what made it: the -T self-check opens it again the same way. */
interface Packet {
  req: BuiltRequest;
  engine: GpgEngine | null;
  made: MadePacket;
}

/** Make the packet; show it (-T, -v), save it (-B) and the arguments; self-check it or send it. */
async function knock(
  argv: readonly string[],
  cfg: ClientConfig,
  deps: ClientDeps,
): Promise<number> {
  if (cfg.destination === null && !cfg.test)
    throw new UsageError("Must use --destination unless --test mode is used", "-D");
  const packet = await makePacket(cfg, deps);
  if (cfg.connectToken && packet.req.keys.hmac === null)
    throw new UsageError(
      "--connect-token needs an HMAC key (--key-hmac, -H ...)",
      "--connect-token",
    );
  if (cfg.test || cfg.verbose > 0) deps.out(dumpMadePacket(packet));
  if (cfg.savePacketFile !== null) savePacket(cfg.savePacketFile, cfg.savePacketAppend, packet);
  saveArgs(argv, cfg, deps.homeDir, deps.err);
  if (cfg.verbose > 0) {
    deps.out(
      `\nGenerating SPA packet:\n            protocol: ${cfg.serverProto}\n` +
        `         source port: ${packet.req.sourcePort ?? "<OS assigned>"}\n` +
        `    destination port: ${packet.req.serverPort}\n` +
        `             IP/host: ${cfg.destination ?? "<none>"}\n`,
    );
  }
  if (cfg.test) return selfCheck(cfg, packet, deps);
  await sendPacket(cfg, packet, deps);
  if (cfg.connect === null) return 0;
  const { connectAfterKnock } = await import("../client/connect.js");
  return connectAfterKnock(cfg, cfg.connect, packet, deps);
}

/** The request from the settings (asking for keys not given), then the packet: Rijndael or gpg. */
async function makePacket(cfg: ClientConfig, deps: ClientDeps): Promise<Packet> {
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
  return { req, engine, made };
}

function dumpMadePacket({ req, made }: Packet): string {
  return dumpSpaFields({
    fields: made.encoded.fields,
    digestType: made.encoded.digestType,
    hmacType: req.keys.hmac?.type ?? null,
    mode: req.keys.mode,
    encoded: made.encoded.encoded,
    digest: made.encoded.digest,
    hmac: made.hmac,
    finalData: made.wire,
    ...(req.gpg !== null ? { gpg: gpgDumpFields(req.gpg) } : {}),
  });
}

/** -B FILE (replaced), with -b appended to. */
function savePacket(file: string, append: boolean, { made }: Packet): void {
  if (append) appendFileSync(file, `${made.wire}\n`);
  else {
    if (existsSync(file)) unlinkSync(file);
    writeFileSync(file, `${made.wire}\n`);
  }
}

/** -T: not sent; like the C client, decode our own packet again to prove it is sound. */
async function selfCheck(
  cfg: ClientConfig,
  { req, engine, made }: Packet,
  deps: ClientDeps,
): Promise<number> {
  deps.out("test mode enabled, SPA packet not actually sent.\n");
  const back: Result<SelfOpened> | null =
    req.gpg === null || engine === null
      ? openSpaPacket(made.wire, req.keys)
      : await selfOpenGpg(made.wire, req, req.gpg, engine, deps.err);
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

/** Over -P's transport to -D, port -p (or -r's random one), from -S's source port if given. */
async function sendPacket(
  cfg: ClientConfig,
  { req, made }: Packet,
  deps: ClientDeps,
): Promise<void> {
  const proto = cfg.serverProto;
  const target = { host: cfg.destination ?? "", port: req.serverPort, sourcePort: req.sourcePort };
  let sent: number;
  // Loaded when needed: start-up time is most of a knock's wall time (bench/client.ts); the raw
  // modes' koffi and libc only for them.
  if (isRawProto(proto)) {
    const { sendRaw } = await import("../client/raw/send.js");
    const { spoofSource, icmpType, icmpCode } = cfg;
    sent = await sendRaw(
      { ...target, mode: proto, sourcePort: req.sourcePort ?? 0, spoofSource, icmpType, icmpCode },
      made.wire,
      deps.random,
    );
  } else {
    const { sendHttp, sendTcp, sendUdp } = await import("../client/transport.js");
    if (proto === "udp") sent = await sendUdp(made.wire, target);
    else if (proto === "tcp") sent = await sendTcp(made.wire, target);
    else
      sent = await sendHttp(made.wire, target, cfg.userAgent ?? DEFAULT_USER_AGENT, cfg.httpProxy);
  }
  if (cfg.verbose > 0) deps.out(`send_spa_packet: bytes sent: ${sent}\n`);
}

export async function main(
  argv: readonly string[],
  deps: ClientDeps = defaultClientDeps(),
): Promise<number> {
  try {
    return await run(argv, deps);
  } catch (e) {
    if (e instanceof FwknopTsError) {
      const msg = e.message.startsWith("fwknop") ? e.message : `fwknop: ${e.message}`;
      deps.err(`${msg}\n`);
      // The client keeps C's status 1 for every failure of the user's or the machine's (scripts
      // test for it); only a bug of ours differs (errors.ts).
      return e.blame === "internal" ? exitStatusOf(e) : 1;
    }
    throw e;
  }
}
