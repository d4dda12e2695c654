/**
 * Builds test/vectors/c-client-vectors.json: SPA packets made by the installed C client
 * (Debian fwknop 2.6.10) for every encryption mode x digest x HMAC type x message type, with the
 * exact argv, the keys, the wire string and the fields the client printed. Nothing is sent (-T).
 *
 *   node --import tsx test/vectors/make-vectors.ts      (npm run vectors)
 *
 * Env: FWKNOP_C_CLIENT overrides /usr/bin/fwknop.
 *
 * What the 2.6.10 client was seen to do (run by hand before writing this):
 *
 * - `fwknop -T -v -B FILE ...` prints to stdout, in order:
 *     1. a blank line, then the "SPA Field Values:" dump of the packet it built, followed by
 *        "=================" and one `<label right-aligned to 15 chars>: <value>` line each for
 *        Random Value, Username, Timestamp, FKO Version, Message Type ("3 (Client timeout access
 *        msg)"), Message String, Nat Access, Server Auth (`<NULL>` when unset), Client Timeout,
 *        Digest Type ("3 (SHA256)"), HMAC Type ("5 (SHA512)" or "0 (None)"), Encryption Type,
 *        Encryption Mode ("2 (CBC)", "8 (legacy)"), Encoded Data, SPA Data Digest, HMAC (`<NULL>`
 *        without HMAC), Final SPA Data (the wire, HMAC included);
 *     2. a "Generating SPA packet:" block (protocol, ports, host) and "test mode enabled, SPA packet
 *        not actually sent." / "send_spa_packet: bytes sent: 0";
 *     3. "Dump of the Decoded Data" and a second dump of its own decode of the packet. It has the
 *        same values, except that Final SPA Data there is the wire WITHOUT the HMAC suffix (the
 *        HMAC is split off before decrypting).
 *   The two agree except in one case: with -C and -f the first dump shows the -f value as Client
 *   Timeout although a command message never carries one (the second dump says 0). We record the
 *   fields of the second dump (what the packet holds) after checking it against the first, and
 *   check the first dump's Final SPA Data against the -B file.
 * - -B writes the wire plus "\n" (also when the self-decode then fails).
 * - Exit 0 on success. Exit 1 when the client refuses the arguments (message on stderr, or a
 *   "[*] ..." line on stdout, e.g. identical keys) or when its own decode of the packet it just
 *   built fails (the first dump has been printed; stderr says e.g. "fko_decrypt_spa_data: Error 65
 *   ... FKO_ERROR_INVALID_DATA_ENCRYPT_TYPE_UNKNOWN" for ciphertext >= 400 base64 chars).
 * - The self-decode treats ciphertext of >= 400 base64 chars as GPG and fails. Without HMAC that
 *   counts the wire as written; with HMAC it counts the ciphertext with the 10-char "U2FsdGVkX1"
 *   prefix put back, so HMAC packets hit the cap 10 chars (one AES block, in practice) sooner.
 *   Such refused packets are kept, with their wire, in "refused".
 * - -U keeps only the first 29 characters of the name (SPOOF_USER from the environment is not
 *   cut; names over 48 bytes then give a username token > 64 chars the decoder refuses).
 * - Legacy mode: longer keys are cut to 16 bytes with a warning on stderr; legacy + HMAC is
 *   refused ("Legacy encryption mode is incompatible with HMAC usage.").
 * - --key-hmac longer than 128 chars is cut to 128 without a word (not used here).
 * - Even `fwknop -V` creates ~/.fwknoprc (announced with a "[*] Creating initial rc file" line on
 *   stdout) and writes ~/.fwknop.run, hence a private HOME and --no-save-args.
 *
 * Inputs come from a fixed-seed PRNG, one stream per matrix cell, so the set of combinations is
 * the same on every run whatever order the invocations finish in. The client's own random value,
 * salt and timestamp differ on every run.
 */
import { execFile } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VectorFields } from "./schema.js";

const CLIENT = process.env.FWKNOP_C_CLIENT ?? "/usr/bin/fwknop";
const OUT = join(__dirname, "c-client-vectors.json");
const SEED = "fwknop-ts vectors v2";
const CONCURRENCY = 2;
const TIMEOUT_MS = 15_000;

const MODES = ["cbc", "ecb", "cfb", "ofb", "ctr", "legacy"] as const;
const DIGESTS = ["md5", "sha1", "sha256", "sha384", "sha512", "sha3_256", "sha3_512"] as const;
const TYPES = [0, 1, 2, 3, 4, 5, 6] as const;
type Mode = (typeof MODES)[number];
type Digest = (typeof DIGESTS)[number];
type MsgType = (typeof TYPES)[number];

