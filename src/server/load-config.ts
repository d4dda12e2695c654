/**
 * From the command line and the files to the running daemon's settings: fwknopd.conf (+ -O
 * files), command-line overrides, access.conf (or --access-folder), the firewall backend choice.
 * Reads files only; nothing here touches a firewall (the backend is built on demand).
 */
import { existsSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseAccessConf, type AccessStanza } from "../config/access-conf.js";
import {
  filePermissionWarning,
  parseFwknopdConf,
  type ServerConfig,
} from "../config/fwknopd-conf.js";
import { FWKNOPD_VARS } from "../config/fwknopd-vars.js";
import { ConfigError } from "../errors.js";
import { runProgram } from "../exec.js";
import type { DaemonConfig } from "./daemon-config.js";
import { FirewalldBackend } from "./firewall/firewalld.js";
import { IptablesBackend } from "./firewall/iptables.js";
import { NftablesBackend } from "./firewall/nftables.js";
import type { FirewallBackend, NatSettings } from "./firewall/types.js";
import type { FirewallPlan, FirewallType, PlanConfig } from "./firewall/host/plan.js";
import type { ServerArgs } from "./options.js";
import { serveStanza, type ServedStanza } from "./pipeline/served-stanza.js";
import { DEFAULT_GPG_EXE } from "../gpg/defaults.js";

export type { FirewallType };

export interface LoadedConfig {
  conf: ServerConfig;
  stanzas: AccessStanza[];
  daemon: DaemonConfig;
  firewallType: FirewallType;
  /** The plan read from the host (withPlan), or null when the host was not read (-D, -t). */
  plan: FirewallPlan | null;
  warnings: string[];
  /** What plan.ts needs to know of the configuration. */
  planConfig: PlanConfig;
  /** This configuration with the backend the host's plan chose. */
  withPlan: (plan: FirewallPlan) => LoadedConfig;
}

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

/** C finds a missing gpg or keyring only when a packet comes; say so at start. */
function gpgWarnings(stanzas: readonly ServedStanza[]): string[] {
  const out: string[] = [];
  for (const s of stanzas) {
    const g = s.gpgResolved;
    if (g === null) continue;
    const where = `${s.file}:${s.line}: stanza for SOURCE '${s.source.text}'`;
    if (!existsSync(g.exe)) out.push(`${where}: GPG_EXE ${g.exe} does not exist`);
    if (!existsSync(g.homeDir)) out.push(`${where}: GPG_HOME_DIR ${g.homeDir} does not exist`);
  }
  return out;
}

