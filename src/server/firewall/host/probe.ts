/**
 * Reads the host's firewall for plan.ts: the whole nftables ruleset (native and iptables-nft
 * rules; `nft -j list ruleset`), the legacy x_tables rules (`iptables-legacy-save`,
 * `ip6tables-legacy-save`), and whether firewalld answers on the system bus. Reads only.
 */
import { existsSync } from "node:fs";
import type { Exec } from "../../../exec.js";
import { FirewalldBus } from "../firewalld-dbus.js";
import { probeFirewalld } from "../firewalld.js";
import { parseIptablesSave } from "./iptables-save.js";
import type { FirewalldState, HostFirewall } from "./plan.js";
import { parseNftRuleset, type Ruleset } from "./ruleset.js";
import { EnvironmentError, messageOf } from "../../../errors.js";

export interface ProbeOptions {
  exec: Exec;
  /** The ruleset as JSON from libnftables in this process, or why not (then `nft` is run). */
  nftJson?: () => string | { error: string };
  /** The nft program (FIREWALL_EXE when it names nft, else /usr/sbin/nft). */
  nft: string;
  exists?: (path: string) => boolean;
  /** firewalld's state; by default asked over the system bus. */
  firewalld?: (rs: Ruleset) => Promise<FirewalldState>;
}

const LEGACY: ReadonlyArray<["ip" | "ip6", string]> = [
  ["ip", "/usr/sbin/iptables-legacy-save"],
  ["ip6", "/usr/sbin/ip6tables-legacy-save"],
];

/**
 * firewalld's state over the system bus (firewalld.ts:probeFirewalld: state, FirewallBackend,
 * default zone). A backend it does not report shows in the ruleset: firewalld's nftables backend
 * keeps its rules in `table inet firewalld`.
 */
export async function firewalldOverBus(rs: Ruleset): Promise<FirewalldState> {
  const bus = FirewalldBus.system();
  try {
    const p = await Promise.race([
      probeFirewalld(bus),
      new Promise<null>((resolve) => {
        setTimeout(() => {
          resolve(null);
        }, 5000).unref();
      }),
    ]);
    if (p === null || !p.running) return { running: false, backend: null, defaultZone: null };
    const backend = p.backend ?? (rs.tables.includes("inet firewalld") ? "nftables" : "iptables");
    return { running: true, backend, defaultZone: p.defaultZone };
  } finally {
    bus.close();
  }
}

export async function probeHost(o: ProbeOptions): Promise<HostFirewall> {
  const exists = o.exists ?? existsSync;
  const unread: string[] = [];
  let ruleset: Ruleset = { chains: [], tables: [] };
  const lib = o.nftJson?.() ?? { error: "not asked" };
  if (typeof lib === "string") ruleset = parseNftRuleset(lib);
  else if (!exists(o.nft)) unread.push(`nftables ruleset (${o.nft} is not installed)`);
  else {
    const r = await o.exec(o.nft, ["-j", "list", "ruleset"]);
    try {
      if (r.code !== 0) throw new EnvironmentError(r.stderr.trim());
      ruleset = parseNftRuleset(r.stdout);
    } catch (e) {
      unread.push(`nftables ruleset (${o.nft} -j list ruleset: ${messageOf(e)})`);
    }
  }
  for (const [family, prog] of LEGACY) {
    if (!exists(prog)) continue;
    const r = await o.exec(prog, []);
    if (r.code !== 0) unread.push(`legacy iptables rules (${prog}: ${r.stderr.trim()})`);
    else ruleset.chains.push(...parseIptablesSave(r.stdout, family));
  }
  const firewalld = await (o.firewalld ?? firewalldOverBus)(ruleset);
  return { ruleset, unread, firewalld };
}