/** How the client labels them in the dump ("Digest Type: 6 (SHA3_256)", "Encryption Mode: 2 (CBC)"). */
const DIGEST_LABEL: Record<Digest, string> = {
  md5: "1 (MD5)",
  sha1: "2 (SHA1)",
  sha256: "3 (SHA256)",
  sha384: "4 (SHA384)",
  sha512: "5 (SHA512)",
  sha3_256: "6 (SHA3_256)",
  sha3_512: "7 (SHA3_512)",
};
const MODE_LABEL: Record<Mode, string> = {
  ecb: "1 (ECB)",
  cbc: "2 (CBC)",
  cfb: "3 (CFB)",
  ofb: "5 (OFB)",
  ctr: "6 (CTR)",
  legacy: "8 (legacy)",
};
const NODE_HASH: Record<Digest, string> = {
  md5: "md5",
  sha1: "sha1",
  sha256: "sha256",
  sha384: "sha384",
  sha512: "sha512",
  sha3_256: "sha3-256",
  sha3_512: "sha3-512",
};

// ---------------------------------------------------------------------------------------------
// Deterministic choices

/** A small seeded generator (xorshift-multiply over a 32-bit state seeded from SHA-256). */
class Rng {
  private state: number;
  constructor(label: string) {
    this.state = createHash("sha256").update(`${SEED}|${label}`).digest().readUInt32LE(0) || 1;
  }
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 0x100000000;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const v = items[Math.floor(this.next() * items.length)];
    if (v === undefined) throw new Error("pick from an empty list");
    return v;
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(0, 255)));
  }
}

const PASS_CHARS =
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" +
  "!#$%&()*+,./:;<=>?@[]^_{|}~ -'\"\\`";

/** A printable-ASCII passphrase; it never starts with '-' or a space. */
function passphrase(rng: Rng, len: number): string {
  let s = rng.pick([..."abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"]);
  while (s.length < len) s += rng.pick([...PASS_CHARS]);
  return s.slice(0, len);
}

const USERS = [
  "alice",
  "bob",
  "root",
  "x",
  "Z9",
  "svc_backup",
  "bob-admin",
  "j.doe",
  "ops@site.example",
  "web-01.prod",
  "a_b-c.d@e",
  "deploy$",
  "o'neil",
  "first last",
  "%ops",
  "~tmp",
  "CamelCase_User-42",
];
const SHORT_USERS = ["a", "u1", "ops", "j.d", "x_y", "a@b", "b-c"];
/** For SPOOF_USER only: the client does not cut these (the decoder allows up to 48 bytes). */
const LONG_ENV_USERS = [
  "automation.service-account@ops.example",
  "a123456789_b123456789-c123456789.d123456789@e12",
];

const COMMANDS = [
  "id",
  "uname -a",
  "touch /tmp/spa-ok",
  "systemctl restart sshd",
  "iptables -L -n -v",
  "echo 'hello, world' > /tmp/greeting",
  "ls -la /var/log | tail -n 5",
  "/usr/local/sbin/rotate-keys --all --quiet",
  'logger -t spa "opened by $USER"',
  "cat /etc/hostname; date -u +%Y-%m-%dT%H:%M:%SZ",
];
const LONG_COMMANDS = [
  "/usr/local/bin/backup --source /srv/data --dest /mnt/backup/nightly --compress --verify --exclude '*.tmp'",
  "for h in alpha beta gamma delta; do ssh -o BatchMode=yes $h 'systemctl is-active nginx' || echo $h down; done",
  "find /var/spool/queue -type f -mmin +30 -print0 | xargs -0 -r rm -f -- && logger -t spa 'queue cleaned up ok now'",
];
const NAT_HOSTS = ["intranet.example", "db-01.corp.example", "build.internal.example", "mail"];
const LONG_NAT_HOSTS = ["very-long-internal-host-name-for-testing.eu-west-1.compute.example"];
const DESTS = ["198.18.0.1", "198.18.0.2", "192.0.2.1", "198.51.100.10", "203.0.113.77"];

function ipv4(rng: Rng): string {
  switch (rng.int(0, 4)) {
    case 0:
      return `198.18.${rng.int(0, 255)}.${rng.int(1, 254)}`;
    case 1:
      return `198.19.${rng.int(0, 255)}.${rng.int(1, 254)}`;
    case 2:
      return `192.0.2.${rng.int(1, 254)}`;
    case 3:
      return `198.51.100.${rng.int(1, 254)}`;
    default:
      return `203.0.113.${rng.int(1, 254)}`;
  }
}

