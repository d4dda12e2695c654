/**
 * From the command line and the files to the running daemon's settings: fwknopd.conf (+ -O
 * files), command-line overrides, access.conf (or --access-folder), the firewall backend choice.
 * Reads files only; nothing here touches a firewall (the backend is built on demand).
 */
import { existsSync, readFileSync } from "node:fs";
import { parseAccessConf, type AccessStanza } from "../config/access-conf.js";
import {
  filePermissionWarning,
  parseFwknopdConf,
  type ServerConfig,
} from "../config/fwknopd-conf.js";
import { privsepOf } from "./privsep/run-as.js";
import { redisSettingsOf } from "./replay/redis-config.js";
import { FWKNOPD_VARS, type VarName } from "../config/fwknopd-vars.js";
import { ConfigError } from "../errors.js";
import type { DaemonConfig } from "./daemon-config.js";
import type { FirewallPlan, FirewallType, PlanConfig } from "./firewall/host/plan.js";
import {
  chooseFirewall,
  firewallParts,
  planConfigOf,
  staticPlan,
  type FirewallParts,
} from "./firewall-config.js";
import type { ServerArgs } from "./options.js";
import { serveStanza, type ServedStanza } from "./pipeline/served-stanza.js";

export type { FirewallType };
export { chooseFirewall };

