/** The text of `fwknopd --fw-check` (ours): what was found on the host, and the verdict. Pure. */
import {
  blockerFix,
  type FirewallPlan,
  type FirewallType,
  type HostFirewall,
  type PlanConfig,
} from "./plan.js";
import { chainName, type Chain, type Ruleset } from "./ruleset.js";

function chainLine(c: Chain): string {
  const b = c.base;
  if (b === null) return "";
  const src = c.origin === "nftables" ? "nftables" : c.origin;
  return `    ${chainName(c).padEnd(36)} priority ${String(b.prio).padStart(4)}  policy ${b.policy.padEnd(6)}  ${String(c.rules.length).padStart(3)} rule(s)  (${src})`;
}

/**
 * A host whose output default-drops lets a grant's SYN in and may keep the answer from getting
 * out: unless that chain accepts established traffic (not judged here), the grant needs its
 * OUTPUT rule (ENABLE_*_OUTPUT), and on nftables a place in that very chain.
 */
function outputWarnings(rs: Ruleset, cfg: PlanConfig, type: FirewallType): string[] {
  const drops = rs.chains.filter((c) => c.base?.hook === "output" && c.base.policy === "drop");
  const first = drops[0];
  if (first === undefined) return [];
  const names = drops.map(chainName).join(", ");
  const on = type === "firewalld" ? cfg.output?.firewd : cfg.output?.ipt;
  const jump = `NFT_OUTPUT_JUMP_CHAIN "${chainName(first)}"`;
  if (on !== true)
    return [
      `output policy drop in ${names}: replies to a granted client get out only if it accepts established traffic; if not, set ${type === "firewalld" ? "ENABLE_FIREWD_OUTPUT" : "ENABLE_IPT_OUTPUT"} Y${type === "nftables" ? ` and ${jump}` : ""}`,
    ];
  if (type === "nftables" && (cfg.output?.nftJumpChain ?? null) === null)
    return [
      `ENABLE_IPT_OUTPUT is on, but ${names} drops output and our own output chain cannot override it: set ${jump}`,
    ];
  return [];
}

export function fwCheckReport(
  host: HostFirewall,
  cfg: PlanConfig,
  plan: FirewallPlan | { error: string },
): string {
  const rs = host.ruleset;
  const lines = ["Host firewall:"];
  lines.push(`  tables: ${rs.tables.length > 0 ? rs.tables.join(", ") : "(none)"}`);
  for (const hook of ["input", "forward", "output"]) {
    const chains = rs.chains
      .filter((c) => c.base?.hook === hook)
      .sort((a, b) => (a.base?.prio ?? 0) - (b.base?.prio ?? 0));
    lines.push(`  base chains on the ${hook} hook:${chains.length === 0 ? " (none)" : ""}`);
    for (const c of chains) lines.push(chainLine(c));
  }
  const fw = host.firewalld;
  lines.push(
    `  firewalld: ${fw.running ? `running, backend ${fw.backend ?? "unknown"}, default zone ${fw.defaultZone ?? "unknown"}` : "not running"}`,
  );
  for (const u of host.unread) lines.push(`  not read: ${u}`);
  const ports = cfg.openPorts.map((p) => `${p.proto}/${p.port}`);
  lines.push(
    `  protected ports (OPEN_PORTS): ${ports.length > 0 ? ports.join(", ") : "(none named; judged with tcp/22)"}`,
  );
  lines.push("", "Verdict:");
  if ("error" in plan) {
    lines.push(`  cannot start: ${plan.error}`);
    return `${lines.join("\n")}\n`;
  }
  lines.push(`  backend: ${plan.type} (${plan.reason})`);
  if (plan.type === "iptables" && plan.exe !== null) lines.push(`  program: ${plan.exe}`);
  if (plan.jumpChain !== null) lines.push(`  our accept goes at the top of: ${plan.jumpChain}`);
  if (plan.blockers.length === 0) lines.push("  grants: would open (no other chain drops them)");
  else {
    lines.push("  grants: WOULD NOT OPEN:");
    for (const b of plan.blockers) lines.push(`    ${b}`);
    lines.push(`    fix: ${blockerFix(plan)}`);
  }
  for (const w of [...plan.warnings, ...outputWarnings(rs, cfg, plan.type)])
    lines.push(`  warning: ${w}`);
  if (plan.openToAll.length > 0)
    lines.push(
      `  WARNING: open to everyone, with or without a grant: ${plan.openToAll.join(", ")} (${plan.openToAllFix})`,
    );
  return `${lines.join("\n")}\n`;
}
