/**
 * From resolved client settings to the SPA fields and keys (client/fwknop.c: main, get_keys,
 * set_message_type, set_nat_access, get_rand_port). Errors name the flag to fix.
 */
import {
  FKO_PROTOCOL_VERSION,
  b64DecodeLenient,
  generateRandValue,
  isBase64Text,
  isValidHostname,
  isValidIpv4,
  type MessageType,
  type RandomBytes,
  type SpaFields,
  type SpaKeys,
} from "../spa/index.js";
import { UsageError } from "../errors.js";
import { isRawProto, type ClientConfig } from "./config.js";
import { keyFromFile } from "./key-file.js";
import { DEFAULT_GPG_EXE } from "../gpg/defaults.js";
import { ipFamily } from "./ip-literal.js";

export interface BuildContext {
  nowMs: number;
  random: RandomBytes;
  env: NodeJS.ProcessEnv;
  /** The login name of this process's user; asked only when SPOOF_USER and LOGNAME are unset. */
  localUser: () => string | null;
  /** Last resort for a key: --stdin, --fd or the terminal prompt. */
  askKey: (kind: KeyKind) => string;
}

/** Which secret a prompt asks for ("signing": the GPG signing key's passphrase). */
export type KeyKind = "encryption" | "hmac" | "signing";

/** What gpg needs to make the packet (client/fwknop.c: the use_gpg branch of main). */
export interface GpgRequest {
  recipient: string;
  signer: string | null;
  /** Fed to gpg on a pipe; null: none needed (no signer) or gpg-agent supplies it. */
  passphrase: string | null;
  homeDir: string | null;
  exe: string;
  agent: boolean;
}

export interface BuiltRequest {
  fields: SpaFields;
  keys: SpaKeys;
  /** Set in GPG mode; keys.key is then empty. */
  gpg: GpgRequest | null;
  /** Destination port after -r. */
  serverPort: number;
  /** -S, or in the raw modes without -S a random one (client/fwknop.c:main); null: the OS's. */
  sourcePort: number | null;
  warnings: string[];
}

/** lib/fko_user.c:fko_set_username source order. */
export function resolveUsername(cfg: ClientConfig, ctx: BuildContext): string {
  return (
    cfg.spoofUser ??
    nonEmpty(ctx.env.SPOOF_USER) ??
    nonEmpty(ctx.env.LOGNAME) ??
    nonEmpty(ctx.localUser()) ??
    nonEmpty(ctx.env.USER) ??
    "NO_USER"
  );
}

function nonEmpty(s: string | null | undefined): string | null {
  return s === undefined || s === null || s === "" ? null : s;
}

/** The port of a single "proto/port" access entry. */
function singlePort(access: string, flag: string): { proto: string; port: string } {
  const m = /^([a-z]+)\/([0-9]+)$/.exec(access);
  if (m === null)
    throw new UsageError(
      `NAT for multiple ports/protocols not yet supported (${flag} needs a single -A proto/port)`,
      flag,
    );
  return { proto: m[1] ?? "", port: m[2] ?? "" };
}

function decodeKey(b64: string, flag: string, maxLen: number): Buffer {
  const raw = isBase64Text(b64) ? b64DecodeLenient(b64) : null;
  if (raw === null || raw.length < 1 || raw.length > maxLen)
    throw new UsageError(`${flag}: not a valid base64 key ('${b64.slice(0, 8)}...')`, flag);
  return raw;
}