export function loadConfig(args: ServerArgs): LoadedConfig {
  const { config: conf, warnings } = parseFwknopdConf(args.configFile, args.overrides);
  const cli = (name: string, v: string | null): void => {
    if (v !== null) conf.set(name, v, null);
  };
  cli("FWKNOP_RUN_DIR", args.runDir);
  cli("DIGEST_FILE", args.digestFile);
  cli("FWKNOP_PID_FILE", args.pidFile);
  cli("PCAP_INTF", args.interface);
  cli("PCAP_FILTER", args.pcapFilter);
  cli("ACCESS_FILE", args.accessFile);
  cli("ACCESS_FOLDER", args.accessFolder);
  if (args.udpServer) conf.set("ENABLE_UDP_SERVER", "Y", null);

  const folder = conf.str("ACCESS_FOLDER");
  const accessFile = conf.value("ACCESS_FILE");
  const access = parseAccessConf(folder !== null ? { folder } : { file: accessFile });
  warnings.push(...access.warnings);
  // Keys live in these files: group- or world-readable ones only warn, as C does.
  for (const f of [args.configFile, ...args.overrides, ...(folder === null ? [accessFile] : [])]) {
    const w = filePermissionWarning(f);
    if (w !== null) warnings.push(w);
  }
  const stanzas = access.stanzas;

  const gpgDefaults = {
    homeDir: conf.str("GPG_HOME_DIR") ?? "/root/.gnupg",
    exe: conf.str("GPG_EXE") ?? DEFAULT_GPG_EXE,
  };
  const served = stanzas.map((s) => serveStanza(s, gpgDefaults));
  warnings.push(...gpgWarnings(served));

  const names = FWKNOPD_VARS.map((v) => v.name).filter((n) => conf.isSet(n));
  const fwType = chooseFirewall(conf, names);
  const ipv6 = conf.bool("ENABLE_IPV6");
  const runDir = conf.value("FWKNOP_RUN_DIR");
  const parts = (plan: FirewallPlan): FirewallParts => firewallParts(conf, stanzas, plan);
  const first = parts(staticPlan(fwType, conf));

  const daemon: DaemonConfig = {
    udp: { enabled: conf.bool("ENABLE_UDP_SERVER"), port: conf.int("UDPSERV_PORT") },
    tcp: { enabled: conf.bool("ENABLE_TCP_SERVER"), port: conf.int("TCPSERV_PORT") },
    http: {
      enabled: conf.bool("ENABLE_SPA_OVER_HTTP"),
      allowAnyUserAgent: conf.bool("ALLOW_ANY_USER_AGENT"),
    },
    ipv6,
    pcap: {
      enabled: !conf.bool("ENABLE_UDP_SERVER") && !conf.bool("ENABLE_TCP_SERVER"),
      tcpdump: "/usr/bin/tcpdump",
      intf: conf.value("PCAP_INTF"),
      filter: conf.value("PCAP_FILTER"),
      promisc: conf.bool("ENABLE_PCAP_PROMISC"),
      anyDirection: args.pcapAnyDirection,
      snaplen: conf.int("MAX_SNIFF_BYTES"),
    },
    pcapFile: args.pcapFile,
    // --pcap-file turns aging off unless it was set explicitly (C).
    packetAging:
      conf.isSet("ENABLE_SPA_PACKET_AGING") || args.pcapFile === null
        ? conf.bool("ENABLE_SPA_PACKET_AGING")
        : false,
    maxPacketAge: conf.int("MAX_SPA_PACKET_AGE"),
    replayProtection: conf.bool("ENABLE_DIGEST_PERSISTENCE"),
    digestFile: conf.value("DIGEST_FILE"),
    digestSyncBeforeGrant: conf.bool("DIGEST_SYNC_BEFORE_GRANT"),
    pidFile: conf.value("FWKNOP_PID_FILE"),
    runDir,
    flushAtInit: first.flushAtInit,
    flushAtExit: first.flushAtExit,
    testMode: args.test,
    nat: first.nat,
    commands: {
      timeoutMs: (conf.isSet("CMD_EXEC_TIMEOUT") ? conf.int("CMD_EXEC_TIMEOUT") : 30) * 1000,
      sudoExe: conf.value("SUDO_EXE"),
    },
    // Two gpg processes keep two cores busy; a short queue absorbs a burst of honest clients.
    gpg: { concurrent: 2, queued: 8, timeoutMs: 5000 },
    packetLimit: args.packetLimit,
    stanzas: served,
    firewallReason: null,
    makeFirewall: first.makeFirewall,
  };
  const loaded: LoadedConfig = {
    conf,
    stanzas,
    daemon,
    firewallType: fwType,
    plan: null,
    warnings,
    planConfig: planConfigOf(conf, stanzas, names),
    withPlan: (plan: FirewallPlan): LoadedConfig => {
      const p = parts(plan);
      return {
        ...loaded,
        firewallType: plan.type,
        plan,
        daemon: {
          ...daemon,
          nat: p.nat,
          flushAtInit: p.flushAtInit,
          flushAtExit: p.flushAtExit,
          firewallReason: plan.reason,
          makeFirewall: p.makeFirewall,
        },
      };
    },
  };
  return loaded;
}

interface FirewallParts {
  nat: NatSettings;
  flushAtInit: boolean;
  flushAtExit: boolean;
  makeFirewall: () => FirewallBackend;
}

/**
 * FIREWALL_EXE when it is a program of this backend, else the backend's default: auto may pick
 * firewalld (it is running) although FIREWALL_EXE names iptables, and the other way round.
 */
