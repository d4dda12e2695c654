/**
 * Which firewalld zone judges a client's packets, from what firewalld and the host tell: the zone
 * a source binding gives its address (firewalld sends a packet to the zone of its source before
 * the zone of its interface), else the zone of the interface the SPA arrived on (by its
 * destination address, or the route back to the client). The backend in firewalld-rich.ts caches
 * and combines these.
 */
import { createSocket } from "node:dgram";
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import type { Value } from "./dbus-decode.js";

/** The interface that holds `address` (the SPA's destination); null when none or unknown. */
export function interfaceOf(
  address: string | null | undefined,
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string | null {
  if (address === null || address === undefined) return null;
  if (address === "0.0.0.0" || address === "::" || address === "") return null;
  for (const [name, infos] of Object.entries(ifaces))
    if (infos?.some((i) => i.address === address || i.address === `::ffff:${address}`)) return name;
  return null;
}

/**
 * The local address the kernel would send from to reach `address` (connecting a UDP socket sends
 * nothing): with symmetric routing, the client's packets arrive on the interface holding it.
 * Null when there is no route.
 */
export function localAddressToward(address: string): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(address) ? "udp6" : "udp4");
    const done = (a: string | null): void => {
      sock.close();
      resolve(a);
    };
    sock.on("error", () => {
      done(null);
    });
    sock.connect(9, address, () => {
      try {
        done(sock.address().address);
      } catch {
        done(null);
      }
    });
  });
}

/** A zone's source binding (firewalld: address, network, MAC or ipset). */
export interface ZoneSource {
  zone: string;
  source: string;
}

/**
 * The zone whose source binding holds `address`: firewalld sends a packet to the zone of its
 * source before the zone of its interface. MACs and ipsets cannot be judged here and are skipped.
 */
export function sourceZoneOf(address: string, sources: readonly ZoneSource[]): string | null {
  const fam = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : null;
  if (fam === null) return null;
  for (const { zone, source } of sources) {
    const [net, lenText] = source.split("/");
    if (net === undefined) continue;
    const netFam = isIPv4(net) ? "ipv4" : isIPv6(net) ? "ipv6" : null;
    if (netFam !== fam) continue;
    const len = lenText === undefined ? (fam === "ipv4" ? 32 : 128) : Number(lenText);
    if (!Number.isInteger(len) || len < 0 || len > (fam === "ipv4" ? 32 : 128)) continue;
    const list = new BlockList();
    list.addSubnet(net, len, fam);
    if (list.check(address, fam)) return zone;
  }
  return null;
}

/** `firewall-cmd --get-active-zones`: a zone name, then indented "interfaces:"/"sources:" lines. */
export function parseActiveZones(text: string): ZoneSource[] {
  const out: ZoneSource[] = [];
  let zone: string | null = null;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (!/^\s/.test(line)) zone = line.trim().split(/\s+/)[0] ?? null;
    else {
      const m = /^\s+sources:\s*(.*)$/.exec(line);
      if (m !== null && zone !== null)
        for (const source of (m[1] ?? "").split(/\s+/).filter((s) => s !== ""))
          out.push({ zone, source });
    }
  }
  return out;
}

/** zone.getActiveZones' a{sa{sas}} (zone -> "interfaces"/"sources" -> names) as source bindings. */
export function activeZoneSources(v: Value | undefined): ZoneSource[] {
  const out: ZoneSource[] = [];
  if (!Array.isArray(v)) return out;
  for (const entry of v) {
    if (!Array.isArray(entry)) continue;
    const [zone, kinds] = entry;
    if (typeof zone !== "string" || !Array.isArray(kinds)) continue;
    for (const kind of kinds) {
      if (!Array.isArray(kind) || kind[0] !== "sources" || !Array.isArray(kind[1])) continue;
      for (const source of kind[1]) if (typeof source === "string") out.push({ zone, source });
    }
  }
  return out;
}