function port(rng: Rng): number {
  return rng.chance(0.3) ? rng.pick([1, 22, 53, 80, 443, 3389, 8443, 65535]) : rng.int(1, 65535);
}

function accessList(rng: Rng, maxEntries: number): string {
  const n = rng.chance(0.6) ? 1 : rng.int(2, maxEntries);
  return Array.from({ length: n }, () => `${rng.pick(["tcp", "tcp", "udp"])}/${port(rng)}`).join(
    ",",
  );
}

function timeout(rng: Rng, short: boolean): string {
  if (short) return String(rng.int(1, 99));
  return String(rng.chance(0.15) ? rng.pick([1, 65535, 65536]) : rng.int(1, 65536));
}

// ---------------------------------------------------------------------------------------------
// Cases

interface Keys {
  kind: "passphrase" | "base64";
  key: Buffer;
  hmacKey: Buffer | null;
  args: string[];
}

function makeKeys(rng: Rng, hmac: Digest | null): Keys {
  const kind = rng.chance(0.5) ? "passphrase" : "base64";
  const args: string[] = [];
  let key: Buffer;
  if (kind === "passphrase") {
    // Under 16 chars (legacy pads with '0') about 40% of the time; up to 32 (legacy cuts to 16).
    const k = passphrase(rng, rng.chance(0.4) ? rng.int(1, 15) : rng.int(16, 32));
    key = Buffer.from(k, "latin1");
    args.push("--key-rijndael", k);
  } else {
    key = rng.bytes(rng.chance(0.3) ? rng.int(1, 15) : rng.int(16, 32));
    args.push("--key-base64-rijndael", key.toString("base64"));
  }
  let hmacKey: Buffer | null = null;
  if (hmac !== null) {
    const len = rng.chance(0.15)
      ? rng.int(1, 7)
      : rng.chance(0.6)
        ? rng.int(8, 64)
        : rng.int(65, 128);
    do {
      hmacKey =
        kind === "passphrase" ? Buffer.from(passphrase(rng, len), "latin1") : rng.bytes(len);
    } while (hmacKey.equals(key));
    args.push("--hmac-digest-type", hmac);
    if (kind === "passphrase") args.push("--key-hmac", hmacKey.toString("latin1"));
    else args.push("--key-base64-hmac", hmacKey.toString("base64"));
  }
  return { kind, key, hmacKey, args };
}

interface Case {
  id: string;
  mode: Mode;
  digest: Digest;
  hmac: Digest | null;
  keys: Keys;
  /** Full argv for the client, without "-B <file>" (added when it runs). */
  args: string[];
  env: Record<string, string>;
  /** Message type the client must report (matrix cells and some probes). */
  type: MsgType | null;
  /** Edge probes state what the client must do; matrix cells may be refused once. */
  expect: "ok" | "refused" | null;
}

const baseArgs = (dest: string, mode: Mode, digest: Digest): string[] => [
  "-T",
  "-v",
  "--no-save-args",
  "-D",
  dest,
  "-M",
  mode,
  "-m",
  digest,
];

/** The message part of a cell's argv. `short` shrinks everything that goes into the plaintext. */
function messageArgs(
  rng: Rng,
  type: MsgType,
  short: boolean,
): { args: string[]; env: Record<string, string> } {
  const args: string[] = [];
  const env: Record<string, string> = {};
  if (!short && rng.chance(0.25))
    env.SPOOF_USER = rng.chance(0.2) ? rng.pick(LONG_ENV_USERS) : rng.pick(USERS);
  else args.push("-U", short ? rng.pick(SHORT_USERS) : rng.pick(USERS));

  if (rng.chance(0.08)) args.push("-s");
  else args.push("-a", ipv4(rng));

  const natPort = (type === 5 && rng.chance(0.2)) || (type === 6 && rng.chance(0.5));
  const access = accessList(rng, short ? 1 : natPort || type === 2 || type === 4 ? 3 : 6);
  const natHost = (): string =>
    rng.chance(0.5)
      ? ipv4(rng)
      : short
        ? "nat.example"
        : rng.chance(0.15)
          ? rng.pick(LONG_NAT_HOSTS)
          : rng.pick(NAT_HOSTS);
  switch (type) {
    case 0:
      args.push(
        "-C",
        short ? "id" : rng.chance(0.15) ? rng.pick(LONG_COMMANDS) : rng.pick(COMMANDS),
      );
      break;
    case 1:
      args.push("-A", access);
      break;
    case 2:
      args.push("-A", access, "-N", `${natHost()}:${port(rng)}`);
      break;
    case 3:
      args.push("-A", access, "-f", timeout(rng, short));
      break;
    case 4:
      args.push("-A", access, "-N", `${natHost()}:${port(rng)}`, "-f", timeout(rng, short));
      break;
    case 5:
      args.push("-A", natPort ? (access.split(",")[0] ?? access) : access, "--nat-local");
      if (natPort) args.push("--nat-port", String(port(rng)));
      break;
    case 6:
      args.push("-A", natPort ? (access.split(",")[0] ?? access) : access, "--nat-local");
      if (natPort) args.push("--nat-port", String(port(rng)));
      args.push("-f", timeout(rng, short));
      break;
  }
  return { args, env };
}