function exeFor(type: FirewallType, configured: string | null): string {
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
function staticPlan(type: FirewallType, conf: ServerConfig): FirewallPlan {
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
function planConfigOf(
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

/** Everything that depends on the backend: NAT switches, flush flags, the backend itself. */
function firewallParts(
  conf: ServerConfig,
  stanzas: readonly AccessStanza[],
  plan: FirewallPlan,
): FirewallParts {
  const fwType = plan.type;
  // firewalld reads the FIREWD_* twins of the IPT_* variables, as a firewalld-built C fwknopd.
  const pfx = fwType === "firewalld" ? "FIREWD" : "IPT";
  const nat = natSettings(conf, pfx);
  for (const s of stanzas) checkStanzaNat(s, nat, pfx);
  const natOn = nat.forwarding || nat.localNat;
  // C sets up the SNAT chains only with ENABLE_*_SNAT, yet FORCE_SNAT/FORCE_MASQUERADE use them.
  const snatChains = nat.snat || stanzas.some((s) => s.forceSnat !== null || s.forceMasquerade);
  const exe = plan.exe ?? exeFor(fwType, conf.str("FIREWALL_EXE"));
  const ipv6 = conf.bool("ENABLE_IPV6");
  const makeFirewall = (): FirewallBackend => {
    if (fwType === "nftables") {
      const protect = conf.bool("NFT_PROTECT_PORTS")
        ? [
            ...new Map(
              stanzas.flatMap((s) => s.openPorts ?? []).map((p) => [`${p.proto}/${p.port}`, p]),
            ).values(),
          ]
        : [];
      return new NftablesBackend(
        {
          nft: [exe],
          family: conf.value("NFT_FAMILY"),
          table: conf.value("NFT_TABLE"),
          jumpChain: plan.jumpChain,
          forwardJumpChain: conf.str("NFT_FORWARD_JUMP_CHAIN"),
          nat: natOn,
          spaLimit:
            conf.bool("ENABLE_UDP_SERVER") && conf.int("NFT_SPA_RATE_LIMIT") > 0
              ? { port: conf.int("UDPSERV_PORT"), perSecond: conf.int("NFT_SPA_RATE_LIMIT") }
              : null,
          protect,
          ipv6,
          useLibrary: conf.bool("NFT_USE_LIBNFTABLES"),
        },
        runProgram,
      );
    }
    const ip6 = join(dirname(exe), basename(exe).replace("iptables", "ip6tables"));
    const ipt = new IptablesBackend(
      {
        kind: fwType,
        exe: [exe],
        ip6exe: fwType === "iptables" && ip6 !== exe && existsSync(ip6) ? [ip6] : null,
        input: conf.chain(`${pfx}_INPUT_ACCESS`),
        nat: natOn
          ? {
              forward: conf.chain(`${pfx}_FORWARD_ACCESS`),
              dnat: conf.chain(`${pfx}_DNAT_ACCESS`),
              snat: snatChains ? conf.chain(`${pfx}_SNAT_ACCESS`) : null,
              masquerade: snatChains ? conf.chain(`${pfx}_MASQUERADE_ACCESS`) : null,
            }
          : null,
        prepend: conf.bool("ENABLE_RULE_PREPEND"),
        ipv6,
        dbus: conf.bool("FIREWD_USE_DBUS"),
      },
      runProgram,
    );
    if (fwType !== "firewalld") return ipt;
    // Passthrough or rich rules: chosen at init by the backend firewalld runs.
    const forceNat = stanzas
      .filter((s) => s.forceNat !== null)
      .map((s) => ({ file: s.file, line: s.line, source: s.source.text }));
    return new FirewalldBackend(
      ipt,
      { exe: [exe], dbus: conf.bool("FIREWD_USE_DBUS"), zone: conf.str("FIREWD_ZONE"), forceNat },
      runProgram,
    );
  };

  return {
    nat,
    flushAtInit: conf.bool(`FLUSH_${pfx}_AT_INIT`),
    flushAtExit: conf.bool(`FLUSH_${pfx}_AT_EXIT`),
    makeFirewall,
  };
}