export function buildRequest(cfg: ClientConfig, ctx: BuildContext): BuiltRequest {
  const warnings: string[] = [];

  let allowIp: string;
  if (cfg.allowIp !== null) allowIp = cfg.allowIp;
  else if (cfg.sourceIp) allowIp = "0.0.0.0";
  else
    throw new UsageError(
      "Must use one of [-s|-R|-a] to specify IP for SPA access (e.g. -a 203.0.113.5, or -s to let the server use the packet's source)",
      "-a",
    );
  if (!isValidIpv4(allowIp))
    throw new UsageError(`Invalid allow IP address: '${allowIp}' (-a takes an IPv4 address)`, "-a");

  let messageType: MessageType = 1;
  let message: string;
  let natAccess: string | null = null;
  if (cfg.serverCmd !== null) {
    messageType = 0;
    message = `${allowIp},${cfg.serverCmd}`;
  } else {
    if (cfg.access === null)
      throw new UsageError("Must specify the ports to open with -A (e.g. -A tcp/22)", "-A");
    let access = cfg.access;
    let natPort = cfg.natPort;
    if (cfg.natRandPort) {
      natPort = 10000 + (Buffer.from(ctx.random(2)).readUInt16BE(0) % 55535);
      warnings.push(`[+] Randomly assigned port '${natPort}' for use with NAT access.`);
    }
    if (natPort !== null) {
      const { proto } = singlePort(access, cfg.natRandPort ? "--nat-rand-port" : "--nat-port");
      access = `${proto}/${natPort}`;
    }
    message = `${allowIp},${access}`;
    if (cfg.natLocal) {
      messageType = 5;
      if (cfg.destination === null)
        throw new UsageError("--nat-local needs the server address in -D", "--nat-local");
      natAccess = `${cfg.destination},${singlePort(cfg.access, "--nat-local").port}`;
    } else if (cfg.natAccess !== null) {
      messageType = 2;
      // client/fwknop.c:set_nat_access accepts host:port or host,port.
      const m = /^([^:,]+)[:,]([0-9]+)$/.exec(cfg.natAccess);
      const host = m?.[1] ?? "";
      if (m === null || !(isValidIpv4(host) || isValidHostname(host)))
        throw new UsageError(`Invalid NAT access spec '${cfg.natAccess}' (use -N host:port)`, "-N");
      natAccess = `${host},${m[2] ?? ""}`;
    }
  }

  if (cfg.encMode === "asymmetric" && !cfg.useGpg)
    throw new UsageError(
      "Must specify GPG recipient/signing keys when Asymmetric encryption mode is used.",
      "-M",
    );
  if (cfg.encMode === "legacy" && cfg.useHmac && !cfg.useGpg)
    throw new UsageError("Legacy encryption mode is incompatible with HMAC usage.", "-M");

  let key: Buffer;
  let gpg: GpgRequest | null = null;
  if (cfg.useGpg) {
    gpg = gpgRequest(cfg, ctx, warnings);
    key = Buffer.from(gpg.passphrase ?? "", "utf8");
  } else {
    key = rijndaelKey(cfg, ctx);
    if (cfg.encMode === "legacy" && key.length > 16) {
      warnings.push("[*] Warning: truncating encryption key in legacy mode to 16 bytes.");
      key = key.subarray(0, 16);
    }
  }

  let hmac: SpaKeys["hmac"] = null;
  if (cfg.useHmac) {
    let hkey: Buffer;
    if (cfg.hmacKeyRaw !== null) hkey = Buffer.from(cfg.hmacKeyRaw, "utf8");
    else if (cfg.hmacKeyBase64 !== null)
      hkey = decodeKey(cfg.hmacKeyBase64, "--key-base64-hmac", 128);
    else if (cfg.hmacKeyFile !== null)
      hkey = Buffer.from(keyFromFile(cfg.hmacKeyFile, cfg.destination ?? ""), "utf8");
    else hkey = Buffer.from(ctx.askKey("hmac"), "utf8");
    if (hkey.length === 0) throw new UsageError("Empty HMAC key", "--key-hmac");
    if (key.length > 0 && hkey.equals(key))
      throw new UsageError(
        "[*] The encryption passphrase and HMAC key should not be identical, no SPA packet sent. Exiting.",
        "--key-hmac",
      );
    hmac = { type: cfg.hmacType ?? "sha256", key: hkey };
  }

  checkSpoofSource(cfg);
  let rand = generateRandValue(ctx.random);
  let serverPort = cfg.serverPort;
  if (cfg.randPort) {
    // client/fwknop.c:get_rand_port derives the port from the random value, then draws a new
    // value so the packet does not reveal the port.
    serverPort = randPortOf(rand);
    rand = generateRandValue(ctx.random);
  }
  // client/fwknop.c:main: the raw modes take a random source port unless -S gave one, drawn as
  // get_rand_port draws (10000-65534), from a value the packet does not carry.
  const sourcePort =
    cfg.sourcePort ??
    (isRawProto(cfg.serverProto) ? randPortOf(generateRandValue(ctx.random)) : null);

  const fields: SpaFields = {
    rand,
    username: resolveUsername(cfg, ctx),
    timestamp: Math.floor(ctx.nowMs / 1000) + cfg.timeOffset,
    version: FKO_PROTOCOL_VERSION,
    messageType,
    message,
    natAccess,
    serverAuth: null,
    clientTimeout: cfg.fwTimeout ?? 0,
  };
  const mode = gpg !== null ? "asymmetric" : cfg.encMode;
  return {
    fields,
    keys: { mode, key: gpg !== null ? Buffer.alloc(0) : key, hmac },
    gpg,
    serverPort,
    sourcePort,
    warnings,
  };
}

