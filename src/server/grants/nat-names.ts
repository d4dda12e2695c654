/**
 * NAT grants as the daemon finishes and logs them: a host name in the NAT field resolved to IPv4
 * (ENABLE_NAT_DNS), and the NAT part of the "Added access" line.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIPv4 } from "node:net";
import type { Grant } from "../firewall/types.js";

export type Lookup = (host: string, opts: { family: 4 }) => Promise<{ address: string }>;

/**
 * Resolve NAT host names here, after authentication and off the receive path, as
 * server/fw_util_iptables.c:process_spa_request does with ipv4_resolve. Null (logged) when one
 * does not resolve.
 */
export async function resolveNatNames(
  grants: Grant[],
  srcIp: string,
  log: (line: string) => void,
  lookup: Lookup = dnsLookup,
): Promise<Grant[] | null> {
  const out: Grant[] = [];
  for (const g of grants) {
    if (g.nat === undefined || isIPv4(g.nat.toAddress)) {
      out.push(g);
      continue;
    }
    try {
      const { address } = await lookup(g.nat.toAddress, { family: 4 });
      log(`[${srcIp}] Resolved NAT IP in SPA message: ${g.nat.toAddress} -> ${address}`);
      out.push({ ...g, nat: { ...g.nat, toAddress: address } });
    } catch {
      log(`[${srcIp}] Unable to resolve Hostname in NAT SPA message: ${g.nat.toAddress}`);
      return null;
    }
  }
  return out;
}

/** " (DNAT to 10.0.0.5:22, SNAT)" for the grant log line; empty for plain access. */
export function describeNat(g: Grant): string {
  const n = g.nat;
  if (n === undefined) return "";
  const parts = [
    n.dnat
      ? `${n.kind === "local" ? "local NAT" : "DNAT"} to ${n.toAddress}${n.forwardAll ? "" : `:${n.toPort}`}`
      : `forward to ${n.toAddress}`,
  ];
  if (n.forwardAll) parts.push("all ports");
  if (n.snat !== null) parts.push(n.snat === "masquerade" ? "MASQUERADE" : `SNAT to ${n.snat.to}`);
  return ` (${parts.join(", ")})`;
}
