/**
 * The text of our firewalld rich rules, and the reading of it back. Our rules carry a fixed
 * rich-rule priority (RICH_PRIORITY): it marks them, so listing, flushing and a restart find
 * exactly ours and never an admin's.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { Grant, GrantProto } from "./types.js";
import { InternalError } from "../../errors.js";

/**
 * The rich-rule priority that marks our rules (firewalld accepts -32768..32767, firewall/core/
 * rich.py Rich_Rule.priority_min/max). Negative: before the zone's other rules.
 */
export const RICH_PRIORITY = -32201;

/** The parts of a grant a rich rule holds. */
export type RichMatch = Pick<Grant, "family" | "address" | "destination" | "proto" | "port">;

const quoteSafe = (s: string): boolean => /^[0-9A-Za-z.:/_-]+$/.test(s);

/**
 * Our rule text, in firewalld's own canonical order and quoting (firewall/core/rich.py
 * Rich_Rule.__str__: priority, family, source, destination, element, action), so getRichRules
 * returns it verbatim.
 */
export function richRuleOf(g: RichMatch): string {
  for (const v of [g.address, g.destination ?? ""])
    if (v !== "" && !quoteSafe(v)) throw new InternalError(`'${v}' in a rich rule`);
  const dst = g.destination === null ? "" : ` destination address="${g.destination}"`;
  return (
    `rule priority="${RICH_PRIORITY}" family="ipv${g.family}" source address="${g.address}"` +
    `${dst} port port="${g.port}" protocol="${g.proto}" accept`
  );
}

const RULE_RE = new RegExp(
  `^rule priority="${RICH_PRIORITY}" family="ipv([46])" source address="([^"]+)"` +
    `(?: destination address="([^"]+)")? port port="(\\d{1,5})" protocol="(tcp|udp)" accept$`,
);

/** One of our rules back into its parts; null for any other rule (an admin's, another shape). */
export function parseRichRule(text: string): RichMatch | null {
  const m = RULE_RE.exec(text.trim());
  if (m === null) return null;
  const family = m[1] === "6" ? 6 : 4;
  const address = m[2] ?? "";
  const port = Number(m[4]);
  if (!(family === 4 ? isIPv4(address) : isIPv6(address)) || port > 65535) return null;
  return {
    family,
    address,
    destination: m[3] ?? null,
    proto: (m[5] ?? "tcp") as GrantProto,
    port,
  };
}
