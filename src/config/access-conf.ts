/**
 * access.conf (server/access.c:parse_access_file and friends). A stanza starts at each SOURCE line;
 * lines before the first are ignored. Variables are declared once in STANZA_VARS. Directives:
 * %include FILE (depth < 3), %include_folder DIR (every *.conf, sorted), %include_keys FILE
 * (inside a stanza; only key and GPG variables). Each stanza is checked as acc_data_is_valid does.
 * Errors name file, line and value; key material is never echoed.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import {
  b64DecodeLenient,
  isBase64Text,
  isValidIpv4,
  parseDigestName,
  parseEncMode,
  type DigestName,
  type EncMode,
} from "../spa/index.js";
import { isBadLine, readConfLines, type ConfLine } from "./conf-lines.js";

export interface AddressList {
  text: string;
  any: boolean;
  list: BlockList;
}

export interface PortEntry {
  proto: "tcp" | "udp";
  port: number;
}

export interface AccessStanza {
  /** 1-based, in file order across includes. */
  number: number;
  file: string;
  line: number;
  source: AddressList;
  destination: AddressList | null;
  openPorts: PortEntry[] | null;
  restrictPorts: PortEntry[] | null;
  key: Buffer | null;
  hmacKey: Buffer | null;
  hmacType: DigestName | null;
  mode: EncMode;
  fwAccessTimeout: number;
  maxFwTimeout: number;
  accessExpire: number | null;
  requireUsername: string | null;
  requireSourceAddress: boolean;
  enableCmdExec: boolean;
  cmd: Record<string, string>;
  nat: Record<string, string>;
  gpg: Record<string, string>;
}

type Setter = (s: AccessStanza, v: string, bad: (why: string) => never) => void;
interface StanzaVar {
  set: Setter;
  secret?: boolean;
  /** Honoured inside %include_keys files. */
  key?: boolean;
}

const yes = (v: string): boolean => v.charAt(0).toUpperCase() === "Y";

function intIn(v: string, min: number, max: number, bad: (w: string) => never): number {
  if (!/^[0-9]+$/.test(v)) bad("expected a whole number");
  const n = Number(v);
  if (n < min || n > max) bad(`out of range [${min}-${max}]`);
  return n;
}

/** SOURCE/DESTINATION: ANY, a.b.c.d, a.b.c.d/NN, a.b.c.d/m.m.m.m; IPv6 and IPv6/NN are ours. */
export function parseAddressList(v: string, bad: (w: string) => never): AddressList {
  const list = new BlockList();
  let any = false;
  for (const raw of v.split(",")) {
    const e = raw.trim();
    if (e === "") bad("empty entry in the list");
    if (e.toUpperCase() === "ANY") {
      any = true;
      continue;
    }
    const [addr = "", mask] = e.split("/");
    if (isValidIpv4(addr) && isIPv4(addr)) {
      if (mask === undefined) list.addAddress(addr, "ipv4");
      else if (/^[0-9]{1,2}$/.test(mask) && Number(mask) >= 1 && Number(mask) <= 32)
        list.addSubnet(addr, Number(mask), "ipv4");
      else if (isIPv4(mask)) {
        const bits = mask.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
        const len = 32 - Math.log2(2 ** 32 - bits);
        if (!Number.isInteger(len) || len < 1)
          bad(`'${e}': mask ${mask} is not a contiguous netmask`);
        list.addSubnet(addr, len, "ipv4");
      } else bad(`'${e}': invalid prefix length or netmask`);
    } else if (isIPv6(addr)) {
      if (mask === undefined) list.addAddress(addr, "ipv6");
      else if (/^[0-9]{1,3}$/.test(mask) && Number(mask) >= 1 && Number(mask) <= 128)
        list.addSubnet(addr, Number(mask), "ipv6");
      else bad(`'${e}': invalid IPv6 prefix length`);
    } else bad(`'${e}' is not ANY, an address, or a network`);
  }
  return { text: v, any, list };
}

