/**
 * The backend for this host (issue 11): read the host's firewall, plan, and refuse to start when
 * a grant would open nothing. Used at start, on SIGHUP, by --fw-list/--fw-flush and --fw-check.
 */
import { EnvironmentError } from "../errors.js";
import { runProgram, type Exec } from "../exec.js";
import {
  PlanError,
  blockerFix,
  planFirewall,
  type FirewallPlan,
  type HostFirewall,
} from "./firewall/host/plan.js";
import { probeHost } from "./firewall/host/probe.js";
import { exeFor } from "./firewall-config.js";
import { NftLibrary } from "./native/libnftables.js";
import { fwCheckReport } from "./firewall/host/report.js";
import type { LoadedConfig } from "./load-config.js";

/** The host's firewall cannot take grants as configured: the chain and the fix are named. */
export class FirewallRefusedError extends EnvironmentError {
  override readonly code = "E_FIREWALL_REFUSED";
  constructor(message: string) {
    super(message);
    this.name = "FirewallRefusedError";
  }
}

export function readHost(cfg: LoadedConfig, exec: Exec = runProgram): Promise<HostFirewall> {
  const nft = exeFor("nftables", cfg.planConfig.exe?.value ?? null);
  // In-process only when we would use the library for grants too (the default nft, not wrapped).
  const inProcess = nft === "/usr/sbin/nft" && cfg.conf.bool("NFT_USE_LIBNFTABLES");
  return probeHost({
    exec,
    nft,
    ...(inProcess ? { nftJson: () => NftLibrary.listRulesetJson() } : {}),
  });
}

/** The plan, or the reason fwknopd cannot start (a PlanError's text), for the report. */
function planOrError(host: HostFirewall, cfg: LoadedConfig): FirewallPlan | { error: string } {
  try {
    return planFirewall(host, cfg.planConfig);
  } catch (e) {
    if (e instanceof PlanError) return { error: e.message };
    throw e;
  }
}

/**
 * The configuration with the backend the host calls for. Throws FirewallRefusedError when the
 * grants would open nothing (unless `force`); logs what was found and every warning.
 */
export async function resolveFirewall(
  cfg: LoadedConfig,
  force: boolean,
  log: (level: "info" | "warning", line: string) => void,
  exec: Exec = runProgram,
): Promise<LoadedConfig> {
  // A PlanError (no firewalld where the configuration asks for it, ...) stops the start as is.
  const plan = planFirewall(await readHost(cfg, exec), cfg.planConfig);
  for (const w of plan.warnings) log("warning", `Firewall: ${w}`);
  if (plan.openToAll.length > 0)
    log(
      "warning",
      `Firewall: WARNING: nothing on this host drops new connections to ${plan.openToAll.join(", ")}: open to everyone, with or without a grant (${plan.openToAllFix})`,
    );
  if (plan.blockers.length > 0) {
    const text = `a grant by the ${plan.type} backend would open nothing: ${plan.blockers.join("; ")}`;
    if (!force)
      throw new FirewallRefusedError(
        `firewall: ${text}. ${blockerFix(plan)} (fwknopd --fw-check shows the host)`,
      );
    log("warning", `Firewall: --force-firewall: starting although ${text}`);
  }
  return cfg.withPlan(plan);
}

/** `fwknopd --fw-check`: the report, and exit 0 only if grants would open. */
export async function fwCheck(
  cfg: LoadedConfig,
  exec: Exec = runProgram,
): Promise<{ text: string; ok: boolean }> {
  const host = await readHost(cfg, exec);
  const plan = planOrError(host, cfg);
  return {
    text: fwCheckReport(host, cfg.planConfig, plan),
    ok: !("error" in plan) && plan.blockers.length === 0,
  };
}