/** client/fwknop.c:get_rand_port: the first five digits of a random value, onto 10000-65534. */
function randPortOf(rand: string): number {
  return 10000 + (parseInt(rand.slice(0, 5), 10) % 55535);
}

/** client/config_init.c:validate_options on -Q: an IPv4 address, and only in the raw modes. */
function checkSpoofSource(cfg: ClientConfig): void {
  if (cfg.spoofSource === null) return;
  if (!isValidIpv4(cfg.spoofSource))
    throw new UsageError(`Invalid spoof IP: '${cfg.spoofSource}' (-Q takes an IPv4 address)`, "-Q");
  if (!isRawProto(cfg.serverProto))
    throw new UsageError("Must set -P <udpraw|tcpraw|icmp> with a spoofed source IP", "-Q");
}

/** client/fwknop.c:get_keys, the encryption key: KEY, else KEY_BASE64, else -G, else a prompt. */
function rijndaelKey(cfg: ClientConfig, ctx: BuildContext): Buffer {
  let key: Buffer;
  if (cfg.keyRaw !== null) key = Buffer.from(cfg.keyRaw, "utf8");
  else if (cfg.keyBase64 !== null) key = decodeKey(cfg.keyBase64, "--key-base64-rijndael", 127);
  else if (cfg.keyFile !== null)
    key = Buffer.from(keyFromFile(cfg.keyFile, cfg.destination ?? ""), "utf8");
  else key = Buffer.from(ctx.askKey("encryption"), "utf8");
  if (key.length === 0) throw new UsageError("Empty encryption key", "--key-rijndael");
  return key;
}

/**
 * client/fwknop.c:get_keys in GPG mode: the signing passphrase comes from KEY / GPG_SIGNING_PW,
 * KEY_BASE64 / GPG_SIGNING_PW_BASE64 or -G as a Rijndael key would; else gpg-agent supplies it
 * (--gpg-agent), none is needed (--gpg-no-signing-pw, or no signer), or it is asked for.
 */
function gpgRequest(cfg: ClientConfig, ctx: BuildContext, warnings: string[]): GpgRequest {
  if (cfg.gpgRecipient === null || cfg.gpgRecipient === "")
    throw new UsageError(
      "Must specify --gpg-recipient-key when GPG is used.",
      "--gpg-recipient-key",
    );
  let passphrase: string | null;
  if (cfg.keyRaw !== null) passphrase = cfg.keyRaw;
  else if (cfg.keyBase64 !== null)
    passphrase = decodeKey(cfg.keyBase64, "GPG_SIGNING_PW_BASE64", 127).toString("utf8");
  else if (cfg.keyFile !== null) passphrase = keyFromFile(cfg.keyFile, cfg.destination ?? "");
  else if (cfg.useGpgAgent) {
    passphrase = null;
    warnings.push("[+] GPG mode set, signing passphrase acquired via gpg-agent");
  } else if (cfg.gpgNoSigningPw) {
    passphrase = "";
    warnings.push("[+] GPG mode set, signing passphrase not required");
  } else if (cfg.gpgSigner !== null) passphrase = ctx.askKey("signing");
  else passphrase = null;
  return {
    recipient: cfg.gpgRecipient,
    signer: cfg.gpgSigner,
    passphrase,
    homeDir: cfg.gpgHomeDir,
    exe: cfg.gpgExe ?? DEFAULT_GPG_EXE,
    agent: cfg.useGpgAgent,
  };
}

export function destinationFamily(host: string): 0 | 4 | 6 {
  return ipFamily(host);
}