/** OPEN_PORTS / RESTRICT_PORTS: "tcp/22, udp/53"; C accepts only tcp and udp. */
export function parsePortList(v: string, bad: (w: string) => never): PortEntry[] {
  return v.split(",").map((raw) => {
    const m = /^(tcp|udp)\/([0-9]{1,5})$/.exec(raw.trim());
    const port = Number(m?.[2]);
    if (m === null || port < 1 || port > 65535)
      bad(`'${raw.trim()}' is not tcp/PORT or udp/PORT (1-65535)`);
    return { proto: m[1] === "udp" ? "udp" : "tcp", port };
  });
}

function keyBytes(v: string, b64: boolean, max: number, bad: (w: string) => never): Buffer {
  if (v === "__CHANGEME__")
    bad("replace __CHANGEME__ with a real key (fwknopd --key-gen makes one)");
  let k: Buffer;
  if (b64) {
    const d = isBase64Text(v) ? b64DecodeLenient(v) : null;
    if (d === null) bad("not valid base64");
    k = d;
  } else k = Buffer.from(v, "latin1");
  if (k.length < 1 || k.length > max) bad(`key of ${k.length} bytes; at most ${max}`);
  return k;
}

/** ACCESS_EXPIRE MM/DD/YYYY (2-digit years mean 20YY), local midnight, as C's strptime + mktime. */
function parseExpire(v: string, bad: (w: string) => never): number {
  const m = /^([0-9]{1,2})\/([0-9]{1,2})\/([0-9]{2}|[0-9]{4})$/.exec(v);
  if (m === null) bad("expected MM/DD/YYYY");
  const y = Number(m[3]) + (m[3]?.length === 2 ? 2000 : 0);
  const mo = Number(m[1]);
  const d = Number(m[2]);
  const t = new Date(y, mo - 1, d);
  if (t.getMonth() !== mo - 1 || t.getDate() !== d) bad("no such date");
  return Math.floor(t.getTime() / 1000);
}

const keep =
  (bucket: "cmd" | "nat" | "gpg", name: string): Setter =>
  (s, v) => {
    s[bucket][name] = v;
  };