function cellCase(
  mode: Mode,
  digest: Digest,
  hmac: Digest | null,
  type: MsgType,
  short: boolean,
): Case {
  const cell = `${mode}/${digest}/${hmac ?? "none"}/${type}`;
  // Keys come from the cell's stream, so the short retry keeps the same keys.
  const keyRng = new Rng(`${cell}|keys`);
  const rng = new Rng(`${cell}|${short ? "short" : "full"}`);
  const keys = makeKeys(keyRng, hmac);
  const dest = keyRng.pick(DESTS);
  const msg = messageArgs(rng, type, short);
  const id = [
    mode,
    digest,
    hmac === null ? "nohmac" : `hmac_${hmac}`,
    `t${type}`,
    keys.kind === "passphrase" ? "pass" : "b64",
    ...(short ? ["short"] : []),
  ].join("-");
  return {
    id,
    mode,
    digest,
    hmac,
    keys,
    args: [...baseArgs(dest, mode, digest), ...keys.args, ...msg.args],
    env: msg.env,
    type,
    expect: null,
  };
}

interface EdgeOpts {
  mode?: Mode;
  digest?: Digest;
  hmac?: Digest;
  /** Default: passphrase "fwknoptest", and "hmactest" when `hmac` is set. */
  keys?: Keys;
  env?: Record<string, string>;
}

function passKeys(key: string, hmacKey: string | null = null, hmac: Digest = "sha256"): Keys {
  return {
    kind: "passphrase",
    key: Buffer.from(key, "latin1"),
    hmacKey: hmacKey === null ? null : Buffer.from(hmacKey, "latin1"),
    args: [
      "--key-rijndael",
      key,
      ...(hmacKey === null ? [] : ["--hmac-digest-type", hmac, "--key-hmac", hmacKey]),
    ],
  };
}

function b64Keys(key: Buffer, hmacKey: Buffer | null = null, hmac: Digest = "sha256"): Keys {
  return {
    kind: "base64",
    key,
    hmacKey,
    args: [
      "--key-base64-rijndael",
      key.toString("base64"),
      ...(hmacKey === null
        ? []
        : ["--hmac-digest-type", hmac, "--key-base64-hmac", hmacKey.toString("base64")]),
    ],
  };
}

