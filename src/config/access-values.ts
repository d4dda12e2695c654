/**
 * Value parsers for access.conf variables. Each takes the text after the variable name and a
 * `bad(why)` that throws the ConfigError for that line. Ported from server/access.c (cited per
 * function); deliberate differences are noted where they are.
 */
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { b64DecodeLenient, isBase64Text, isValidIpv4 } from "../spa/index.js";

export type Bad = (why: string) => never;

/** SOURCE / DESTINATION: the text as written, ANY, and the networks as a BlockList. */
export interface AddressList {
  text: string;
  any: boolean;
  list: BlockList;
}

export interface PortEntry {
  proto: "tcp" | "udp";
  port: number;
}

/** C skips blanks before each comma-separated entry (access.c:expand_acc_int_list). */
function entries(v: string): string[] {
  return v.split(",").map((e) => e.trim());
}

/** Prefix length of a contiguous dotted mask, or null. */
function maskPrefix(mask: string): number | null {
  const n = mask.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  for (let len = 0; len <= 32; len++) {
    const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if (m === n) return len;
  }
  return null;
}

/**
 * access.c:add_int_ent: ANY, a.b.c.d, a.b.c.d/NN (1-32) or a.b.c.d/m.m.m.m; host bits beyond the
 * mask are ignored. IPv6 and IPv6/NN (1-128) are our extension. Differences: only dotted quads
 * (C's inet_aton also takes "10.1" or hex), and a dotted mask must be contiguous.
 */
export function parseAddressList(v: string, bad: Bad): AddressList {
  const list = new BlockList();
  let any = false;
  for (const n of addressEntries(v, bad)) {
    if (n === "any") any = true;
    else if (n.bits === (n.family === "ipv4" ? 32 : 128)) list.addAddress(n.address, n.family);
    else list.addSubnet(n.address, n.bits, n.family);
  }
  return { text: v, any, list };
}

/** One entry of a SOURCE / DESTINATION list: a network (an address is one of full length). */
export interface AddressEntry {
  family: "ipv4" | "ipv6";
  address: string;
  bits: number;
}

/**
 * The entries of a SOURCE / DESTINATION list, checked; parseAddressList makes its BlockList of
 * them, and the stanza index (server/pipeline/source-index.ts) its tables.
 */
export function addressEntries(v: string, bad: Bad): (AddressEntry | "any")[] {
  return entries(v).map((e): AddressEntry | "any" => {
    if (e === "") bad("empty entry in the list");
    if (e.toUpperCase() === "ANY") return "any";
    const slash = e.indexOf("/");
    const address = slash < 0 ? e : e.slice(0, slash);
    const mask = slash < 0 ? null : e.slice(slash + 1);
    if (isIPv4(address) && isValidIpv4(address)) {
      if (mask === null) return { family: "ipv4", address, bits: 32 };
      if (/^[0-9]{1,2}$/.test(mask) && Number(mask) >= 1 && Number(mask) <= 32)
        return { family: "ipv4", address, bits: Number(mask) };
      if (isIPv4(mask)) {
        const len = maskPrefix(mask);
        if (len === null) bad(`'${e}': mask ${mask} is not a contiguous netmask`);
        return { family: "ipv4", address, bits: len };
      }
      bad(`'${e}': invalid prefix length or netmask (1-32 or a.b.c.d)`);
    }
    if (isIPv6(address) && !address.includes("%")) {
      if (mask === null) return { family: "ipv6", address, bits: 128 };
      if (/^[0-9]{1,3}$/.test(mask) && Number(mask) >= 1 && Number(mask) <= 128)
        return { family: "ipv6", address, bits: Number(mask) };
      bad(`'${e}': invalid IPv6 prefix length (1-128)`);
    }
    bad(`'${e}' is not ANY, an address, or a network`);
  });
}

/**
 * OPEN_PORTS / RESTRICT_PORTS (access.c:parse_proto_and_port): "tcp/22, udp/53", protocol in
 * either case; C accepts only tcp and udp. Port 0, which C lets through, is refused.
 */