export const STANZA_VARS: ReadonlyMap<string, StanzaVar> = new Map<string, StanzaVar>([
  ["DESTINATION", { set: (s, v, bad) => void (s.destination = parseAddressList(v, bad)) }],
  ["OPEN_PORTS", { set: (s, v, bad) => void (s.openPorts = parsePortList(v, bad)) }],
  ["RESTRICT_PORTS", { set: (s, v, bad) => void (s.restrictPorts = parsePortList(v, bad)) }],
  [
    "KEY",
    { secret: true, key: true, set: (s, v, bad) => void (s.key = keyBytes(v, false, 32, bad)) },
  ],
  [
    "KEY_BASE64",
    { secret: true, key: true, set: (s, v, bad) => void (s.key = keyBytes(v, true, 32, bad)) },
  ],
  [
    "HMAC_KEY",
    {
      secret: true,
      key: true,
      set: (s, v, bad) => void (s.hmacKey = keyBytes(v, false, 128, bad)),
    },
  ],
  [
    "HMAC_KEY_BASE64",
    { secret: true, key: true, set: (s, v, bad) => void (s.hmacKey = keyBytes(v, true, 128, bad)) },
  ],
  [
    "HMAC_DIGEST_TYPE",
    {
      set: (s, v, bad: (w: string) => never) => {
        const d = parseDigestName(v);
        if (d === undefined)
          bad("expected md5, sha1, sha256, sha384, sha512, sha3_256 or sha3_512");
        s.hmacType = d;
      },
    },
  ],
  [
    "ENCRYPTION_MODE",
    {
      set: (s, v, bad: (w: string) => never) => {
        const m = parseEncMode(v);
        if (m === undefined) bad("expected CBC, ECB, CFB, OFB, CTR, legacy or Asymmetric");
        s.mode = m;
      },
    },
  ],
  [
    "FW_ACCESS_TIMEOUT",
    { set: (s, v, bad) => void (s.fwAccessTimeout = intIn(v, 0, 8388608, bad)) },
  ],
  ["MAX_FW_TIMEOUT", { set: (s, v, bad) => void (s.maxFwTimeout = intIn(v, 0, 8388608, bad)) }],
  ["ACCESS_EXPIRE", { set: (s, v, bad) => void (s.accessExpire = parseExpire(v, bad)) }],
  [
    "ACCESS_EXPIRE_EPOCH",
    { set: (s, v, bad) => void (s.accessExpire = intIn(v, 0, 2 ** 40, bad)) },
  ],
  ["REQUIRE_USERNAME", { set: (s, v) => void (s.requireUsername = v) }],
  ["REQUIRE_SOURCE_ADDRESS", { set: (s, v) => void (s.requireSourceAddress = yes(v)) }],
  ["REQUIRE_SOURCE", { set: (s, v) => void (s.requireSourceAddress = yes(v)) }],
  ["ENABLE_CMD_EXEC", { set: (s, v) => void (s.enableCmdExec = yes(v)) }],
  ...[
    "ENABLE_CMD_SUDO_EXEC",
    "CMD_SUDO_EXEC_USER",
    "CMD_SUDO_EXEC_GROUP",
    "CMD_EXEC_USER",
    "CMD_EXEC_GROUP",
    "CMD_CYCLE_OPEN",
    "CMD_CYCLE_CLOSE",
    "CMD_CYCLE_TIMER",
  ].map((n): [string, StanzaVar] => [n, { set: keep("cmd", n) }]),
  ...["FORCE_NAT", "FORCE_SNAT", "FORCE_MASQUERADE", "FORWARD_ALL", "DISABLE_DNAT"].map(
    (n): [string, StanzaVar] => [n, { set: keep("nat", n) }],
  ),
  ...[
    "GPG_HOME_DIR",
    "GPG_EXE",
    "GPG_DECRYPT_ID",
    "GPG_DECRYPT_PW",
    "GPG_ALLOW_NO_PW",
    "GPG_REQUIRE_SIG",
    "GPG_DISABLE_SIG",
    "GPG_IGNORE_SIG_VERIFY_ERROR",
    "GPG_REMOTE_ID",
    "GPG_FINGERPRINT_ID",
  ].map((n): [string, StanzaVar] => [
    n,
    {
      set: keep("gpg", n),
      key: n !== "GPG_HOME_DIR" && n !== "GPG_EXE",
      secret: n === "GPG_DECRYPT_PW",
    },
  ]),
]);

function newStanza(number: number, file: string, line: number, source: AddressList): AccessStanza {
  return {
    number,
    file,
    line,
    source,
    destination: null,
    openPorts: null,
    restrictPorts: null,
    key: null,
    hmacKey: null,
    hmacType: null,
    mode: "cbc",
    fwAccessTimeout: 30,
    maxFwTimeout: 300,
    accessExpire: null,
    requireUsername: null,
    requireSourceAddress: false,
    enableCmdExec: false,
    cmd: {},
    nat: {},
    gpg: {},
  };
}

export interface ParsedAccess {
  stanzas: AccessStanza[];
  warnings: string[];
}

export interface AccessSources {
  file?: string | null;
  folder?: string | null;
  read?: (p: string) => string;
  listDir?: (d: string) => string[];
}

const MAX_DEPTH = 3;

