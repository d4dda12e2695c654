/** Everything the running daemon needs, resolved from fwknopd.conf, access.conf and the flags. */
import type { FirewallBackend, NatSettings } from "./firewall/types.js";
import type { NfqRuleSpec, QueueRule } from "./firewall/nfq-rule.js";
import type { NfqOptions } from "./listen/nfq.js";
import type { PcapOptions } from "./listen/pcap.js";
import type { ServedStanza } from "./pipeline/served-stanza.js";
import type { Privsep } from "./privsep/run-as.js";
import type { RedisSettings } from "./replay/redis-config.js";

export interface DaemonConfig {
  udp: { enabled: boolean; port: number };
  tcp: { enabled: boolean; port: number };
  /** ENABLE_SPA_OVER_HTTP, ALLOW_ANY_USER_AGENT, ENABLE_X_FORWARDED_FOR. */
  http: { enabled: boolean; allowAnyUserAgent: boolean; xForwardedFor: boolean };
  ipv6: boolean;
  /** pcap capture when neither the UDP nor the TCP server is on (C's default mode). */
  pcap: PcapOptions & { enabled: boolean };
  /** ENABLE_NFQ_CAPTURE: the queue to read and the rule that fills it; null when off. */
  nfq: (NfqOptions & { rule: NfqRuleSpec }) | null;
  /** --pcap-file: process this savefile, then exit. */
  pcapFile: string | null;
  packetAging: boolean;
  maxPacketAge: number;
  /** ENABLE_DIGEST_PERSISTENCE: N turns replay detection off entirely, as in C. */
  replayProtection: boolean;
  digestFile: string;
  /** DIGEST_SYNC_BEFORE_GRANT: fdatasync each digest before its grant (see ReplayCache). */
  digestSyncBeforeGrant: boolean;
  /** DIGEST_CACHE_MAX_ENTRIES: at that many digests, packets are refused (none is forgotten). */
  digestCacheMaxEntries: number;
  /** REPLAY_STORE redis: the shared replay claim and grant journal; null: the local file alone. */
  redis: RedisSettings | null;
  pidFile: string;
  runDir: string;
  flushAtInit: boolean;
  flushAtExit: boolean;
  testMode: boolean;
  /** ENABLE_DESTINATION_RULE: grants admit traffic to the SPA packet's destination address only. */
  destinationRule: boolean;
  /** NAT switches (ENABLE_IPT_* or ENABLE_FIREWD_*, SNAT_TRANSLATE_IP, ENABLE_NAT_DNS). */
  nat: NatSettings;
  /** Command messages and cycles: CMD_EXEC_TIMEOUT (unused by C; honoured here), SUDO_EXE. */
  commands: { timeoutMs: number; sudoExe: string };
  /** gpg runs: at most `concurrent` at once and `queued` waiting, each killed after `timeoutMs`. */
  gpg: { concurrent: number; queued: number; timeoutMs: number };
  /** -C: exit after this many packets (0 = no limit). */
  packetLimit: number;
  stanzas: ServedStanza[];
  /** CONNECT_GATE_PORT when a stanza sets REQUIRE_CONNECT_TOKEN, else null (no gate). */
  gatePort: number | null;
  /** LOG_GRANT_CONNECTIONS: attribute each admitted connection to its grant (nftables). */
  logConnections: boolean;
  /** PRIVSEP Y: the packet parser's user (privsep/); null: one process, as C. */
  privsep: Privsep | null;
  /** Why this backend (firewall-choice.ts), for the start-up line; null when not read. */
  firewallReason: string | null;
  /** Built lazily so -t and -D never touch a firewall. */
  makeFirewall: () => FirewallBackend;
  /** The NFQUEUE rule in the chosen backend's terms (installed by the root daemon). */
  makeQueueRule: (spec: NfqRuleSpec) => QueueRule;
}
