/**
 * The client's options, declared once: flag spellings (client/cmd_opts.h), the ~/.fwknoprc variable
 * each maps to (client/config_init.c:fko_var_array), how the value is read, and the help line.
 * Options of later issues fail with an error that says so instead of being silently ignored.
 */
import {
  MAX_CLIENT_TIMEOUT,
  MAX_PORT,
  parseDigestName,
  parseEncMode,
  type DigestName,
} from "../spa/index.js";
import type { OptSpec } from "../argv/getopt.js";
import type { ClientConfig, ServerProto } from "./config.js";

/** Raises the error that fits where the value came from (flag or rc file line). */
export type Bad = (message: string) => never;
type Setter = (cfg: ClientConfig, value: string, bad: Bad) => void;

export interface ClientOption extends OptSpec {
  /** The ~/.fwknoprc variable, if any. */
  rc?: string;
  metavar?: string;
  group: "access" | "transport" | "crypto" | "gpg" | "rc" | "output";
  help: string;
  set: Setter;
  /** Flags read before the rc file (client/config_init.c first pass). */
  early?: boolean;
  /** On the command line (not in the rc file) this also turns GPG on, as in C. */
  impliesGpg?: boolean;
}

/** rc booleans: only the first character counts, Y or y means yes (client/config_init.c). */
export function rcBool(value: string): boolean {
  return value.charAt(0).toUpperCase() === "Y";
}