export function parseAccessConf(src: AccessSources): ParsedAccess {
  const read = src.read ?? ((p: string) => readFileSync(p, "latin1"));
  const listDir = src.listDir ?? ((d: string) => readdirSync(d));
  const stanzas: AccessStanza[] = [];
  const warnings: string[] = [];
  let current: AccessStanza | null = null;
  // Stanzas whose %include_keys file was unusable: C drops them instead of failing.
  const dropped = new Set<AccessStanza>();

  const withKeysFile = new Set<AccessStanza>();
  const finish = (): void => {
    const st = current;
    current = null;
    if (st === null || dropped.has(st)) return;
    try {
      validate(st, warnings);
    } catch (e) {
      // A stanza completed by %include_keys that ends up invalid is dropped, as in C.
      if (!withKeysFile.has(st)) throw e;
      warnings.push(`${(e as Error).message}; stanza dropped`);
      dropped.add(st);
    }
  };

  const readFile = (path: string, from: { file: string; line: number } | null): string => {
    try {
      return read(path);
    } catch (e) {
      throw new ConfigError(
        from?.file ?? path,
        from?.line ?? 0,
        `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  };

  const folder = (
    dir: string,
    depth: number,
    from: { file: string; line: number } | null,
  ): void => {
    let names: string[];
    try {
      names = listDir(dir)
        .filter((n) => n.endsWith(".conf"))
        .sort();
    } catch (e) {
      throw new ConfigError(
        from?.file ?? dir,
        from?.line ?? 0,
        `cannot read folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    for (const n of names) file(join(dir, n), depth, from);
  };

  const includeKeys = (l: ConfLine, st: AccessStanza): void => {
    const path = resolve(dirname(l.file), l.value);
    for (const k of readConfLines(path, readFile(path, l))) {
      if (isBadLine(k)) continue;
      const v = STANZA_VARS.get(k.name);
      if (v?.key !== true) continue;
      try {
        v.set(st, k.value, (why) => {
          throw new ConfigError(
            k.file,
            k.line,
            `${k.name} '${v.secret === true ? "<hidden>" : k.value}': ${why}`,
          );
        });
      } catch (e) {
        warnings.push(
          `${(e as Error).message} (from %include_keys at ${l.file}:${l.line}); stanza dropped`,
        );
        dropped.add(st);
      }
    }
  };

  const file = (path: string, depth: number, from: { file: string; line: number } | null): void => {
    if (depth >= MAX_DEPTH)
      throw new ConfigError(
        from?.file ?? path,
        from?.line ?? 0,
        `%include of ${path}: refusing to go deeper than ${MAX_DEPTH} levels`,
      );
    for (const l of readConfLines(path, readFile(path, from))) {
      if (isBadLine(l)) {
        if (l.bad === "SOURCE" || STANZA_VARS.has(l.bad))
          throw new ConfigError(l.file, l.line, `${l.bad}: missing value`);
        warnings.push(`${l.file}:${l.line}: Ignoring unknown access parameter: '${l.bad}'`);
        continue;
      }
      const bad: (why: string) => never = (why) => {
        const shown = STANZA_VARS.get(l.name)?.secret === true ? "<hidden>" : l.value;
        throw new ConfigError(l.file, l.line, `${l.name} '${shown}': ${why}`);
      };
      if (l.name === "%include") {
        file(resolve(dirname(l.file), l.value), depth + 1, l);
      } else if (l.name === "%include_folder") {
        folder(resolve(dirname(l.file), l.value), depth + 1, l);
      } else if (l.name === "%include_keys") {
        if (current === null) bad("%include_keys must be inside a stanza (after a SOURCE line)");
        withKeysFile.add(current);
        includeKeys(l, current);
      } else if (l.name === "SOURCE") {
        finish();
        current = newStanza(stanzas.length + 1, l.file, l.line, parseAddressList(l.value, bad));
        stanzas.push(current);
      } else {
        const v = STANZA_VARS.get(l.name);
        if (v === undefined)
          warnings.push(`${l.file}:${l.line}: Ignoring unknown access parameter: '${l.name}'`);
        else if (current === null)
          warnings.push(`${l.file}:${l.line}: ${l.name} before any SOURCE line is ignored`);
        else v.set(current, l.value, bad);
      }
    }
  };

  if (src.folder !== undefined && src.folder !== null) folder(src.folder, 0, null);
  else if (src.file !== undefined && src.file !== null) file(src.file, 0, null);
  finish();

  const valid = stanzas.filter((s) => !dropped.has(s)).map((s, n) => ({ ...s, number: n + 1 }));
  if (valid.length === 0)
    throw new ConfigError(
      src.folder ?? src.file ?? "access.conf",
      0,
      "Fatal, could not find any valid access.conf stanzas",
    );
  return { stanzas: valid, warnings };
}

/** server/access.c:acc_data_is_valid and set_acc_defaults. */
function validate(s: AccessStanza, warnings: string[]): void {
  const at = (why: string): never => {
    throw new ConfigError(s.file, s.line, `stanza for SOURCE '${s.source.text}': ${why}`);
  };
  const gpg = s.mode === "asymmetric" || "GPG_DECRYPT_PW" in s.gpg || "GPG_ALLOW_NO_PW" in s.gpg;
  if (s.key === null && !gpg)
    at("no KEY or KEY_BASE64 (nor GPG settings): every stanza needs a key");
  if (s.key !== null && s.hmacKey !== null && s.key.equals(s.hmacKey))
    at("the HMAC key must differ from the encryption key");
  if (s.hmacKey !== null && s.hmacType === null) s.hmacType = "sha256";
  if (s.mode === "legacy" && s.key !== null && s.key.length > 16) s.key = s.key.subarray(0, 16);
  if (s.fwAccessTimeout < 1) s.fwAccessTimeout = 30;
  if ("CMD_CYCLE_OPEN" in s.cmd) {
    if (!("CMD_CYCLE_CLOSE" in s.cmd))
      at("CMD_CYCLE_OPEN needs CMD_CYCLE_CLOSE (NONE for no close command)");
    if (s.cmd.CMD_CYCLE_CLOSE !== "NONE" && !("CMD_CYCLE_TIMER" in s.cmd))
      at("CMD_CYCLE_TIMER is required unless CMD_CYCLE_CLOSE is NONE");
    for (const n of ["CMD_CYCLE_OPEN", "CMD_CYCLE_CLOSE"])
      if ((s.cmd[n] ?? "").length >= 256) at(`${n} must be shorter than 256 characters`);
  }
  if ("FORCE_NAT" in s.nat) {
    const m = /^(\S+)\s+([0-9]{1,5})$/.exec(s.nat.FORCE_NAT);
    if (m === null || !isValidIpv4(m[1] ?? ""))
      at(`FORCE_NAT '${s.nat.FORCE_NAT}': expected "<IPv4> <port>"`);
  }
  if (!s.requireSourceAddress)
    warnings.push(
      `Warning: REQUIRE_SOURCE_ADDRESS not enabled for access stanza source: '${s.source.text}' (${s.file}:${s.line})`,
    );
}

/** -D: a stanza as fwknopd prints it, keys hidden. */
export function stanzaSummary(s: AccessStanza): string {
  const ports = (p: PortEntry[] | null): string =>
    p === null ? "<not set>" : p.map((x) => `${x.proto}/${x.port}`).join(", ");
  return [
    `SOURCE (${s.number}):  ${s.source.text}   (${s.file}:${s.line})`,
    `                DESTINATION:  ${s.destination?.text ?? "<not set>"}`,
    `                 OPEN_PORTS:  ${ports(s.openPorts)}`,
    `             RESTRICT_PORTS:  ${ports(s.restrictPorts)}`,
    `                        KEY:  ${s.key === null ? "<not set>" : "<see the access.conf file>"}`,
    `                   HMAC_KEY:  ${s.hmacKey === null ? "<not set>" : "<see the access.conf file>"}`,
    `           HMAC_DIGEST_TYPE:  ${s.hmacType ?? "<not set>"}`,
    `            ENCRYPTION_MODE:  ${s.mode}`,
    `          FW_ACCESS_TIMEOUT:  ${s.fwAccessTimeout}`,
    `             MAX_FW_TIMEOUT:  ${s.maxFwTimeout}`,
    `           REQUIRE_USERNAME:  ${s.requireUsername ?? "<not set>"}`,
    `     REQUIRE_SOURCE_ADDRESS:  ${s.requireSourceAddress ? "Yes" : "No"}`,
    `              ACCESS_EXPIRE:  ${s.accessExpire === null ? "<not set>" : new Date(s.accessExpire * 1000).toISOString()}`,
  ].join("\n");
}

export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
