/**
 * IP literal detection without loading node:net (its isIP pulls in the whole socket layer, a few
 * ms of every client start; bench/client.ts). Same answers as net.isIP for addresses without a
 * zone index, which the client never needs.
 */
import { isValidIpv4 } from "../spa/index.js";

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

function isIpv6(s: string): boolean {
  let text = s;
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.includes(".", lastColon)) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) stands for two groups.
    if (!isValidIpv4(text.slice(lastColon + 1))) return false;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const parts = halves.map((h) => (h === "" ? [] : h.split(":")));
  if (!parts.every((p) => p.every((g) => HEX_GROUP.test(g)))) return false;
  const n = parts.reduce((a, p) => a + p.length, 0);
  return halves.length === 2 ? n < 8 : n === 8;
}

/** 4 or 6 for an IPv4 or IPv6 literal, 0 for anything else (a host name). */
export function ipFamily(host: string): 0 | 4 | 6 {
  if (isValidIpv4(host)) return 4;
  return host.includes(":") && isIpv6(host) ? 6 : 0;
}
