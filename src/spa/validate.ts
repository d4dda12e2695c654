/**
 * Field validators of libfko, ported for behaviour (not code). Each returns null when the value is
 * acceptable, else the libfko error the C library would give. Strings are byte strings (latin1):
 * one char = one byte, as in C.
 */
import {
  MAX_HOSTNAME_LEN,
  MAX_IPV4_STR_LEN,
  MAX_PORT,
  MAX_PORT_STR_LEN,
  MAX_PROTO_STR_LEN,
  MAX_SPA_CMD_LEN,
  MAX_SPA_MESSAGE_SIZE,
  MAX_SPA_USERNAME_SIZE,
  MIN_IPV4_STR_LEN,
} from "./constants.js";
import type { FkoErrorName } from "./fko-errors.js";

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlnum = (c: number): boolean =>
  isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** Characters lib/fko_user.c:validate_username refuses besides non-printables: " / \ [ ] : ; | = , + * ? < > */
const USERNAME_FORBIDDEN = new Set(Array.from('"/\\[]:;|=,+*?<>', (c) => c.charCodeAt(0)));

/** lib/fko_user.c:validate_username. */
export function validateUsername(name: string): FkoErrorName | null {
  const n = Math.min(name.length, MAX_SPA_USERNAME_SIZE);
  if (n === 0) return "FKO_ERROR_INVALID_DATA_USER_MISSING";
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (isAlnum(c)) continue;
    if (c < 0x20 || c > 0x7e || USERNAME_FORBIDDEN.has(c)) {
      return i === 0
        ? "FKO_ERROR_INVALID_DATA_USER_FIRSTCHAR_VALIDFAIL"
        : "FKO_ERROR_INVALID_DATA_USER_REMCHAR_VALIDFAIL";
    }
  }
  return null;
}

/**
 * common/fko_util.c:is_valid_ipv4_addr: digits and exactly three dots, 7..16 chars, then inet_aton.
 * inet_aton reads each part as C does (a leading 0 means octal), so "010.1.1.1" is valid and
 * "09.1.1.1" is not.
 */
export function isValidIpv4(s: string): boolean {
  if (s.length > MAX_IPV4_STR_LEN || s.length < MIN_IPV4_STR_LEN) return false;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) dots++;
    else if (!isDigit(c)) return false;
  }
  if (dots !== 3) return false;
  return parseInetAton(s) !== null;
}

/** inet_aton for the dotted-quad form only (the only form the validators above let through). */
export function parseInetAton(s: string): [number, number, number, number] | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (p.length === 0) return null;
    const octal = p.length > 1 && p.startsWith("0");
    if (octal && /[89]/.test(p)) return null;
    const v = parseInt(p, octal ? 8 : 10);
    if (!Number.isFinite(v) || v > 255) return null;
    out.push(v);
  }
  return out as [number, number, number, number];
}

/** lib/fko_message.c:have_allow_ip: the text before the first ',' is a valid IPv4 address. */
function haveAllowIp(msg: string): boolean {
  const comma = msg.indexOf(",");
  const ip = comma < 0 ? msg : msg.slice(0, comma);
  if (ip.length >= MAX_IPV4_STR_LEN) return false;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c !== 0x2e && !isDigit(c)) return false;
  }
  return isValidIpv4(ip);
}

/** lib/fko_message.c:have_port: 1..5 digits up to ',' or the end, value 1..65535. */
function havePort(s: string): boolean {
  if (s.length >= MAX_SPA_MESSAGE_SIZE) return false;
  let i = 0;
  for (; i < s.length && s.charCodeAt(i) !== 0x2c; i++) {
    if (!isDigit(s.charCodeAt(i)) || i + 1 > MAX_PORT_STR_LEN) return false;
  }
  if (i === 0) return false;
  const port = parseInt(s.slice(0, i), 10);
  return port >= 1 && port <= MAX_PORT;
}