export function parsePortList(v: string, bad: Bad): PortEntry[] {
  return entries(v).map((e) => {
    const m = /^(tcp|udp)\/([0-9]{1,5})$/i.exec(e);
    const port = Number(m?.[2]);
    if (m === null || port < 1 || port > 65535)
      bad(`'${e}' is not tcp/PORT or udp/PORT with PORT 1-65535`);
    return { proto: m[1]?.toLowerCase() === "udp" ? "udp" : "tcp", port };
  });
}

/** GPG_REMOTE_ID / GPG_FINGERPRINT_ID (access.c:expand_acc_string_list). */
export function parseStringList(v: string, bad: Bad): string[] {
  const out = entries(v);
  if (out.some((e) => e === "")) bad("empty entry in the list");
  return out;
}

/** access.c: strcasecmp(val, "__CHANGEME__") on every key and GPG_DECRYPT_PW. */
export function isPlaceholder(v: string): boolean {
  return v.toUpperCase() === "__CHANGEME__";
}

/**
 * KEY / HMAC_KEY: the raw text, byte for byte (the file is read as latin1); *_BASE64: must be
 * base64 characters (common/fko_util.c:is_base64), decoded leniently as lib/base64.c does.
 * Length limits are checked with the whole stanza (legacy mode truncates first).
 */
export function keyBytes(v: string, b64: boolean, bad: Bad): Buffer {
  if (isPlaceholder(v)) bad("replace __CHANGEME__ with a real key (fwknopd --key-gen makes one)");
  if (!b64) return Buffer.from(v, "latin1");
  const d = isBase64Text(v) ? b64DecodeLenient(v) : null;
  if (d === null) bad("not valid base64");
  if (d.length === 0) bad("decodes to an empty key");
  return d;
}

/**
 * ACCESS_EXPIRE (access.c:add_acc_expire_time): MM/DD/YYYY, two-digit years meaning 20YY, as
 * local midnight. Stricter than C's sscanf + mktime: no trailing text, and no date that mktime
 * would roll over (02/30 is refused, not read as March 2).
 */
export function parseExpireDate(v: string, bad: Bad): number {
  const m = /^([0-9]{1,2})\/([0-9]{1,2})\/([0-9]{2}|[0-9]{4})$/.exec(v);
  if (m === null) bad("expected MM/DD/YYYY");
  const y = Number(m[3]) + (m[3]?.length === 2 ? 2000 : 0);
  const mo = Number(m[1]);
  const d = Number(m[2]);
  const t = new Date(y, mo - 1, d);
  if (t.getFullYear() !== y || t.getMonth() !== mo - 1 || t.getDate() !== d) bad("no such date");
  return Math.floor(t.getTime() / 1000);
}

export function parseIntIn(v: string, min: number, max: number, bad: Bad): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v)) bad("expected a whole number");
  if (n < min || n > max) bad(`out of range [${min}-${max}]`);
  return n;
}

/** FORCE_NAT (access.c:add_acc_force_nat): "<IPv4> <port>", port 0-65535. */
export function parseForceNat(v: string, bad: Bad): { ip: string; port: number } {
  const m = /^(\S+)\s+([0-9]{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (m === null || port > 65535) bad("expected <IPv4 address> <port>");
  const ip = m[1] ?? "";
  if (!isValidIpv4(ip)) bad(`'${ip}' is not an IPv4 address`);
  return { ip, port };
}

/** FORCE_SNAT (access.c:add_acc_force_snat): one IPv4 address. */
export function parseIpv4(v: string, bad: Bad): string {
  if (!isValidIpv4(v)) bad("not an IPv4 address");
  return v;
}

/**
 * C's add_acc_bool reads only the first character and takes anything but Y as N; we refuse what
 * is neither, so "REQUIRE_SOURCE_ADDRESS true" cannot silently mean N.
 */
export function parseBool(v: string, bad: Bad): boolean {
  if (!/^[YyNn]/.test(v)) bad("expected Y or N");
  return v.charAt(0).toUpperCase() === "Y";
}