/** Boundary probes, each with the outcome the 2.6.10 client gives (checked on every run). */
function edgeCases(): Case[] {
  const out: Case[] = [];
  const add = (
    id: string,
    expect: "ok" | "refused",
    type: MsgType | null,
    msgArgs: string[],
    o: EdgeOpts = {},
  ): void => {
    const mode = o.mode ?? "cbc";
    const digest = o.digest ?? "sha256";
    const hmac = o.hmac ?? null;
    const keys =
      o.keys ?? passKeys("fwknoptest", hmac === null ? null : "hmactest", hmac ?? "sha256");
    out.push({
      id: `edge-${id}`,
      mode,
      digest,
      hmac,
      keys,
      args: [...baseArgs("198.18.0.1", mode, digest), ...keys.args, ...msgArgs],
      env: o.env ?? {},
      type,
      expect,
    });
  };
  const rng = new Rng("edges");
  const who = ["-U", "edge", "-a", "198.18.7.7"];
  const acc = [...who, "-A", "tcp/22"];

  // Accepted boundaries.
  const legacy = { mode: "legacy" } as const;
  add("legacy-key-32-cut-to-16", "ok", 1, acc, {
    ...legacy,
    keys: passKeys("abcdefghijklmnopqrstuvwxyz012345"),
  });
  add("legacy-key-16", "ok", 1, acc, { ...legacy, keys: passKeys("0123456789abcdef") });
  add("legacy-b64-key-1-byte", "ok", 1, acc, {
    ...legacy,
    digest: "md5",
    keys: b64Keys(Buffer.from([0])),
  });
  add("b64-keys-all-nul-and-mostly-nul", "ok", 1, acc, {
    hmac: "sha256",
    keys: b64Keys(Buffer.alloc(32, 0), Buffer.alloc(128, 0).fill(1, 64)),
  });
  add("key-1-char-hmac-1-char", "ok", 1, acc, {
    mode: "ctr",
    digest: "sha1",
    hmac: "md5",
    keys: passKeys("k", "h", "md5"),
  });
  add("hmac-b64-key-128", "ok", 1, acc, {
    mode: "cfb",
    digest: "sha3_512",
    hmac: "sha3_512",
    keys: b64Keys(rng.bytes(32), rng.bytes(128), "sha3_512"),
  });
  add("hmac-key-prefix-of-key", "ok", 1, acc, {
    hmac: "sha256",
    keys: passKeys("abcdef", "abc"),
  });
  add("timeout-65536", "ok", 3, [...acc, "-f", "65536"]);
  add("timeout-0-is-type-1", "ok", 1, [...acc, "-f", "0"]);
  add("nat-local-timeout-0-is-type-5", "ok", 5, [...acc, "--nat-local", "-f", "0"], {
    mode: "ofb",
  });
  add("command-with-timeout-drops-it", "ok", 0, [...who, "-C", "uname -a", "-f", "30"]);
  add("command-with-source-ip", "ok", 0, ["-U", "edge", "-s", "-C", "id"], {
    mode: "ecb",
    digest: "md5",
    hmac: "sha1",
  });
  add("user-U-40-chars-cut-to-29", "ok", 1, [
    "-U",
    "u123456789-123456789_123456789.12345678",
    "-a",
    "198.18.7.7",
    "-A",
    "tcp/22",
  ]);
  add("user-env-48-bytes", "ok", 1, ["-a", "198.18.7.7", "-A", "tcp/22"], {
    env: { SPOOF_USER: "e".repeat(48) },
  });
  add("nat-local-multi-access-uses-first-port", "ok", 5, [
    ...who,
    "-A",
    "udp/53,tcp/22,tcp/443",
    "--nat-local",
  ]);
  add("nat-multi-access", "ok", 2, [...who, "-A", "tcp/22,udp/53", "-N", "198.18.9.9:2222"]);
  add("nat-comma-separator", "ok", 2, [...acc, "-N", "198.18.9.9,2222"]);

  // The Rijndael size cap: the self-decode takes >= 400 base64 chars as GPG. Without HMAC it
  // counts the wire ciphertext; with HMAC it counts it with the 10-char "U2FsdGVkX1" prefix put back.
  const caps: Array<[Mode, Digest, Digest | undefined, number]> = [
    ["cbc", "md5", undefined, 160],
    ["ctr", "md5", "sha512", 148],
    ["ecb", "sha512", undefined, 112],
    ["cfb", "sha512", "sha3_512", 100],
  ];
  for (const [mode, digest, hmac, len] of caps) {
    const name = `${digest}-${hmac ?? "nohmac"}`;
    const cmd = (l: number): string[] => ["-U", "e", "-a", "1.2.3.4", "-C", "c".repeat(l)];
    const o = { mode, digest, ...(hmac === undefined ? {} : { hmac }) };
    add(`command-longest-${name}`, "ok", 0, cmd(len), o);
    add(`command-too-long-${name}`, "refused", 0, cmd(len + 1), o);
  }

  // Refusals.
  add("legacy-with-hmac", "refused", null, acc, { ...legacy, hmac: "sha256" });
  add("identical-keys", "refused", null, acc, {
    hmac: "sha256",
    keys: passKeys("samekey", "samekey"),
  });
  add("b64-key-33-bytes", "refused", null, acc, { keys: b64Keys(rng.bytes(33)) });
  add("passphrase-33-chars", "refused", null, acc, { keys: passKeys("a".repeat(33)) });
  add("b64-hmac-key-129-bytes", "refused", null, acc, {
    hmac: "sha256",
    keys: b64Keys(rng.bytes(16), rng.bytes(129)),
  });
  add("timeout-65537", "refused", 3, [...acc, "-f", "65537"]);
  add("user-env-49-bytes", "refused", 1, ["-a", "198.18.7.7", "-A", "tcp/22"], {
    env: { SPOOF_USER: "e".repeat(49) },
  });
  add("user-comma", "refused", null, ["-U", "a,b", "-a", "198.18.7.7", "-A", "tcp/22"]);
  add("user-colon", "refused", null, ["-U", "a:b", "-a", "198.18.7.7", "-A", "tcp/22"]);
  add("access-icmp", "refused", null, [...who, "-A", "icmp/8"]);
  add("access-port-0", "refused", null, [...who, "-A", "tcp/0"]);
  add("access-with-space", "refused", null, [...who, "-A", "tcp/22, udp/53"]);
  add("nat-port-multi-access", "refused", null, [
    ...who,
    "-A",
    "tcp/22,udp/53",
    "--nat-local",
    "--nat-port",
    "2222",
  ]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running the client

interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runClient(args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      CLIENT,
      args,
      { env, timeout: TIMEOUT_MS, encoding: "latin1", maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        let code: number | null = 0;
        let signal: string | null = null;
        if (err !== null) {
          code = typeof err.code === "number" ? err.code : null;
          signal = err.signal ?? null;
        }
        resolve({ code, signal, stdout, stderr });
      },
    );
  });
}

