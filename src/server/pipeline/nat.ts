/**
 * Where a NAT grant goes, as server/fw_util_iptables.c:process_spa_request, dnat_rule and
 * snat_rule decide it. Pure; host names are only checked here and resolved later by the daemon,
 * off the packet path (grants/nat-names.ts).
 */
import type { AccessStanza } from "../../config/access-stanza.js";
import { isValidIpv4 } from "../../spa/validate.js";
import type { GrantNat, NatSettings } from "../firewall/types.js";

/** FORCE_NAT, FORCE_SNAT, FORCE_MASQUERADE, FORWARD_ALL, DISABLE_DNAT of a stanza. */
export type StanzaNat = Pick<
  AccessStanza,
  "forceNat" | "forceSnat" | "forceMasquerade" | "forwardAll" | "disableDnat"
>;

/**
 * FORCE_NAT wins over the packet's NAT field; a host name needs ENABLE_NAT_DNS; source NAT comes
 * from FORCE_SNAT / FORCE_MASQUERADE or ENABLE_*_SNAT with SNAT_TRANSLATE_IP. Returns the refusal
 * text on failure.
 */
export function natFor(
  s: StanzaNat,
  natAccess: string,
  settings: NatSettings,
  local: boolean,
): GrantNat | string {
  const target = s.forceNat ?? natTarget(natAccess, settings);
  if (typeof target === "string") return target;
  let snat: GrantNat["snat"] = null;
  if (s.forceSnat !== null || s.forceMasquerade || settings.snat) {
    if (s.forceSnat !== null) snat = { to: s.forceSnat };
    else if (s.forceMasquerade && !s.forwardAll) snat = "masquerade";
    else if (settings.snatTranslateIp !== null) snat = { to: settings.snatTranslateIp };
    else snat = "masquerade";
  }
  return {
    kind: local ? "local" : "forward",
    toAddress: target.ip,
    toPort: target.port,
    dnat: !s.disableDnat,
    forwardAll: s.forwardAll,
    snat,
  };
}

/** The packet's NAT field "host,port" (SPA_NAT_ACCESS), checked; the refusal text when it is not acceptable. */
function natTarget(field: string, settings: NatSettings): { ip: string; port: number } | string {
  const comma = field.indexOf(",");
  const host = field.slice(0, comma);
  const portText = field.slice(comma + 1);
  if (comma < 0) return "Invalid NAT IP in SPA message";
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535)
    return "Invalid NAT port in SPA message";
  if (!isValidIpv4(host)) {
    if (!settings.natDns) return "Received Hostname in NAT SPA message, but hostname is disabled.";
    if (!isValidHostname(host)) return "Invalid Hostname in NAT SPA message";
  }
  return { ip: host, port: Number(portText) };
}

/** RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens. */
export function isValidHostname(h: string): boolean {
  if (h.length === 0 || h.length > 253) return false;
  return h
    .replace(/\.$/, "")
    .split(".")
    .every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}