export interface LoadedConfig {
  conf: ServerConfig;
  stanzas: AccessStanza[];
  daemon: DaemonConfig;
  firewallType: FirewallType;
  warnings: string[];
  /** What plan.ts needs to know of the configuration. */
  planConfig: PlanConfig;
  /** This configuration with the backend the host's plan chose. */
  withPlan: (plan: FirewallPlan) => LoadedConfig;
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

/** fwknopd.conf with the command line's overrides applied (C: the command line wins). */
function readFwknopdConf(
  args: ServerArgs,
  readFile?: (path: string) => string,
): { conf: ServerConfig; warnings: string[] } {
  const { config: conf, warnings } = parseFwknopdConf(args.configFile, args.overrides, readFile);
  const cli = (name: VarName, v: string | null): void => {
    if (v !== null) conf.set(name, v, null);
  };
  cli("FWKNOP_RUN_DIR", args.runDir);
  cli("DIGEST_FILE", args.digestFile);
  cli("FWKNOP_PID_FILE", args.pidFile);
  cli("PCAP_INTF", args.interface);
  cli("PCAP_FILTER", args.pcapFilter);
  cli("ACCESS_FILE", args.accessFile);
  cli("ACCESS_FOLDER", args.accessFolder);
  cli("GPG_HOME_DIR", args.gpgHomeDir);
  cli("GPG_EXE", args.gpgExe);
  cli("SUDO_EXE", args.sudoExe);
  if (args.udpServer) conf.set("ENABLE_UDP_SERVER", "Y", null);
  return { conf, warnings };
}

/** access.conf (or --access-folder), with the warnings of files that hold keys. */
function readAccess(args: ServerArgs, conf: ServerConfig, warnings: string[]): AccessStanza[] {
  const folder = conf.value("ACCESS_FOLDER");
  const accessFile = conf.value("ACCESS_FILE");
  const access = parseAccessConf(folder !== null ? { folder } : { file: accessFile });
  warnings.push(...access.warnings);
  // Keys live in these files: group- or world-readable ones only warn, as C does.
  for (const f of [args.configFile, ...args.overrides, ...(folder === null ? [accessFile] : [])]) {
    const w = filePermissionWarning(f);
    if (w !== null) warnings.push(w);
  }
  return access.stanzas;
}

function nfqOf(conf: ServerConfig): NonNullable<DaemonConfig["nfq"]> {
  const queue = conf.value("NFQ_QUEUE_NUMBER");
  const port = conf.value("NFQ_PORT");
  return {
    queue,
    port,
    loopSleepUs: conf.value("NFQ_LOOP_SLEEP"),
    rule: {
      queue,
      port,
      table: conf.value("NFQ_TABLE"),
      chain: conf.value("NFQ_CHAIN"),
      intf: conf.value("NFQ_INTERFACE"),
    },
  };
}

/** Listeners and capture. */
function listenersOf(
  conf: ServerConfig,
  args: ServerArgs,
): Pick<DaemonConfig, "udp" | "tcp" | "http" | "ipv6" | "pcap" | "pcapFile" | "nfq"> {
  // C (fwknopd.c main): NFQ capture, when on, is the only way in; the UDP server, the TCP server
  // and pcap are not started.
  const nfq = conf.value("ENABLE_NFQ_CAPTURE") && args.pcapFile === null;
  const udp = !nfq && conf.value("ENABLE_UDP_SERVER");
  const tcp = !nfq && conf.value("ENABLE_TCP_SERVER");
  return {
    nfq: nfq ? nfqOf(conf) : null,
    udp: { enabled: udp, port: conf.value("UDPSERV_PORT") },
    tcp: { enabled: tcp, port: conf.value("TCPSERV_PORT") },
    http: {
      enabled: conf.value("ENABLE_SPA_OVER_HTTP"),
      allowAnyUserAgent: conf.value("ALLOW_ANY_USER_AGENT"),
      xForwardedFor: conf.value("ENABLE_X_FORWARDED_FOR"),
    },
    ipv6: conf.value("ENABLE_IPV6"),
    pcap: {
      enabled: !nfq && !udp && !tcp,
      tcpdump: "/usr/bin/tcpdump",
      intf: conf.value("PCAP_INTF"),
      filter: conf.value("PCAP_FILTER"),
      promisc: conf.value("ENABLE_PCAP_PROMISC"),
      anyDirection: args.pcapAnyDirection,
      snaplen: conf.value("MAX_SNIFF_BYTES"),
    },
    pcapFile: args.pcapFile,
  };
}

/** The running daemon's settings, with the firewall parts of the static (configured) choice. */
function daemonConfigOf(
  conf: ServerConfig,
  args: ServerArgs,
  stanzas: ServedStanza[],
  fw: FirewallParts,
): DaemonConfig {
  return {
    ...listenersOf(conf, args),
    // --pcap-file turns aging off unless it was set explicitly (C).
    packetAging:
      conf.isSet("ENABLE_SPA_PACKET_AGING") || args.pcapFile === null
        ? conf.value("ENABLE_SPA_PACKET_AGING")
        : false,
    maxPacketAge: conf.value("MAX_SPA_PACKET_AGE"),
    replayProtection: conf.value("ENABLE_DIGEST_PERSISTENCE"),
    digestFile: conf.value("DIGEST_FILE"),
    digestSyncBeforeGrant: conf.value("DIGEST_SYNC_BEFORE_GRANT"),
    digestCacheMaxEntries: conf.value("DIGEST_CACHE_MAX_ENTRIES"),
    redis: redisSettingsOf(conf, args.configFile),
    pidFile: conf.value("FWKNOP_PID_FILE"),
    runDir: conf.value("FWKNOP_RUN_DIR"),
    flushAtInit: fw.flushAtInit,
    flushAtExit: fw.flushAtExit,
    testMode: args.test,
    destinationRule: conf.value("ENABLE_DESTINATION_RULE"),
    nat: fw.nat,
    commands: {
      // C parses CMD_EXEC_TIMEOUT and never uses it (no default); we honour it, 30 s when unset.
      timeoutMs: (conf.value("CMD_EXEC_TIMEOUT") ?? 30) * 1000,
      sudoExe: conf.value("SUDO_EXE"),
    },
    // Two gpg processes keep two cores busy; a short queue absorbs a burst of honest clients.
    gpg: { concurrent: 2, queued: 8, timeoutMs: 5000 },
    packetLimit: args.packetLimit,
    logConnections: conf.value("LOG_GRANT_CONNECTIONS"),
    gatePort: stanzas.some((s) => s.requireConnectToken) ? conf.value("CONNECT_GATE_PORT") : null,
    stanzas,
    // --pcap-file reads a file and exits: nothing listens, so nothing is separated.
    privsep: args.pcapFile === null ? privsepOf(conf, args.configFile) : null,
    firewallReason: null,
    makeFirewall: fw.makeFirewall,
    makeQueueRule: fw.makeQueueRule,
  };
}

/** Where a running daemon is found (-K, -R, -S): the pid file and the run directory. */
export interface ControlPaths {
  pidFile: string;
  runDir: string;
  /** Why fwknopd.conf was only partly read, or null. */
  warning: string | null;
}

/** The two lines a control command needs; every other line is blanked (line numbers stay). */
function pathLinesOnly(path: string): string {
  return readFileSync(path, "utf8")
    .split("\n")
    .map((l) => (/^\s*(FWKNOP_RUN_DIR|FWKNOP_PID_FILE)\s/.test(l) ? l : ""))
    .join("\n");
}

/**
 * -K, -R and -S need only the pid file, as in C: access.conf is not read at all, and a
 * fwknopd.conf that no longer parses (edited since the daemon started) costs only a warning, its
 * FWKNOP_RUN_DIR and FWKNOP_PID_FILE lines still being honoured.
 */
export function loadControlPaths(args: ServerArgs): ControlPaths {
  const paths = (conf: ServerConfig): Omit<ControlPaths, "warning"> => ({
    pidFile: conf.value("FWKNOP_PID_FILE"),
    runDir: conf.value("FWKNOP_RUN_DIR"),
  });
  try {
    return { ...paths(readFwknopdConf(args).conf), warning: null };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    let conf: ServerConfig;
    try {
      conf = readFwknopdConf(args, pathLinesOnly).conf;
    } catch {
      conf = readFwknopdConf(args, () => "").conf;
    }
    const p = paths(conf);
    return { ...p, warning: `${e.message} (looking for fwknopd through ${p.pidFile})` };
  }
}

/**
 * The whole configuration. `accessOptional` (--fw-list, --fw-flush): an access.conf that does
 * not parse is a warning and the firewall is listed or flushed without its stanzas.
 */
export function loadConfig(
  args: ServerArgs,
  opts: { accessOptional?: boolean } = {},
): LoadedConfig {
  const { conf, warnings } = readFwknopdConf(args);
  let stanzas: AccessStanza[] = [];
  try {
    stanzas = readAccess(args, conf, warnings);
  } catch (e) {
    if (opts.accessOptional !== true || !(e instanceof ConfigError)) throw e;
    warnings.push(`${e.message} (going on without the access stanzas)`);
  }
  const gpgDefaults = { homeDir: conf.value("GPG_HOME_DIR"), exe: conf.value("GPG_EXE") };
  const served = stanzas.map((s) => serveStanza(s, gpgDefaults));
  warnings.push(...gpgWarnings(served));
  const names = FWKNOPD_VARS.map((v) => v.name).filter((n) => conf.isSet(n));
  const fwType = chooseFirewall(conf, names);
  const parts = (plan: FirewallPlan): FirewallParts => firewallParts(conf, stanzas, plan);
  const daemon = daemonConfigOf(conf, args, served, parts(staticPlan(fwType, conf)));
  const loaded: LoadedConfig = {
    conf,
    stanzas,
    daemon,
    firewallType: fwType,
    warnings,
    planConfig: planConfigOf(conf, stanzas, names),
    withPlan: (plan: FirewallPlan): LoadedConfig => {
      const { nat, flushAtInit, flushAtExit, makeFirewall, makeQueueRule } = parts(plan);
      return {
        ...loaded,
        firewallType: plan.type,
        daemon: {
          ...daemon,
          nat,
          flushAtInit,
          flushAtExit,
          firewallReason: plan.reason,
          makeFirewall,
          makeQueueRule,
        },
      };
    },
  };
  return loaded;
}