const LABELS = [
  "Random Value",
  "Username",
  "Timestamp",
  "FKO Version",
  "Message Type",
  "Message String",
  "Nat Access",
  "Server Auth",
  "Client Timeout",
  "Digest Type",
  "HMAC Type",
  "Encryption Type",
  "Encryption Mode",
  "Encoded Data",
  "SPA Data Digest",
  "HMAC",
  "Final SPA Data",
] as const;
type Label = (typeof LABELS)[number];
type Dump = Record<Label, string>;

/** Every "SPA Field Values" block in the output; values are kept verbatim (no trimming). */
function parseDumps(stdout: string): Dump[] {
  const lines = stdout.split("\n");
  const dumps: Dump[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "SPA Field Values:") continue;
    if (lines[i + 1] !== "=================") throw new Error(`dump header at line ${i}`);
    const got = new Map<string, string>();
    for (let j = i + 2; j < lines.length; j++) {
      const line = lines[j] ?? "";
      if (line.length < 16 || line.slice(15, 17).trimEnd() !== ":") break;
      got.set(line.slice(0, 15).trimStart(), line.slice(17));
    }
    const dump: Partial<Dump> = {};
    for (const l of LABELS) {
      const v = got.get(l);
      if (v === undefined) throw new Error(`dump lacks "${l}"`);
      dump[l] = v;
    }
    if (got.size !== LABELS.length)
      throw new Error(`dump has extra labels: ${[...got.keys()].join(", ")}`);
    dumps.push(dump as Dump);
  }
  return dumps;
}

const nullable = (s: string): string | null => (s === "<NULL>" ? null : s);
const b64nopad = (b: Buffer): string => b.toString("base64").replace(/=+$/, "");

interface Vector {
  id: string;
  args: string[];
  env?: Record<string, string>;
  mode: Mode;
  digest: Digest;
  hmac: Digest | null;
  key_kind: "passphrase" | "base64";
  key_b64: string;
  hmac_key_b64: string | null;
  wire: string;
  fields: VectorFields;
}

interface Refusal {
  id: string;
  args: string[];
  env?: Record<string, string>;
  mode: Mode;
  digest: Digest;
  hmac: Digest | null;
  key_kind: "passphrase" | "base64";
  key_b64: string;
  hmac_key_b64: string | null;
  code: number;
  stderr: string;
  /** Set when the refusal came from a stdout "[*]" line rather than stderr. */
  stdout?: string;
  /** The packet, when the client wrote one before its own decode refused it. */
  wire: string | null;
}

function fail(c: Case, what: string): never {
  throw new Error(`${c.id}: ${what}\n  argv: ${JSON.stringify(c.args)}`);
}