function int(value: string, min: number, max: number, what: string, bad: Bad): number {
  if (!/^[0-9]+$/.test(value)) bad(`${what} must be a number, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) bad(`${what} ${value} out of range [${min}-${max}]`);
  return n;
}

function digest(value: string, bad: Bad): DigestName {
  const d = parseDigestName(value);
  if (d === undefined)
    bad(`Invalid digest type: ${value}, use {md5,sha1,sha256,sha384,sha512,sha3_256,sha3_512}`);
  return d;
}

/** client/fwknop.c:parse_time_offset: up to 8 digits, at most 65536, then an optional m/h/d. */
function timeOffset(value: string, bad: Bad): number {
  const m = /^([0-9]{1,8})([mhdMHD]?)$/.exec(value);
  if (m === null) bad(`Invalid time offset: '${value}' (use N, Nm, Nh or Nd)`);
  const n = Number(m[1]);
  if (n > 65536) bad(`Invalid time offset: '${value}' (at most 65536 before the unit)`);
  const unit = (m[2] ?? "").toLowerCase();
  return n * (unit === "m" ? 60 : unit === "h" ? 3600 : unit === "d" ? 86400 : 1);
}

const PROTOS: readonly ServerProto[] = ["udp", "tcp", "http", "udpraw", "tcpraw", "icmp"];

/** For options whose feature comes with a later issue. */
function later(what: string, instead: string): Setter {
  return (_cfg, _v, bad) => {
    bad(`${what} is not supported yet; ${instead}`);
  };
}

/** The settings whose type is exactly T. */
type KeysOf<T> = {
  [K in keyof ClientConfig]: [ClientConfig[K]] extends [T]
    ? [T] extends [ClientConfig[K]]
      ? K
      : never
    : never;
}[keyof ClientConfig];

/** A text setting. */
const text =
  (key: KeysOf<string | null>): Setter =>
  (cfg, v) => {
    cfg[key] = v;
  };

/** A yes/no setting: a bare flag on the command line, Y/N in the rc file. */
const onOff =
  (key: KeysOf<boolean>): Setter =>
  (cfg, v) => {
    cfg[key] = v === "" ? true : rcBool(v);
  };

/** A port number 1..65535. */
const portNum =
  (key: KeysOf<number | null> | KeysOf<number>, what: string): Setter =>
  (cfg, v, bad) => {
    cfg[key] = int(v, 1, MAX_PORT, what, bad);
  };

export const CLIENT_OPTIONS: readonly ClientOption[] = [
  // What to ask for
  {
    long: "access",
    short: "A",
    arg: "required",
    rc: "ACCESS",
    metavar: "PROTO/PORT[,...]",
    group: "access",
    help: "Ports to open on the server, e.g. 'tcp/22' or 'tcp/22,udp/53'.",
    set: text("access"),
  },
  {
    long: "allow-ip",
    short: "a",
    arg: "required",
    rc: "ALLOW_IP",
    metavar: "IP",
    group: "access",
    help: "IP address to allow, placed inside the packet.",
    set: (c, v) => {
      // The rc file may say "source" (-s) or "resolve" (-R) here (client/config_init.c).
      if (v === "source") c.sourceIp = true;
      else if (v === "resolve") c.resolveIp = true;
      else c.allowIp = v;
    },
  },
  {
    long: "source-ip",
    short: "s",
    arg: "none",
    group: "access",
    help: "Let the server use the packet's source address (sends 0.0.0.0).",
    set: onOff("sourceIp"),
  },
  {
    long: "resolve-ip-https",
    short: "R",
    arg: "none",
    rc: "RESOLVE_IP_HTTPS",
    group: "access",
    help: "Find this host's external IP through an HTTPS resolver.",
    set: onOff("resolveIp"),
  },
  {
    long: "resolve-ip-http",
    arg: "none",
    rc: "RESOLVE_IP_HTTP",
    group: "access",
    help: "Same as -R.",
    set: onOff("resolveIp"),
  },
  {
    long: "resolve-http-only",
    arg: "none",
    rc: "RESOLVE_HTTP_ONLY",
    group: "access",
    help: "Resolve the external IP over plain HTTP.",
    set: (c, v) => {
      c.resolveHttpOnly = v === "" || rcBool(v);
      if (c.resolveHttpOnly) c.resolveIp = true;
    },
  },
  {
    long: "resolve-url",
    arg: "required",
    rc: "RESOLVE_URL",
    metavar: "URL",
    group: "access",
    help: "Resolver URL for -R.",
    set: (c, v) => {
      c.resolveUrl = v;
      c.resolveIp = true;
    },
  },
  {
    long: "server-cmd",
    short: "C",
    arg: "required",
    metavar: "CMD",
    group: "access",
    help: "Ask the server to run CMD (type-0 command message).",
    set: text("serverCmd"),
  },
  {
    long: "nat-access",
    short: "N",
    arg: "required",
    rc: "NAT_ACCESS",
    metavar: "HOST:PORT",
    group: "access",
    help: "Ask for NAT access to an internal HOST:PORT.",
    set: text("natAccess"),
  },
  {
    long: "nat-local",
    arg: "none",
    rc: "NAT_LOCAL",
    group: "access",
    help: "Ask for a local NAT to a service on the server itself.",
    set: onOff("natLocal"),
  },
  {
    long: "nat-port",
    arg: "required",
    rc: "NAT_PORT",
    metavar: "PORT",
    group: "access",
    help: "Port to request in place of the -A port for NAT.",
    set: portNum("natPort", "NAT port"),
  },
  {
    long: "nat-rand-port",
    arg: "none",
    rc: "NAT_RAND_PORT",
    group: "access",
    help: "Like --nat-port with a random port (printed).",
    set: onOff("natRandPort"),
  },
  {
    long: "fw-timeout",
    short: "f",
    arg: "required",
    rc: "FW_TIMEOUT",
    metavar: "SECS",
    group: "access",
    help: `Ask for access lasting SECS seconds (0..${MAX_CLIENT_TIMEOUT}).`,
    set: (c, v, bad) => {
      // The C client allows up to 131072 here, but no fwknopd decodes more than 65536.
      c.fwTimeout = int(v, 0, MAX_CLIENT_TIMEOUT, "firewall timeout", bad);
    },
  },
  {
    long: "spoof-user",
    short: "U",
    arg: "required",
    rc: "SPOOF_USER",
    metavar: "USER",
    group: "access",
    help: "Username to put in the packet (default: the local user).",
    set: text("spoofUser"),
  },
  {
    long: "time-offset-plus",
    arg: "required",
    metavar: "N[m|h|d]",
    group: "access",
    help: "Add time to the packet's timestamp.",
    set: (c, v, bad) => {
      c.timeOffset = timeOffset(v, bad);
    },
  },
  {
    long: "time-offset-minus",
    arg: "required",
    metavar: "N[m|h|d]",
    group: "access",
    help: "Subtract time from the packet's timestamp.",
    set: (c, v, bad) => {
      c.timeOffset = -timeOffset(v, bad);
    },
  },
  {
    long: "time-offset",
    arg: "required",
    rc: "TIME_OFFSET",
    group: "access",
    help: "",
    set: (c, v, bad) => {
      c.timeOffset = v.startsWith("-") ? -timeOffset(v.slice(1), bad) : timeOffset(v, bad);
    },
  },
  // Where and how to send it
  {
    long: "destination",
    short: "D",
    arg: "required",
    rc: "SPA_SERVER",
    metavar: "HOST",
    group: "transport",
    help: "Host name or IP address of the fwknop server.",
    set: text("destination"),
  },
  {
    long: "server-port",
    short: "p",
    arg: "required",
    rc: "SPA_SERVER_PORT",
    metavar: "PORT",
    group: "transport",
    help: "Destination port (default 62201).",
    set: portNum("serverPort", "server port"),
  },
  {
    long: "server-proto",
    short: "P",
    arg: "required",
    rc: "SPA_SERVER_PROTO",
    metavar: "PROTO",
    group: "transport",
    help: "udp (default), tcp or http; udpraw, tcpraw and icmp come later.",
    set: (c, v, bad) => {
      const p = v.toLowerCase() as ServerProto;
      if (!PROTOS.includes(p))
        bad(`Unrecognized protocol: ${v} (use udp, tcp, http, udpraw, tcpraw or icmp)`);
      if (p === "udpraw" || p === "tcpraw" || p === "icmp")
        bad(`-P ${p} (raw sockets) is not supported yet; use -P udp, tcp or http`);
      c.serverProto = p;
    },
  },
  {
    long: "source-port",
    short: "S",
    arg: "required",
    rc: "SPA_SOURCE_PORT",
    metavar: "PORT",
    group: "transport",
    help: "Source port for the outgoing packet.",
    set: portNum("sourcePort", "source port"),
  },
  {
    long: "rand-port",
    short: "r",
    arg: "none",
    rc: "RAND_PORT",
    group: "transport",
    help: "Send to a random destination port (10000-65534).",
    set: onOff("randPort"),
  },
  {
    long: "spoof-source",
    short: "Q",
    arg: "required",
    rc: "SPOOF_SOURCE_IP",
    metavar: "IP",
    group: "transport",
    help: "Spoof the source address (raw modes only).",
    set: later("-Q (spoofed source)", "it needs the raw modes, which come later"),
  },
  {
    long: "spoof-src",
    arg: "required",
    group: "transport",
    help: "",
    set: later("-Q (spoofed source)", "it needs the raw modes, which come later"),
  },
  {
    long: "http-proxy",
    short: "H",
    arg: "required",
    metavar: "HOST[:PORT]",
    group: "transport",
    help: "Send over HTTP through this proxy (port: :PORT, else the SPA port).",
    set: (c, v) => {
      c.httpProxy = v.replace(/^http:\/\//, "");
      c.serverProto = "http";
    },
  },
  {
    long: "user-agent",
    short: "u",
    arg: "required",
    rc: "HTTP_USER_AGENT",
    metavar: "UA",
    group: "transport",
    help: "User-Agent for -P http (default Fwknop/<version>).",
    set: text("userAgent"),
  },
  {
    long: "icmp-type",
    arg: "required",
    group: "transport",
    help: "ICMP type for -P icmp.",
    set: later("--icmp-type", "-P icmp comes later"),
  },
  {
    long: "icmp-code",
    arg: "required",
    group: "transport",
    help: "ICMP code for -P icmp.",
    set: later("--icmp-code", "-P icmp comes later"),
  },
  {
    long: "server-resolve-ipv4",
    arg: "none",
    rc: "SERVER_RESOLVE_IPV4",
    group: "transport",
    help: "Use only IPv4 addresses for the server name.",
    set: () => undefined,
  },
  {
    long: "wget-cmd",
    short: "w",
    arg: "required",
    rc: "WGET_CMD",
    group: "transport",
    help: "Accepted for compatibility; the resolver needs no wget.",
    set: () => undefined,
  },
  {
    long: "use-wget-user-agent",
    arg: "none",
    rc: "USE_WGET_USER_AGENT",
    group: "transport",
    help: "Accepted for compatibility; the resolver needs no wget.",
    set: () => undefined,
  },
  // Cryptography and keys
  {
    long: "digest-type",
    short: "m",
    arg: "required",
    rc: "DIGEST_TYPE",
    metavar: "TYPE",
    group: "crypto",
    help: "Inner digest: md5, sha1, sha256 (default), sha384, sha512, sha3_256, sha3_512.",
    set: (c, v, bad) => {
      c.digestType = digest(v, bad);
    },
  },
  {
    long: "encryption-mode",
    short: "M",
    arg: "required",
    rc: "ENCRYPTION_MODE",
    metavar: "MODE",
    group: "crypto",
    help: "CBC (default), ECB, CFB, OFB, CTR, legacy, or Asymmetric (GPG); must match the server.",
    set: (c, v, bad: Bad) => {
      const m = parseEncMode(v);
      if (m === undefined)
        bad(`Invalid encryption mode: ${v}, use {CBC,ECB,CFB,OFB,CTR,legacy,Asymmetric}`);
      c.encMode = m;
    },
  },
  {
    long: "use-hmac",
    arg: "none",
    rc: "USE_HMAC",
    group: "crypto",
    help: "Authenticate the packet with an HMAC (recommended).",
    set: onOff("useHmac"),
  },
  {
    long: "hmac-digest-type",
    arg: "required",
    rc: "HMAC_DIGEST_TYPE",
    metavar: "TYPE",
    group: "crypto",
    help: "HMAC algorithm (default sha256); implies --use-hmac.",
    set: (c, v, bad) => {
      c.hmacType = digest(v, bad);
      c.useHmac = true;
    },
  },
  {
    long: "key-rijndael",
    arg: "required",
    rc: "KEY",
    metavar: "KEY",
    group: "crypto",
    help: "Rijndael key as text (visible to 'ps': prefer the rc file).",
    set: text("keyRaw"),
  },
  {
    long: "key-base64-rijndael",
    arg: "required",
    rc: "KEY_BASE64",
    metavar: "B64",
    group: "crypto",
    help: "Rijndael key, base64 encoded.",
    set: text("keyBase64"),
  },
  {
    long: "key-hmac",
    arg: "required",
    rc: "HMAC_KEY",
    metavar: "KEY",
    group: "crypto",
    help: "HMAC key as text; implies --use-hmac.",
    set: (c, v) => {
      c.hmacKeyRaw = v;
      c.useHmac = true;
    },
  },
  {
    long: "key-base64-hmac",
    arg: "required",
    rc: "HMAC_KEY_BASE64",
    metavar: "B64",
    group: "crypto",
    help: "HMAC key, base64 encoded; implies --use-hmac.",
    set: (c, v) => {
      c.hmacKeyBase64 = v;
      c.useHmac = true;
    },
  },
  {
    long: "get-key",
    short: "G",
    arg: "required",
    rc: "KEY_FILE",
    metavar: "FILE",
    group: "crypto",
    help: "Read the Rijndael key from a key file.",
    set: text("keyFile"),
  },
  {
    long: "get-hmac-key",
    arg: "required",
    rc: "HMAC_KEY_FILE",
    metavar: "FILE",
    group: "crypto",
    help: "Read the HMAC key from a key file.",
    set: (c, v) => {
      // C stores the rc HMAC_KEY_FILE in the encryption key field (parse_rc_param); we do not.
      c.hmacKeyFile = v;
      c.useHmac = true;
    },
  },
  {
    long: "stdin",
    arg: "none",
    group: "crypto",
    help: "Read the key from standard input.",
    set: onOff("keyFromStdin"),
  },
  {
    long: "fd",
    arg: "required",
    group: "crypto",
    help: "Read the key from this file descriptor.",
    set: (c, v, bad) => {
      c.keyFd = int(v, 0, 65535, "--fd", bad);
    },
  },
  {
    long: "key-gen",
    short: "k",
    arg: "none",
    group: "crypto",
    help: "Print a new Rijndael key and HMAC key, then exit.",
    set: onOff("keyGen"),
  },
  {
    long: "key-gen-file",
    short: "K",
    arg: "required",
    metavar: "FILE",
    group: "crypto",
    help: "Write new keys to FILE (implies --key-gen).",
    set: (c, v) => {
      c.keyGen = true;
      c.keyGenFile = v;
    },
  },
  {
    long: "key-len",
    arg: "required",
    metavar: "BYTES",
    group: "crypto",
    help: "Rijndael key length for --key-gen (1..32, default 32).",
    set: (c, v, bad) => {
      c.keyLen = int(v, 1, 32, "key length", bad);
    },
  },
  {
    long: "hmac-key-len",
    arg: "required",
    metavar: "BYTES",
    group: "crypto",
    help: "HMAC key length for --key-gen (1..128).",
    set: (c, v, bad) => {
      c.hmacKeyLen = int(v, 1, 128, "HMAC key length", bad);
      c.useHmac = true;
    },
  },
  // GPG (client/config_init.c: on the command line each of these also sets use_gpg)
  {
    long: "gpg-encryption",
    short: "g",
    arg: "none",
    rc: "USE_GPG",
    group: "gpg",
    help: "Encrypt with GPG instead of Rijndael (needs --gpg-recipient-key).",
    impliesGpg: true,
    set: onOff("useGpg"),
  },
  {
    long: "gpg-recipient-key",
    arg: "required",
    rc: "GPG_RECIPIENT",
    metavar: "ID",
    group: "gpg",
    help: "The server's GPG key (id, fingerprint or user id) to encrypt to.",
    impliesGpg: true,
    set: text("gpgRecipient"),
  },
  {
    long: "gpg-signer-key",
    arg: "required",
    rc: "GPG_SIGNER",
    metavar: "ID",
    group: "gpg",
    help: "Your GPG key to sign with (the server usually requires a signature).",
    impliesGpg: true,
    set: text("gpgSigner"),
  },
  {
    long: "gpg-home-dir",
    arg: "required",
    rc: "GPG_HOMEDIR",
    metavar: "DIR",
    group: "gpg",
    help: "GPG home directory (default ~/.gnupg).",
    impliesGpg: true,
    set: (c, v) => {
      // client/config_init.c chops one trailing '/'.
      c.gpgHomeDir = v.length > 1 && v.endsWith("/") ? v.slice(0, -1) : v;
    },
  },
  {
    long: "gpg-exe",
    arg: "required",
    rc: "GPG_EXE",
    metavar: "PATH",
    group: "gpg",
    help: "The gpg program (default /usr/bin/gpg).",
    impliesGpg: true,
    set: text("gpgExe"),
  },
  {
    long: "gpg-agent",
    arg: "none",
    rc: "USE_GPG_AGENT",
    group: "gpg",
    help: "Let gpg-agent supply the signing passphrase.",
    impliesGpg: true,
    set: onOff("useGpgAgent"),
  },
  {
    long: "gpg-no-signing-pw",
    arg: "none",
    rc: "GPG_NO_SIGNING_PW",
    group: "gpg",
    help: "The signing key has no passphrase: do not ask for one.",
    impliesGpg: true,
    set: onOff("gpgNoSigningPw"),
  },
  // rc file and argument history
  {
    long: "named-config",
    short: "n",
    arg: "required",
    metavar: "STANZA",
    group: "rc",
    help: "Use the named stanza of the rc file.",
    early: true,
    set: text("namedConfig"),
  },
  {
    long: "rc-file",
    arg: "required",
    metavar: "FILE",
    group: "rc",
    help: "The rc file (default ~/.fwknoprc; created when missing).",
    early: true,
    set: text("rcFile"),
  },
  {
    long: "no-rc-file",
    arg: "none",
    group: "rc",
    help: "Do not read or create an rc file.",
    early: true,
    set: onOff("noRcFile"),
  },
  {
    long: "no-home-dir",
    arg: "none",
    group: "rc",
    help: "Do not look up the home directory (needs --rc-file and -E).",
    early: true,
    set: onOff("noHomeDir"),
  },
  {
    long: "save-rc-stanza",
    arg: "none",
    group: "rc",
    help: "Save this command line's settings to the rc file stanza.",
    early: true,
    set: onOff("saveRcStanza"),
  },
  {
    long: "force-stanza",
    arg: "none",
    group: "rc",
    help: "With --save-rc-stanza, overwrite keys without asking.",
    early: true,
    set: onOff("forceStanza"),
  },
  {
    long: "stanza-list",
    arg: "none",
    group: "rc",
    help: "List the rc file's stanzas.",
    early: true,
    set: onOff("stanzaList"),
  },
  {
    long: "save-args-file",
    short: "E",
    arg: "required",
    metavar: "FILE",
    group: "rc",
    help: "Where to save the arguments (default ~/.fwknop.run).",
    early: true,
    set: text("saveArgsFile"),
  },
  {
    long: "no-save-args",
    arg: "none",
    rc: "NO_SAVE_ARGS",
    group: "rc",
    help: "Do not save the arguments to ~/.fwknop.run.",
    early: true,
    set: onOff("noSaveArgs"),
  },
  {
    long: "last-cmd",
    short: "l",
    arg: "none",
    group: "rc",
    help: "Run again with the arguments saved last time.",
    early: true,
    set: onOff("lastCmd"),
  },
  {
    long: "show-last",
    arg: "none",
    group: "rc",
    help: "Show the arguments saved last time.",
    early: true,
    set: onOff("showLast"),
  },
  // Output
  {
    long: "test",
    short: "T",
    arg: "none",
    group: "output",
    help: "Build and show the packet, do not send it.",
    set: onOff("test"),
  },
  {
    long: "save-packet",
    short: "B",
    arg: "required",
    metavar: "FILE",
    group: "output",
    help: "Write the packet to FILE (replacing it).",
    set: text("savePacketFile"),
  },
  {
    long: "save-packet-append",
    short: "b",
    arg: "none",
    group: "output",
    help: "With -B, append instead of replacing.",
    set: onOff("savePacketAppend"),
  },
  {
    long: "verbose",
    short: "v",
    arg: "none",
    rc: "VERBOSE",
    group: "output",
    help: "More output (repeatable).",
    early: true,
    set: (c, v) => {
      if (v === "") c.verbose++;
      else c.verbose = /^[0-9]+$/.test(v) ? Number(v) : rcBool(v) ? 1 : 0;
    },
  },
  {
    long: "version",
    short: "V",
    arg: "none",
    group: "output",
    help: "Print the version and exit.",
    early: true,
    set: onOff("showVersion"),
  },
  {
    long: "help",
    short: "h",
    arg: "none",
    group: "output",
    help: "Print this help and exit.",
    early: true,
    set: onOff("showHelp"),
  },
];

/**
 * rc variables with no command-line twin: the GPG signing passphrase, which C keeps in the KEY
 * buffer (client/config_init.c:parse_rc_param), so it is the same setting as KEY / KEY_BASE64.
 */
export const RC_ONLY_OPTIONS: ReadonlyMap<string, Setter> = new Map<string, Setter>([
  ["GPG_SIGNING_PW", text("keyRaw")],
  [
    "GPG_SIGNING_PW_BASE64",
    (c, v, bad) => {
      if (!/^[A-Za-z0-9+/=]+$/.test(v))
        bad("GPG_SIGNING_PW_BASE64 doesn't look like base64-encoded data");
      c.keyBase64 = v;
    },
  ],
]);

export const OPTION_BY_RC = new Map<string, ClientOption>(
  CLIENT_OPTIONS.filter((o) => o.rc !== undefined).map((o) => [o.rc ?? "", o]),
);
