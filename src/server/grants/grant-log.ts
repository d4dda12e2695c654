/**
 * The log lines of a grant's life: opened, expired (removed by the daemon, or by the firewall
 * itself at its timeout), revoked. Each carries the grant's fields for LOG_FORMAT json. The text
 * keeps C's "with expire time of <epoch>" (server/fw_util_iptables.c:rm_expired_rules logs
 * "Removed rule N from CHAIN with expire time of T"), which fwknop's own tests grep for.
 */
import type { FirewallBackend, Grant } from "../firewall/types.js";
import type { EventFields, EventLog } from "../log.js";
import { describeNat } from "./nat-names.js";

export function grantFields(g: Grant): EventFields {
  return {
    user: g.user,
    stanza: g.stanza,
    src: g.address,
    proto: g.proto,
    port: g.port,
    expires: g.expiresAt,
    ...(g.destination !== null ? { dst: g.destination } : {}),
    ...(g.nat !== undefined ? { nat: `${g.nat.toAddress}:${g.nat.toPort}` } : {}),
  };
}

/** " on 198.18.0.11": ENABLE_DESTINATION_RULE's address, after the port, for grep's sake. */
export const describeDestination = (g: Pick<Grant, "destination">): string =>
  g.destination === null ? "" : ` on ${g.destination}`;

const what = (g: Grant): string =>
  `${g.address} ${g.proto}/${g.port}${describeDestination(g)}${describeNat(g)} (stanza #${g.stanza}, user '${g.user}')`;

/** One line per grant that has reached its time; `fw` removed it itself when expiresItself. */
export function logExpired(log: EventLog, fw: FirewallBackend, grants: readonly Grant[]): void {
  const by = fw.expiresItself ? ` (removed by ${fw.name} itself)` : "";
  for (const g of grants)
    log(
      "info",
      "grant_expired",
      grantFields(g),
      `Removed expired access for ${what(g)} with expire time of ${g.expiresAt}${by}`,
    );
}

/** One line per grant removed before its time; `why` says by what (e.g. "flushed at exit"). */
export function logRevoked(log: EventLog, grants: readonly Grant[], why: string): void {
  for (const g of grants)
    log(
      "info",
      "grant_revoked",
      { ...grantFields(g), reason: why },
      `Removed access for ${what(g)} with expire time of ${g.expiresAt}: ${why}`,
    );
}
