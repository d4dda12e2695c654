/**
 * fwknopd.conf's firewall settings: the static backend choice (-D, -t), the facts plan.ts needs
 * (planConfigOf), and the backend a plan calls for with its NAT switches and flush flags
 * (firewallParts). Builds backends on demand; touches no firewall itself.
 */
import {
  IptQueueRule,
  NftQueueRule,
  type NfqRuleSpec,
  type QueueRule,
} from "./firewall/nfq-rule.js";
import { existsSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { AccessStanza } from "../config/access-conf.js";
import type { ServerConfig } from "../config/fwknopd-conf.js";
import { ConfigError } from "../errors.js";
import { runProgram } from "../exec.js";
import { FirewalldBackend } from "./firewall/firewalld.js";
import type { FirewallPlan, FirewallType, PlanConfig } from "./firewall/host/plan.js";
import { IptablesBackend } from "./firewall/iptables.js";
import type { CountedOptions } from "./firewall/nft-counted.js";
import { NftablesBackend } from "./firewall/nftables.js";
import type { FirewallBackend, NatSettings } from "./firewall/types.js";

const FIREWD_HINTS = /^(ENABLE_FIREWD_|FLUSH_FIREWD_|FIREWD_)/;

/** FIREWALL_TYPE, else what FIREWALL_EXE or the FIREWD_* variables imply, else nftables if present. */
export function chooseFirewall(
  conf: ServerConfig,
  names: readonly string[],
  exists: (p: string) => boolean = existsSync,
): FirewallType {
  const t = conf.value("FIREWALL_TYPE");
  if (t !== "auto") return t;
  const exe = conf.isSet("FIREWALL_EXE") ? basename(conf.str("FIREWALL_EXE") ?? "") : "";
  if (exe.includes("firewall-cmd")) return "firewalld";
  if (exe.includes("iptables")) return "iptables";
  if (exe.startsWith("nft")) return "nftables";
  if (names.some((n) => FIREWD_HINTS.test(n))) return "firewalld";
  return exists("/usr/sbin/nft") ? "nftables" : "iptables";
}

const DEFAULT_EXE: Record<FirewallType, string> = {
  nftables: "/usr/sbin/nft",
  iptables: "/usr/sbin/iptables",
  firewalld: "/usr/bin/firewall-cmd",
};

/**
 * The NAT switches: ENABLE_FIREWD_* for firewalld, ENABLE_IPT_* for iptables and for nftables
 * (fwknop has no nftables names; the iptables ones are what admins already have).
 */
function natSettings(conf: ServerConfig, p: "IPT" | "FIREWD"): NatSettings {
  const snat = conf.bool(`ENABLE_${p}_SNAT`);
  // parseFwknopdConf has already checked SNAT_TRANSLATE_IP is IPv4 when SNAT is on.
  const translate = conf.str("SNAT_TRANSLATE_IP");
  return {
    forwarding: conf.bool(`ENABLE_${p}_FORWARDING`),
    localNat: conf.bool(`ENABLE_${p}_LOCAL_NAT`),
    snat,
    snatTranslateIp: snat ? translate : null,
    natDns: conf.bool("ENABLE_NAT_DNS"),
  };
}

/** server/access.c: FORCE_NAT needs forwarding or local NAT switched on in fwknopd.conf. */
function checkStanzaNat(s: AccessStanza, nat: NatSettings, p: "IPT" | "FIREWD"): void {
  if (s.forceNat === null || nat.forwarding || nat.localNat) return;
  throw new ConfigError(
    s.file,
    s.line,
    `FORCE_NAT requires either ENABLE_${p}_FORWARDING or ENABLE_${p}_LOCAL_NAT in fwknopd.conf`,
  );
}

export interface FirewallParts {
  nat: NatSettings;
  flushAtInit: boolean;
  flushAtExit: boolean;
  makeFirewall: () => FirewallBackend;
  /** ENABLE_NFQ_CAPTURE: the rule that queues SPA datagrams, in this backend's terms. */
  makeQueueRule: (spec: NfqRuleSpec) => QueueRule;
}

/**
 * FIREWALL_EXE when it is a program of this backend, else the backend's default: auto may pick
 * firewalld (it is running) although FIREWALL_EXE names iptables, and the other way round.
 */
export function exeFor(type: FirewallType, configured: string | null): string {
  const fits: Record<FirewallType, RegExp> = {
    nftables: /^nft/,
    iptables: /iptables/,
    firewalld: /firewall-cmd/,
  };
  return configured !== null && fits[type].test(basename(configured))
    ? configured
    : DEFAULT_EXE[type];
}

/** The plan without reading the host (for -D, -t and unit tests): the configured choice. */
export function staticPlan(type: FirewallType, conf: ServerConfig): FirewallPlan {
  return {
    type,
    exe: null,
    jumpChain: conf.str("NFT_JUMP_CHAIN"),
    reason: "configured",
    blockers: [],
    warnings: [],
    openToAll: [],
    openToAllFix: "",
  };
}

/** Variables that only mean something to the iptables backend (plan.ts: they pick it). */
const IPT_CHAIN_VARS =
  /^(IPT_(INPUT|FORWARD|DNAT|SNAT|MASQUERADE|OUTPUT)_ACCESS|FLUSH_IPT_AT_(INIT|EXIT))$/;

/** The configuration's firewall facts for plan.ts. */
export function planConfigOf(
  conf: ServerConfig,
  stanzas: readonly AccessStanza[],
  names: readonly string[],
): PlanConfig {
  const input = conf.chain("IPT_INPUT_ACCESS");
  const exe = conf.str("FIREWALL_EXE");
  const origin = conf.origin("FIREWALL_EXE");
  return {
    type: conf.value("FIREWALL_TYPE"),
    exe:
      exe === null || !conf.isSet("FIREWALL_EXE")
        ? null
        : {
            value: exe,
            where: origin === null ? "<command line>" : `${origin.file}:${origin.line}`,
            legacy: isLegacyIptables(exe),
          },
    iptVars: names.filter((n) => IPT_CHAIN_VARS.test(n)),
    firewdVars: names.filter((n) => FIREWD_HINTS.test(n) && n !== "FIREWD_USE_DBUS"),
    iptInput: { table: input.table, fromChain: input.fromChain },
    nftTable: `${conf.value("NFT_FAMILY")} ${conf.value("NFT_TABLE")}`,
    nftJumpChain: conf.str("NFT_JUMP_CHAIN"),
    nftProtectPorts: conf.bool("NFT_PROTECT_PORTS"),
    openPorts: protectedPorts(stanzas),
    ipv6: conf.bool("ENABLE_IPV6"),
    output: {
      ipt: conf.bool("ENABLE_IPT_OUTPUT"),
      firewd: conf.bool("ENABLE_FIREWD_OUTPUT"),
      nftJumpChain: conf.str("NFT_OUTPUT_JUMP_CHAIN"),
    },
    exists: existsSync,
  };
}

/** Is this iptables program the legacy (x_tables) one, following Debian's alternatives links? */
function isLegacyIptables(exe: string): boolean {
  try {
    return /legacy/.test(realpathSync(exe));
  } catch {
    return /legacy/.test(exe);
  }
}

/** Every stanza's OPEN_PORTS, once each. */
function protectedPorts(
  stanzas: readonly AccessStanza[],
): Array<{ proto: "tcp" | "udp"; port: number }> {
  return [
    ...new Map(
      stanzas.flatMap((s) => s.openPorts ?? []).map((p) => [`${p.proto}/${p.port}`, p]),
    ).values(),
  ];
}

/** What the backend builders share: the settings, the stanzas and the plan's choice. */
interface BuildContext {
  conf: ServerConfig;
  stanzas: readonly AccessStanza[];
  plan: FirewallPlan;
  exe: string;
  nat: NatSettings;
  /** "IPT" or "FIREWD": which twin of the chain variables this backend reads. */
  pfx: "IPT" | "FIREWD";
}

const natOn = (n: NatSettings): boolean => n.forwarding || n.localNat;

/**
 * ENABLE_IPT_OUTPUT (iptables, and nftables, which has no names of its own) or
 * ENABLE_FIREWD_OUTPUT (firewalld): each plain grant also accepts its replies on the way out.
 */
const outputOn = (c: BuildContext): boolean => c.conf.bool(`ENABLE_${c.pfx}_OUTPUT`);

/**
 * MAX_CONNECTIONS is counted by nftables in the kernel (nft-counted.ts); the iptables and
 * firewalld backends have no such grant, so a stanza asking for one stops the start, named.
 */
export function countedProblem(
  stanzas: readonly AccessStanza[],
  backend: FirewallType,
): ConfigError | null {
  const s = stanzas.find((x) => x.maxConnections > 0 || x.requireConnectToken);
  if (s === undefined || backend === "nftables") return null;
  const { what, name } = countedWords(s);
  return new ConfigError(
    s.file,
    s.line,
    `${what} need the nftables backend, and fwknopd uses ${backend} here (remove ${name}, or run with FIREWALL_TYPE nftables)`,
  );
}

function countedWords(s: AccessStanza): { what: string; name: string } {
  return s.maxConnections > 0
    ? { what: `MAX_CONNECTIONS ${s.maxConnections}: counted grants`, name: "MAX_CONNECTIONS" }
    : { what: "REQUIRE_CONNECT_TOKEN: the token gate", name: "REQUIRE_CONNECT_TOKEN" };
}

/**
 * What ENABLE_DESTINATION_RULE cannot go with on nftables: our counted sets, the token gate and
 * the NAT maps are not keyed with the packet's destination (C puts it in DNAT rules too,
 * fwknopd.8). The start stops, naming the line, rather than letting such grants reach every
 * address of the host; iptables and firewalld put the destination in every rule.
 */
export function destinationRuleProblem(
  conf: ServerConfig,
  stanzas: readonly AccessStanza[],
  backend: FirewallType,
): ConfigError | null {
  if (backend !== "nftables" || !conf.bool("ENABLE_DESTINATION_RULE")) return null;
  const s = stanzas.find((x) => x.maxConnections > 0 || x.requireConnectToken);
  if (s !== undefined) {
    const { what, name } = countedWords(s);
    return new ConfigError(
      s.file,
      s.line,
      `${what} cannot be keyed with the packet's destination (remove ${name}, or set ENABLE_DESTINATION_RULE N)`,
    );
  }
  const nat = (["ENABLE_IPT_FORWARDING", "ENABLE_IPT_LOCAL_NAT"] as const).find((n) =>
    conf.bool(n),
  );
  if (nat === undefined) return null;
  const at = conf.origin("ENABLE_DESTINATION_RULE");
  return new ConfigError(
    at?.file ?? "fwknopd.conf",
    at?.line ?? 0,
    `ENABLE_DESTINATION_RULE with ${nat}: the nftables backend's NAT maps are not keyed with the packet's destination (use FIREWALL_TYPE iptables, or set one of them N)`,
  );
}

/** MAX_CONNECTIONS in any stanza: the counts to set up and how long a meter entry must live. */
export function countedOf(stanzas: readonly AccessStanza[]): CountedOptions | null {
  const counted = stanzas.filter((s) => s.maxConnections > 0);
  if (counted.length === 0) return null;
  const counts = [...new Set(counted.map((s) => s.maxConnections).filter((n) => n > 1))];
  const longest = Math.max(...counted.map((s) => Math.max(s.fwAccessTimeout, s.maxFwTimeout)));
  return { counts: counts.sort((a, b) => a - b), meterTimeout: longest + 60 };
}

function nftablesFrom(c: BuildContext): NftablesBackend {
  const { conf } = c;
  return new NftablesBackend(
    {
      nft: [c.exe],
      family: conf.value("NFT_FAMILY"),
      table: conf.value("NFT_TABLE"),
      jumpChain: c.plan.jumpChain,
      forwardJumpChain: conf.value("NFT_FORWARD_JUMP_CHAIN"),
      nat: natOn(c.nat),
      spaLimit:
        // With NFQUEUE capture the queue (at NFQ_TABLE's priority) takes the datagrams first.
        conf.value("ENABLE_UDP_SERVER") &&
        !conf.value("ENABLE_NFQ_CAPTURE") &&
        conf.value("NFT_SPA_RATE_LIMIT") > 0
          ? { port: conf.value("UDPSERV_PORT"), perSecond: conf.value("NFT_SPA_RATE_LIMIT") }
          : null,
      protect: conf.value("NFT_PROTECT_PORTS") ? protectedPorts(c.stanzas) : [],
      counted: countedOf(c.stanzas),
      gate: c.stanzas.some((s) => s.requireConnectToken)
        ? { port: conf.value("CONNECT_GATE_PORT") }
        : null,
      ipv6: conf.value("ENABLE_IPV6"),
      useLibrary: conf.value("NFT_USE_LIBNFTABLES"),
      destination: conf.value("ENABLE_DESTINATION_RULE"),
      output: outputOn(c),
      outputJumpChain: conf.value("NFT_OUTPUT_JUMP_CHAIN"),
    },
    runProgram,
  );
}

function iptablesFrom(
  c: BuildContext,
  kind: "iptables" | "firewalld",
  outputOnly = false,
): IptablesBackend {
  const { conf, exe, pfx } = c;
  const ip6 = join(dirname(exe), basename(exe).replace("iptables", "ip6tables"));
  // C sets up the SNAT chains only with ENABLE_*_SNAT, yet FORCE_SNAT/FORCE_MASQUERADE use them.
  const snat = c.nat.snat || c.stanzas.some((s) => s.forceSnat !== null || s.forceMasquerade);
  return new IptablesBackend(
    {
      kind,
      exe: [exe],
      ip6exe: kind === "iptables" && ip6 !== exe && existsSync(ip6) ? [ip6] : null,
      input: conf.chain(`${pfx}_INPUT_ACCESS`),
      output: outputOn(c) ? conf.chain(`${pfx}_OUTPUT_ACCESS`) : null,
      nat: natOn(c.nat)
        ? {
            forward: conf.chain(`${pfx}_FORWARD_ACCESS`),
            dnat: conf.chain(`${pfx}_DNAT_ACCESS`),
            snat: snat ? conf.chain(`${pfx}_SNAT_ACCESS`) : null,
            masquerade: snat ? conf.chain(`${pfx}_MASQUERADE_ACCESS`) : null,
          }
        : null,
      prepend: conf.value("ENABLE_RULE_PREPEND"),
      ipv6: conf.value("ENABLE_IPV6"),
      dbus: conf.value("FIREWD_USE_DBUS"),
      outputOnly,
    },
    runProgram,
  );
}

/** Passthrough or rich rules: chosen at init by the backend firewalld runs. */
function firewalldFrom(c: BuildContext): FirewalldBackend {
  const forceNat = c.stanzas
    .filter((s) => s.forceNat !== null)
    .map((s) => ({ file: s.file, line: s.line, source: s.source.text }));
  return new FirewalldBackend(
    iptablesFrom(c, "firewalld"),
    {
      exe: [c.exe],
      dbus: c.conf.value("FIREWD_USE_DBUS"),
      zone: c.conf.value("FIREWD_ZONE"),
      forceNat,
      output: outputOn(c) ? iptablesFrom(c, "firewalld", true) : null,
    },
    runProgram,
  );
}

/** The NFQUEUE rule in the terms of the chosen backend (firewall/nfq-rule.ts). */
function queueRuleFor(c: BuildContext, spec: NfqRuleSpec): QueueRule {
  if (c.plan.type === "nftables")
    return new NftQueueRule(
      spec,
      [c.exe],
      { family: c.conf.value("NFT_FAMILY"), table: c.conf.value("NFT_TABLE") },
      runProgram,
    );
  const exe = c.exe;
  const firewalld = c.plan.type === "firewalld";
  return new IptQueueRule(
    spec,
    (args) =>
      firewalld
        ? runProgram(exe, ["--direct", "--passthrough", "ipv4", ...args])
        : runProgram(exe, ["-w", ...args]),
    firewalld ? `${exe} --direct --passthrough ipv4` : exe,
  );
}

/** Everything that depends on the backend: NAT switches, flush flags, the backend itself. */
export function firewallParts(
  conf: ServerConfig,
  stanzas: readonly AccessStanza[],
  plan: FirewallPlan,
): FirewallParts {
  // firewalld reads the FIREWD_* twins of the IPT_* variables, as a firewalld-built C fwknopd.
  const pfx = plan.type === "firewalld" ? "FIREWD" : "IPT";
  const nat = natSettings(conf, pfx);
  for (const s of stanzas) checkStanzaNat(s, nat, pfx);
  const exe = plan.exe ?? exeFor(plan.type, conf.value("FIREWALL_EXE"));
  const c: BuildContext = { conf, stanzas, plan, exe, nat, pfx };
  const build: Record<FirewallType, () => FirewallBackend> = {
    nftables: () => nftablesFrom(c),
    iptables: () => iptablesFrom(c, "iptables"),
    firewalld: () => firewalldFrom(c),
  };
  return {
    nat,
    flushAtInit: conf.bool(`FLUSH_${pfx}_AT_INIT`),
    flushAtExit: conf.bool(`FLUSH_${pfx}_AT_EXIT`),
    makeFirewall: build[plan.type],
    makeQueueRule: (spec) => queueRuleFor(c, spec),
  };
}