function toFields(c: Case, d: Dump): VectorFields {
  const int = (label: Label): number => {
    const v = d[label];
    if (!/^\d+$/.test(v)) fail(c, `${label} is not a number: ${JSON.stringify(v)}`);
    return Number(v);
  };
  const type = /^(\d) \(/.exec(d["Message Type"])?.[1];
  if (type === undefined) fail(c, `bad Message Type ${JSON.stringify(d["Message Type"])}`);
  return {
    rand: d["Random Value"],
    user: d.Username,
    timestamp: int("Timestamp"),
    version: d["FKO Version"],
    type: Number(type),
    message: d["Message String"],
    nat: nullable(d["Nat Access"]),
    server_auth: nullable(d["Server Auth"]),
    client_timeout: int("Client Timeout"),
    digest_b64: d["SPA Data Digest"],
    encoded: d["Encoded Data"],
    hmac_b64: nullable(d.HMAC),
  };
}

/** Checks that tie the dump, the -B file and our recorded inputs together; any miss is fatal. */
function crossCheck(c: Case, dumps: Dump[], wire: string): VectorFields {
  const [built, decoded] = dumps;
  if (built === undefined || decoded === undefined || dumps.length !== 2)
    fail(c, `expected 2 field dumps, got ${dumps.length}`);
  if (built["Final SPA Data"] !== wire)
    fail(c, `Final SPA Data differs from the -B file:\n  ${built["Final SPA Data"]}\n  ${wire}`);
  // Fields come from the decode, which shows what the packet carries (see the note at the top
  // about Client Timeout with -C); the dump of the built packet must agree with it otherwise.
  const f = toFields(c, decoded);
  for (const l of LABELS) {
    const want =
      l === "Final SPA Data" ? wire.slice(0, wire.length - (f.hmac_b64?.length ?? 0)) : built[l];
    if (l === "Client Timeout" && f.type === 0 && decoded[l] === "0") continue;
    if (decoded[l] !== want) fail(c, `self-decode differs in ${l}: ${decoded[l]} vs ${want}`);
  }
  if (built["Digest Type"] !== DIGEST_LABEL[c.digest])
    fail(c, `Digest Type ${built["Digest Type"]}`);
  if (built["Encryption Mode"] !== MODE_LABEL[c.mode])
    fail(c, `Encryption Mode ${built["Encryption Mode"]}`);
  if (built["HMAC Type"] !== (c.hmac === null ? "0 (None)" : DIGEST_LABEL[c.hmac]))
    fail(c, `HMAC Type ${built["HMAC Type"]}`);
  if (built["Encryption Type"] !== "1 (Rijndael)")
    fail(c, `Encryption Type ${built["Encryption Type"]}`);
  if (c.type !== null && f.type !== c.type) fail(c, `message type ${f.type}, wanted ${c.type}`);
  if (!/^\d{16}$/.test(f.rand)) fail(c, `random value ${f.rand}`);
  if (f.version !== "3.0.0") fail(c, `version ${f.version}`);
  const parts = f.encoded.split(":");
  if (parts[0] !== f.rand || parts[2] !== String(f.timestamp) || parts[4] !== String(f.type))
    fail(c, `Encoded Data does not match the other fields: ${f.encoded}`);
  if (Buffer.from(parts[1] ?? "", "base64").toString("latin1") !== f.user)
    fail(c, `username token does not decode to ${f.user}`);
  const digest = b64nopad(createHash(NODE_HASH[c.digest]).update(f.encoded, "latin1").digest());
  if (digest !== f.digest_b64) fail(c, `SPA Data Digest is not ${c.digest} of Encoded Data`);
  if (c.hmac === null || c.keys.hmacKey === null) {
    if (f.hmac_b64 !== null) fail(c, "HMAC present without an HMAC key");
  } else {
    if (f.hmac_b64 === null || !wire.endsWith(f.hmac_b64)) fail(c, "wire does not end in the HMAC");
    const mac = b64nopad(
      createHmac(NODE_HASH[c.hmac], c.keys.hmacKey)
        .update(`U2FsdGVkX1${wire.slice(0, wire.length - f.hmac_b64.length)}`, "latin1")
        .digest(),
    );
    if (mac !== f.hmac_b64) fail(c, "HMAC does not verify with the recorded HMAC key");
  }
  return f;
}

type Outcome = { ok: true; vector: Vector } | { ok: false; refusal: Refusal };

async function runCase(c: Case, home: string, n: number): Promise<Outcome> {
  const pkt = join(home, `pkt-${n}`);
  const env = { HOME: home, PATH: "/usr/bin:/bin", LANG: "C", ...c.env };
  const r = await runClient([...c.args, "-B", pkt], env);
  if (r.signal !== null || r.code === null)
    fail(c, `client did not exit normally (signal ${r.signal ?? "?"}, timeout ${TIMEOUT_MS} ms?)`);
  const wireFile = existsSync(pkt) ? readFileSync(pkt, "latin1") : null;
  rmSync(pkt, { force: true });
  const common = {
    id: c.id,
    args: c.args,
    ...(Object.keys(c.env).length > 0 ? { env: c.env } : {}),
    mode: c.mode,
    digest: c.digest,
    hmac: c.hmac,
    key_kind: c.keys.kind,
    key_b64: c.keys.key.toString("base64"),
    hmac_key_b64: c.keys.hmacKey?.toString("base64") ?? null,
  };
  let wire: string | null = null;
  if (wireFile !== null) {
    if (!/^[A-Za-z0-9+/]+\n$/.test(wireFile)) fail(c, `odd -B file: ${JSON.stringify(wireFile)}`);
    wire = wireFile.slice(0, -1);
  }
  if (r.code !== 0) {
    const stderr = r.stderr.trim();
    const said = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("[*]"))
      .join("\n");
    if (stderr === "" && said === "") fail(c, `exit ${r.code} without an error message`);
    return {
      ok: false,
      refusal: { ...common, code: r.code, stderr, ...(said !== "" ? { stdout: said } : {}), wire },
    };
  }
  if (wire === null) fail(c, "exit 0 but no -B file");
  return {
    ok: true,
    vector: { ...common, wire, fields: crossCheck(c, parseDumps(r.stdout), wire) },
  };
}

