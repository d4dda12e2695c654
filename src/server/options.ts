/**
 * fwknopd's command line (server/cmd_opts.h), declared once with its help line. Values land in
 * ServerArgs; everything else comes from fwknopd.conf.
 */
import type { OptSpec } from "../argv/getopt.js";
import { UsageError } from "../errors.js";
import { ALL_GATEWAYS, type GatewayArgs } from "./options-gateways.js";

export interface ServerArgs extends GatewayArgs {
  accessFile: string | null;
  accessFolder: string | null;
  configFile: string;
  overrides: string[];
  packetLimit: number;
  digestFile: string | null;
  pidFile: string | null;
  runDir: string | null;
  dumpConfig: boolean;
  foreground: boolean;
  interface: string | null;
  pcapFilter: string | null;
  pcapFile: string | null;
  udpServer: boolean;
  pcapAnyDirection: boolean;
  test: boolean;
  kill: boolean;
  restart: boolean;
  status: boolean;
  fwList: boolean;
  fwListAll: boolean;
  fwFlush: boolean;
  /** --revoke-connections (ours), with --fw-flush: cut what the grants let in. */
  revokeConnections: boolean;
  /** --fw-check (ours): read the host's firewall, print what was found and the verdict. */
  fwCheck: boolean;
  /** --force-firewall (ours): start even if the host would drop what a grant accepts. */
  forceFirewall: boolean;
  rotateDigestCache: boolean;
  keyGen: boolean;
  keyGenFile: string | null;
  keyLen: number | null;
  hmacKeyLen: number | null;
  hmacDigestType: string | null;
  syslogEnable: boolean;
  verbose: number;
  version: boolean;
  help: boolean;
  exitParseConfig: boolean;
  exitParseDigestCache: boolean;
  /** --gpg-home-dir, --gpg-exe, --sudo-exe: GPG_HOME_DIR, GPG_EXE, SUDO_EXE (C: command line wins). */
  gpgHomeDir: string | null;
  gpgExe: string | null;
  sudoExe: string | null;
  /** Internal: the detached child of a daemonising parent. */
  daemonChild: boolean;
}

export const DEFAULT_CONFIG_FILE = "/etc/fwknop/fwknopd.conf";

export function defaultServerArgs(): ServerArgs {
  return {
    accessFile: null,
    accessFolder: null,
    configFile: DEFAULT_CONFIG_FILE,
    overrides: [],
    packetLimit: 0,
    digestFile: null,
    pidFile: null,
    runDir: null,
    dumpConfig: false,
    foreground: false,
    interface: null,
    pcapFilter: null,
    pcapFile: null,
    udpServer: false,
    pcapAnyDirection: false,
    test: false,
    kill: false,
    restart: false,
    status: false,
    fwList: false,
    fwListAll: false,
    fwFlush: false,
    revokeConnections: false,
    fwCheck: false,
    forceFirewall: false,
    rotateDigestCache: false,
    keyGen: false,
    keyGenFile: null,
    keyLen: null,
    hmacKeyLen: null,
    hmacDigestType: null,
    syslogEnable: false,
    verbose: 0,
    version: false,
    help: false,
    exitParseConfig: false,
    exitParseDigestCache: false,
    gpgHomeDir: null,
    gpgExe: null,
    sudoExe: null,
    daemonChild: false,
  };
}

export interface ServerOption extends OptSpec {
  help: string;
  set: (a: ServerArgs, v: string) => void;
}

const num = (v: string, what: string): number => {
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`${what} must be a number, got '${v}'`, what);
  return Number(v);
};