/**
 * lib/fko_message.c:validate_proto_port_spec. The '/' must sit at index <= 3, so of the four
 * prefixes C accepts, only "tcp/" and "udp/" can ever pass (the off-by-one that refuses icmp/none
 * is kept: it is what C servers accept).
 */
function validateProtoPortSpec(spec: string): boolean {
  if (spec.length >= MAX_SPA_MESSAGE_SIZE) return false;
  if (
    !spec.startsWith("tcp") &&
    !spec.startsWith("udp") &&
    !spec.startsWith("icmp") &&
    !spec.startsWith("none")
  )
    return false;
  const slash = spec.indexOf("/");
  if (slash < 0 || slash + 1 > MAX_PROTO_STR_LEN) return false;
  return havePort(spec.slice(slash + 1));
}

/** lib/fko_message.c:validate_access_msg: "<IPv4>,<proto>/<port>[,<proto>/<port>...]". */
export function validateAccessMsg(msg: string): FkoErrorName | null {
  if (msg.length >= MAX_SPA_MESSAGE_SIZE) return "FKO_ERROR_INVALID_DATA_MESSAGE_ACCESS_MISSING";
  if (!haveAllowIp(msg)) return "FKO_ERROR_INVALID_ALLOW_IP";
  let idx = msg.indexOf(",");
  if (idx < 0 || idx + 1 >= msg.length) return "FKO_ERROR_INVALID_SPA_ACCESS_MSG";
  while (idx >= 0) {
    if (!validateProtoPortSpec(msg.slice(idx + 1))) return "FKO_ERROR_INVALID_SPA_ACCESS_MSG";
    idx = msg.indexOf(",", idx + 1);
  }
  return null;
}

/** lib/fko_message.c:validate_cmd_msg: "<IPv4>,<anything non-empty>". */
export function validateCmdMsg(msg: string): FkoErrorName | null {
  if (msg.length >= MAX_SPA_CMD_LEN) return "FKO_ERROR_INVALID_DATA_MESSAGE_CMD_MISSING";
  if (!haveAllowIp(msg)) return "FKO_ERROR_INVALID_SPA_COMMAND_MSG";
  const idx = msg.indexOf(",");
  if (idx < 0 || idx + 1 >= msg.length) return "FKO_ERROR_INVALID_SPA_COMMAND_MSG";
  return null;
}

const NAT_HOST_FORBIDDEN = /[ /?"'\\]/;

/** lib/fko_message.c:validate_nat_access_msg: "<host>,<port>", exactly one comma. */
export function validateNatAccessMsg(msg: string): FkoErrorName | null {
  if (msg.length >= MAX_SPA_MESSAGE_SIZE) return "FKO_ERROR_INVALID_DATA_MESSAGE_NAT_MISSING";
  const comma = msg.indexOf(",");
  if (comma < 0 || msg.indexOf(",", comma + 1) >= 0) return "FKO_ERROR_INVALID_SPA_NAT_ACCESS_MSG";
  const host = msg.slice(0, comma);
  if (host.length > MAX_HOSTNAME_LEN || NAT_HOST_FORBIDDEN.test(host))
    return "FKO_ERROR_INVALID_SPA_NAT_ACCESS_MSG";
  if (comma + 1 >= msg.length || !havePort(msg.slice(comma + 1)))
    return "FKO_ERROR_INVALID_SPA_NAT_ACCESS_MSG";
  return null;
}

/** common/fko_util.c:is_valid_hostname (used by the client for -N hosts). */
export function isValidHostname(s: string): boolean {
  if (s.length === 0 || s.length > 254) return false;
  let label = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (label === 0) {
      if (!isAlnum(c)) return false;
    } else if (!(isAlnum(c) || c === 0x2e || c === 0x2d)) return false;
    if (c === 0x2e) {
      if (label > 63 || !isAlnum(s.charCodeAt(i - 1))) return false;
      label = 0;
    } else label++;
  }
  if (s.endsWith("-")) return false;
  return label <= 63;
}