async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "fwknop-vectors-"));
  try {
    // The first run creates ~/.fwknoprc and says so on stdout; keep only the version line.
    await runClient(["-V", "--no-save-args"], { HOME: home, PATH: "/usr/bin:/bin" });
    const v = await runClient(["-V", "--no-save-args"], { HOME: home, PATH: "/usr/bin:/bin" });
    const generator = v.stdout.split("\n").find((l) => l.startsWith("fwknop client "));
    if (v.code !== 0 || generator === undefined)
      throw new Error(`${CLIENT} -V: ${v.stdout}${v.stderr}`);

    const cells: Array<[Mode, Digest, Digest | null, MsgType]> = [];
    for (const mode of MODES)
      for (const digest of DIGESTS)
        for (const hmac of mode === "legacy" ? [null] : [null, ...DIGESTS])
          for (const type of TYPES) cells.push([mode, digest, hmac, type]);

    let n = 0;
    const vectors: Vector[] = [];
    const refused: Refusal[] = [];
    const matrix = await pool(cells, CONCURRENCY, async ([mode, digest, hmac, type]) => {
      const first = cellCase(mode, digest, hmac, type, false);
      const a = await runCase(first, home, n++);
      if (a.ok) return [a];
      // Refused (typically plaintext too long for Rijndael with a long digest): shrink the inputs.
      const retry = cellCase(mode, digest, hmac, type, true);
      const b = await runCase(retry, home, n++);
      if (!b.ok)
        fail(retry, `refused even with short inputs: ${b.refusal.code} ${b.refusal.stderr}`);
      return [a, b];
    });
    const edges = edgeCases();
    const edgeResults = await pool(edges, CONCURRENCY, (c) => runCase(c, home, n++));
    edgeResults.forEach((r, i) => {
      const c = edges[i];
      if (c === undefined) return;
      if ((c.expect === "ok") !== r.ok)
        fail(c, `expected ${c.expect ?? "?"}, got ${r.ok ? "ok" : `refusal: ${r.refusal.stderr}`}`);
    });
    for (const r of [...matrix.flat(), ...edgeResults]) {
      if (r.ok) vectors.push(r.vector);
      else refused.push(r.refusal);
    }

    const ids = new Set([...vectors, ...refused].map((x) => x.id));
    if (ids.size !== vectors.length + refused.length) throw new Error("duplicate ids");

    const body = [
      "{",
      `"generator": ${JSON.stringify(generator)},`,
      `"client": ${JSON.stringify(CLIENT)},`,
      `"seed": ${JSON.stringify(SEED)},`,
      `"made": ${JSON.stringify(new Date().toISOString())},`,
      `"vectors": [\n${vectors.map((x) => JSON.stringify(x)).join(",\n")}\n],`,
      `"refused": [\n${refused.map((x) => JSON.stringify(x)).join(",\n")}\n]`,
      "}",
      "",
    ].join("\n");
    writeFileSync(OUT, body);

    const perMode = MODES.map((m) => `${m} ${vectors.filter((x) => x.mode === m).length}`);
    console.log(`${vectors.length} vectors (${perMode.join(", ")}), ${refused.length} refused`);
    console.log(`${(body.length / 1e6).toFixed(2)} MB -> ${OUT}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