export const SERVER_OPTIONS: readonly ServerOption[] = [
  {
    long: "access-file",
    short: "a",
    arg: "required",
    help: "access.conf to use.",
    set: (a, v) => void (a.accessFile = v),
  },
  {
    long: "access-folder",
    arg: "required",
    help: "Read every *.conf in this folder instead of access.conf.",
    set: (a, v) => void (a.accessFolder = v),
  },
  {
    long: "config-file",
    short: "c",
    arg: "required",
    help: `fwknopd.conf to use (default ${DEFAULT_CONFIG_FILE}).`,
    set: (a, v) => void (a.configFile = v),
  },
  {
    long: "override-config",
    short: "O",
    arg: "required",
    help: "Comma-separated files read after fwknopd.conf.",
    set: (a, v) => void a.overrides.push(...v.split(",").filter((x) => x !== "")),
  },
  {
    long: "packet-limit",
    short: "C",
    arg: "required",
    help: "Exit after this many packets.",
    set: (a, v) => void (a.packetLimit = num(v, "-C")),
  },
  {
    long: "digest-file",
    short: "d",
    arg: "required",
    help: "Replay digest cache file.",
    set: (a, v) => void (a.digestFile = v),
  },
  {
    long: "pid-file",
    short: "p",
    arg: "required",
    help: "PID file.",
    set: (a, v) => void (a.pidFile = v),
  },
  {
    long: "run-dir",
    short: "r",
    arg: "required",
    help: "Run directory (FWKNOP_RUN_DIR).",
    set: (a, v) => void (a.runDir = v),
  },
  {
    long: "dump-config",
    short: "D",
    arg: "none",
    help: "Print the configuration (secrets hidden) and exit.",
    set: (a) => void (a.dumpConfig = true),
  },
  {
    long: "foreground",
    short: "f",
    arg: "none",
    help: "Stay in the foreground, log to stderr.",
    set: (a) => void (a.foreground = true),
  },
  {
    long: "interface",
    short: "i",
    arg: "required",
    help: "PCAP_INTF: the interface to capture on.",
    set: (a, v) => void (a.interface = v),
  },
  {
    long: "pcap-filter",
    short: "P",
    arg: "required",
    help: "PCAP_FILTER: the capture filter.",
    set: (a, v) => void (a.pcapFilter = v),
  },
  {
    long: "pcap-file",
    arg: "required",
    help: "Process the SPA packets in a pcap file, then exit.",
    set: (a, v) => void (a.pcapFile = v),
  },
  {
    long: "pcap-any-direction",
    arg: "none",
    help: "pcap: also take SPA packets leaving the interface, not only arriving ones.",
    set: (a) => void (a.pcapAnyDirection = true),
  },
  {
    long: "udp-server",
    short: "U",
    arg: "none",
    help: "Receive SPA packets on a UDP socket (ENABLE_UDP_SERVER).",
    set: (a) => void (a.udpServer = true),
  },
  {
    long: "test",
    short: "t",
    arg: "none",
    help: "Check packets but change no firewall and record no digest.",
    set: (a) => void (a.test = true),
  },
  {
    long: "kill",
    short: "K",
    arg: "none",
    help: "Stop the running fwknopd.",
    set: (a) => void (a.kill = true),
  },
  {
    long: "restart",
    short: "R",
    arg: "none",
    help: "Make the running fwknopd re-read its configuration (SIGHUP).",
    set: (a) => void (a.restart = true),
  },
  {
    long: "status",
    short: "S",
    arg: "none",
    help: "Is fwknopd running? Shows its pid and live grants.",
    set: (a) => void (a.status = true),
  },
  ALL_GATEWAYS,
  {
    long: "fw-list",
    arg: "none",
    help: "List the firewall rules fwknopd manages.",
    set: (a) => void (a.fwList = true),
  },
  {
    long: "fw-list-all",
    arg: "none",
    help: "List all rules of the tables fwknopd uses.",
    set: (a) => void (a.fwListAll = true),
  },
  {
    long: "fw-flush",
    arg: "none",
    help: "Remove all firewall rules fwknopd manages, then exit.",
    set: (a) => void (a.fwFlush = true),
  },
  {
    long: "revoke-connections",
    arg: "none",
    help: "With --fw-flush: also cut the connections fwknopd's grants let in (nftables; services on this host).",
    set: (a) => void (a.revokeConnections = true),
  },
  {
    long: "fw-check",
    arg: "none",
    help: "Read the host's firewall, say which backend fwknopd would use and whether grants would open (exit 0 only then).",
    set: (a) => void (a.fwCheck = true),
  },
  {
    long: "force-firewall",
    arg: "none",
    help: "Start even if a chain of the host's firewall would drop what a grant accepts.",
    set: (a) => void (a.forceFirewall = true),
  },
  {
    long: "rotate-digest-cache",
    arg: "none",
    help: "Move the digest cache aside (<file>-old) at start.",
    set: (a) => void (a.rotateDigestCache = true),
  },
  {
    long: "key-gen",
    arg: "none",
    help: "Print a new Rijndael key and HMAC key, then exit.",
    set: (a) => void (a.keyGen = true),
  },
  {
    long: "key-gen-file",
    arg: "required",
    help: "Write new keys to this file.",
    set: (a, v) => void ((a.keyGen = true), (a.keyGenFile = v)),
  },
  {
    long: "key-len",
    arg: "required",
    help: "Key length for --key-gen.",
    set: (a, v) => void (a.keyLen = num(v, "--key-len")),
  },
  {
    long: "hmac-key-len",
    arg: "required",
    help: "HMAC key length for --key-gen.",
    set: (a, v) => void (a.hmacKeyLen = num(v, "--hmac-key-len")),
  },
  {
    long: "hmac-digest-type",
    arg: "required",
    help: "HMAC type for --key-gen.",
    set: (a, v) => void (a.hmacDigestType = v),
  },
  {
    long: "gpg-home-dir",
    arg: "required",
    help: "GPG_HOME_DIR: the keyring of stanzas without their own.",
    set: (a, v) => void (a.gpgHomeDir = v),
  },
  {
    long: "gpg-exe",
    arg: "required",
    help: "GPG_EXE: the gpg program of stanzas without their own.",
    set: (a, v) => void (a.gpgExe = v),
  },
  {
    long: "sudo-exe",
    arg: "required",
    help: "SUDO_EXE: sudo for ENABLE_CMD_SUDO_EXEC commands.",
    set: (a, v) => void (a.sudoExe = v),
  },
  {
    long: "no-ipt-check-support",
    arg: "none",
    help: "Accepted for compatibility (iptables -C is only used to find our jump rule).",
    set: () => undefined,
  },
  {
    long: "no-firewd-check-support",
    arg: "none",
    help: "Accepted for compatibility (firewalld is driven over D-Bus).",
    set: () => undefined,
  },
  {
    long: "locale",
    short: "l",
    arg: "required",
    help: "Accepted for compatibility (messages are in English).",
    set: () => undefined,
  },
  {
    long: "syslog-enable",
    arg: "none",
    help: "Log to syslog even in the foreground.",
    set: (a) => void (a.syslogEnable = true),
  },
  {
    long: "verbose",
    short: "v",
    arg: "none",
    help: "More log output (repeatable).",
    set: (a) => {
      a.verbose++;
    },
  },
  {
    long: "version",
    short: "V",
    arg: "none",
    help: "Print the version and exit.",
    set: (a) => void (a.version = true),
  },
  {
    long: "help",
    short: "h",
    arg: "none",
    help: "Print this help and exit.",
    set: (a) => void (a.help = true),
  },
  {
    long: "exit-parse-config",
    arg: "none",
    help: "Parse the configuration, then exit.",
    set: (a) => void (a.exitParseConfig = true),
  },
  {
    long: "exit-parse-digest-cache",
    arg: "none",
    help: "Parse the digest cache, then exit.",
    set: (a) => void (a.exitParseDigestCache = true),
  },
  { long: "daemon-child", arg: "none", help: "", set: (a) => void (a.daemonChild = true) },
];
