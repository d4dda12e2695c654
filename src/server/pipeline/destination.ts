/**
 * ENABLE_DESTINATION_RULE: a grant admits traffic to the address the SPA packet was sent to, not
 * to every address of the host (C: fw_config.use_destination in server/fw_util_iptables.c puts
 * the packet's destination in the rule's -d instead of 0.0.0.0/0). One rule for the pipeline
 * (policy.ts) and the privsep broker (check-request.ts), which rebuilds grants from requests.
 */
import { isIP } from "node:net";

export type DestinationOf = { ok: true; destination: string | null } | { ok: false; why: string };

const ANY: DestinationOf = { ok: true, destination: null };

/**
 * The destination a grant for an address of `family` carries. C's UDP server records its bound
 * address (0.0.0.0) and would write `-d 0.0.0.0`, a rule that admits nothing; here a destination
 * the listener did not learn refuses the packet instead, and says why, as does one of the other
 * family (a `-a` IPv4 address asked over IPv6: no rule can hold both).
 */
export function grantDestination(on: boolean, dstIp: string, family: 4 | 6): DestinationOf {
  if (!on) return ANY;
  const f = isIP(dstIp);
  if (f === 0 || dstIp === "0.0.0.0" || dstIp === "::")
    return {
      ok: false,
      why: `ENABLE_DESTINATION_RULE is set and the address this packet was sent to is not known (${dstIp || "none"})`,
    };
  if (f !== family)
    return {
      ok: false,
      why: `ENABLE_DESTINATION_RULE is set and the packet was sent to ${dstIp}, which is not IPv${family} like the address to open for`,
    };
  return { ok: true, destination: dstIp };
}
