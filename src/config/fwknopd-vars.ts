/**
 * Every fwknopd.conf variable, declared once: default (server/fwknopd_common.h and
 * config_init.c:validate_options, with Debian's build paths), kind and range
 * (config_init.c:validate_int_var_ranges), and a line of documentation. The order is C's
 * config_map[] (server/cmd_opts.h), so -D lists them as C does; fwknop-ts's own variables follow.
 * `dead`: C parses it but never uses it (accepted with a warning). `ours`: a fwknop-ts extension.
 * Variables of other builds of C fwknopd (firewalld, ipfw, pf, NFQ) are all known here.
 */
import { b, chain, i, k, p, s, type VarDef } from "./var-def.js";
import { REDIS_VARS } from "./fwknopd-vars-redis.js";

export type { DefaultFn, VarDef, VarKind } from "./var-def.js";

/** 2 << 22, the cap C puts on its microsecond and count variables. */
const BIG = 8388608;
const RUN = "$FWKNOP_RUN_DIR";
const CHAIN_DOC = "target, table, from_chain, jump_pos, to_chain, rule_pos";

export const FWKNOPD_VARS = [
  p("CONFIG_FILE", "/etc/fwknop/fwknopd.conf", "set by -c"),
  s("OVERRIDE_CONFIG", null, "set by -O"),
  s("PCAP_INTF", "eth0", "capture interface (-i) when neither the UDP nor the TCP server is on"),
  p("PCAP_FILE", null, "offline capture file (--pcap-file)"),
  b("ENABLE_PCAP_PROMISC", "N", "promiscuous capture"),
  s("PCAP_FILTER", "udp port 62201", "capture filter (-P)"),
  i("PCAP_DISPATCH_COUNT", 100, 1, BIG, "packets per pcap dispatch"),
  i("PCAP_LOOP_SLEEP", 100000, 1, BIG, "microseconds between pcap loops"),
  b("ENABLE_PCAP_ANY_DIRECTION", null, "never read by C (use --pcap-any-direction)", {
    dead: true,
  }),
  b("EXIT_AT_INTF_DOWN", "Y", "exit when the capture interface goes down"),
  i("MAX_SNIFF_BYTES", 1500, 1, 32768, "pcap snap length"),
  b(
    "ENABLE_SPA_PACKET_AGING",
    (isSet) => (isSet("PCAP_FILE") ? "N" : "Y"),
    "refuse packets stamped too far from now (default N when PCAP_FILE is set)",
  ),
  i("MAX_SPA_PACKET_AGE", 120, 1, 100000, "seconds either side of now a packet may be stamped"),
  b("ENABLE_DIGEST_PERSISTENCE", "Y", "replay detection (N turns it off entirely, as in C)"),
  i(
    "RULES_CHECK_THRESHOLD",
    20,
    0,
    131071,
    "C's periodic scan of all rules; fwknop-ts expires by timer",
  ),
  i("CMD_EXEC_TIMEOUT", null, 1, BIG, "never used by C", { dead: true }),
  b("ENABLE_SPA_OVER_HTTP", "N", "accept SPA data in an HTTP GET request"),
  b("ALLOW_ANY_USER_AGENT", "N", "HTTP SPA without 'User-Agent: Fwknop'"),
  b("ENABLE_TCP_SERVER", "N", "TCP server (reads the SPA data from the connection)"),
  // C allows up to 131071 and then binds the port modulo 65536; we refuse what is not a port.
  i("TCPSERV_PORT", 62201, 1, 65535, "TCP server port"),
  b("ENABLE_UDP_SERVER", "N", "UDP server (no pcap needed)"),
  i("UDPSERV_PORT", 62201, 1, 65535, "UDP server port"),
  i("UDPSERV_SELECT_TIMEOUT", 500000, 1, BIG, "C's select() timeout; not needed here"),
  b(
    "ENABLE_NFQ_CAPTURE",
    "N",
    "NFQUEUE capture: the kernel queues UDP to NFQ_PORT to fwknopd, which drops it (no UDP server, TCP server or pcap then)",
  ),
  k("NFQ_INTERFACE", "ifname", "", "NFQ: queue only datagrams that came in on this interface"),
  i("NFQ_PORT", 62201, 1, 65535, "NFQ: the UDP port whose datagrams are queued"),
  k("NFQ_TABLE", "nfqtable", "mangle", "NFQ: iptables table (nftables: that hook priority)"),
  k("NFQ_CHAIN", "nftname", "FWKNOP_NFQ", "NFQ: the chain that holds the queue rule"),
  i("NFQ_QUEUE_NUMBER", 1, 0, 65535, "NFQ: the queue number"),
  i(
    "NFQ_LOOP_SLEEP",
    500000,
    1,
    BIG,
    "NFQ: the reader's idle wake-up in microseconds (at most 1 s)",
  ),
  s("LOCALE", null, "locale (NONE skips it)"),
  s("SYSLOG_IDENTITY", "fwknopd", "syslog ident"),
  k("SYSLOG_FACILITY", "facility", "LOG_DAEMON", "LOG_DAEMON or LOG_LOCAL0..7"),
  b("ENABLE_X_FORWARDED_FOR", "N", "HTTP mode: use X-Forwarded-For for 0.0.0.0 requests"),
  b("ENABLE_DESTINATION_RULE", "N", "put the packet's destination in rules"),
  b("ENABLE_RULE_PREPEND", "N", "insert rules at the top of the chain (-I)"),
  b("ENABLE_NAT_DNS", "Y", "allow host names in NAT requests"),
  b("ENABLE_FIREWD_FORWARDING", "N", "firewalld forwarding/DNAT"),
  b("ENABLE_FIREWD_LOCAL_NAT", "N", "firewalld local NAT"),
  b("ENABLE_FIREWD_SNAT", "N", "firewalld SNAT"),
  b("ENABLE_FIREWD_OUTPUT", "N", "firewalld OUTPUT rules"),
  b("FLUSH_FIREWD_AT_INIT", "Y", "remove fwknopd's firewalld rules at start"),
  b("FLUSH_FIREWD_AT_EXIT", "Y", "remove fwknopd's firewalld rules at exit"),
  chain("FIREWD_INPUT_ACCESS", "ACCEPT, filter, INPUT, 1, FWKNOP_INPUT, 1", CHAIN_DOC),
  chain("FIREWD_OUTPUT_ACCESS", "ACCEPT, filter, OUTPUT, 1, FWKNOP_OUTPUT, 1", CHAIN_DOC),
  chain("FIREWD_FORWARD_ACCESS", "ACCEPT, filter, FORWARD, 1, FWKNOP_FORWARD, 1", CHAIN_DOC),
  chain("FIREWD_DNAT_ACCESS", "DNAT, nat, PREROUTING, 1, FWKNOP_PREROUTING, 1", CHAIN_DOC),
  chain("FIREWD_SNAT_ACCESS", "SNAT, nat, POSTROUTING, 1, FWKNOP_POSTROUTING, 1", CHAIN_DOC),
  chain(
    "FIREWD_MASQUERADE_ACCESS",
    "MASQUERADE, nat, POSTROUTING, 1, FWKNOP_MASQUERADE, 1",
    CHAIN_DOC,
  ),
  b("ENABLE_FIREWD_COMMENT_CHECK", "Y", "probe for the comment match"),
  b("ENABLE_IPT_FORWARDING", "N", "iptables forwarding/DNAT"),
  b("ENABLE_IPT_LOCAL_NAT", "N", "iptables local NAT"),
  b("ENABLE_IPT_SNAT", "N", "iptables SNAT"),
  s(
    "SNAT_TRANSLATE_IP",
    null,
    "SNAT address; must be IPv4 when ENABLE_IPT_SNAT or ENABLE_FIREWD_SNAT is Y (checked then, as C)",
  ),
  b("ENABLE_IPT_OUTPUT", "N", "also add OUTPUT rules"),
  b("FLUSH_IPT_AT_INIT", "Y", "remove fwknopd's rules at start (also used for nftables)"),
  b("FLUSH_IPT_AT_EXIT", "Y", "remove fwknopd's rules at exit (also used for nftables)"),
  chain("IPT_INPUT_ACCESS", "ACCEPT, filter, INPUT, 1, FWKNOP_INPUT, 1", CHAIN_DOC),
  chain("IPT_OUTPUT_ACCESS", "ACCEPT, filter, OUTPUT, 1, FWKNOP_OUTPUT, 1", CHAIN_DOC),
  chain("IPT_FORWARD_ACCESS", "ACCEPT, filter, FORWARD, 1, FWKNOP_FORWARD, 1", CHAIN_DOC),
  chain("IPT_DNAT_ACCESS", "DNAT, nat, PREROUTING, 1, FWKNOP_PREROUTING, 1", CHAIN_DOC),
  chain("IPT_SNAT_ACCESS", "SNAT, nat, POSTROUTING, 1, FWKNOP_POSTROUTING, 1", CHAIN_DOC),
  chain(
    "IPT_MASQUERADE_ACCESS",
    "MASQUERADE, nat, POSTROUTING, 1, FWKNOP_MASQUERADE, 1",
    CHAIN_DOC,
  ),
  b("ENABLE_IPT_COMMENT_CHECK", "Y", "probe for the comment match"),
  b("FLUSH_IPFW_AT_INIT", "Y", "ipfw (BSD) only"),
  b("FLUSH_IPFW_AT_EXIT", "Y", "ipfw (BSD) only"),
  i("IPFW_START_RULE_NUM", 10000, 0, 131071, "ipfw (BSD) only"),
  i("IPFW_MAX_RULES", 65535, 1, 131071, "ipfw (BSD) only"),
  i("IPFW_ACTIVE_SET_NUM", 1, 0, 63, "ipfw (BSD) only"),
  i("IPFW_EXPIRE_SET_NUM", 2, 0, 63, "ipfw (BSD) only"),
  i("IPFW_EXPIRE_PURGE_INTERVAL", 30, 1, 131071, "ipfw (BSD) only"),
  b("IPFW_ADD_CHECK_STATE", "N", "ipfw (BSD) only"),
  s("PF_ANCHOR_NAME", "fwknop", "pf (BSD) only"),
  i("PF_EXPIRE_INTERVAL", 30, 1, 131071, "range-checked but never used by C", { dead: true }),
  k("FWKNOP_RUN_DIR", "absdir", "/var/run/fwknop", "run directory (absolute; created if missing)"),
  p("FWKNOP_CONF_DIR", "/etc/fwknop", "configuration directory"),
  p("ACCESS_FILE", "/etc/fwknop/access.conf", "access stanzas"),
  p("ACCESS_FOLDER", null, "read every *.conf here instead of ACCESS_FILE"),
  p("FWKNOP_PID_FILE", `${RUN}/fwknopd.pid`, "pid file"),
  p("DIGEST_FILE", `${RUN}/digest.cache`, "replay digest cache"),
  p("DIGEST_DB_FILE", null, "C's gdbm cache (not in Debian's build; not used)", { dead: true }),
  p("GPG_HOME_DIR", "/root/.gnupg", "GPG keyring of stanzas without their own GPG_HOME_DIR"),
  p("GPG_EXE", "/usr/bin/gpg", "gpg binary of stanzas without their own GPG_EXE"),
  p("SUDO_EXE", "/usr/bin/sudo", "sudo binary for ENABLE_CMD_SUDO_EXEC commands"),
  p("FIREWALL_EXE", null, "firewall program; default follows FIREWALL_TYPE"),
  i("VERBOSE", null, 0, 2147483647, "verbosity"),
  s("AFL_PKT_FILE", null, "C fuzzing builds only", { dead: true }),
  s("FAULT_INJECTION_TAG", null, "C test builds only", { dead: true }),
  k(
    "FIREWALL_TYPE",
    "firewall",
    "auto",
    "auto, nftables, iptables or firewalld (auto: read the host's firewall at start; fwknopd --fw-check shows what it finds and picks)",
    { ours: true },
  ),
  k("NFT_TABLE", "nftname", "fwknopd", "nftables: our table's name", { ours: true }),
  k("NFT_FAMILY", "nftfamily", "inet", "nftables: our table's family (inet, ip or ip6)", {
    ours: true,
  }),
  k(
    "NFT_JUMP_CHAIN",
    "nftjump",
    null,
    'nftables: "family table chain" of your own input chain to add our accept rule to (for rulesets that default-drop)',
    { ours: true },
  ),
  k(
    "NFT_FORWARD_JUMP_CHAIN",
    "nftjump",
    null,
    'nftables NAT: "family table chain" of your own forward chain to add our accept rules to (for rulesets whose forwarding default-drops)',
    { ours: true },
  ),
  k(
    "NFT_OUTPUT_JUMP_CHAIN",
    "nftjump",
    null,
    'nftables, ENABLE_IPT_OUTPUT: "family table chain" of your own output chain to add our accept rules for replies to (for rulesets whose output default-drops: an accept in our own table cannot override a drop in yours)',
    { ours: true },
  ),
  b(
    "NFT_PROTECT_PORTS",
    "N",
    "nftables: our table itself refuses new connections to all OPEN_PORTS unless granted",
    { ours: true },
  ),
  b("ENABLE_IPV6", "Y", "listen on IPv6 too, and grant IPv6 sources", { ours: true }),
  // Clients behind one NAT address share the meter, so it sits far above what they send and at
  // what fwknopd reads even on a quarter of a busy core (50,000/s: every knock honoured, meter
  // off, bench:flood; it reads 200,000-260,000 junk per CPU-second); the old 20/s let a co-tenant
  // sending 50 junk/s swallow 4-7 of 10 knocks (bench:co-tenant).
  i(
    "NFT_SPA_RATE_LIMIT",
    50_000,
    0,
    10_000_000,
    "nftables, UDP server: drop SPA datagrams above this many a second from one address in the kernel (bursts of a tenth of a second's worth, at least 40), so one address flooding beyond what fwknopd reads cannot crowd out the others; all clients behind one NAT address share it; 0 turns it off",
    { ours: true },
  ),
  b(
    "NFT_USE_LIBNFTABLES",
    "Y",
    "nftables: change set elements through libnftables in our own process (needs the koffi package; else, or with N, through a long-lived nft -i process)",
    { ours: true },
  ),
  b(
    "FIREWD_USE_DBUS",
    "Y",
    "firewalld: call its direct passthrough over the system bus (N: run FIREWALL_EXE, firewall-cmd, for each rule)",
    { ours: true },
  ),
  s(
    "FIREWD_ZONE",
    null,
    "firewalld, nftables backend: the zone fwknopd's rich rules go in (default: the zone bound to the client's source or to the interface the SPA arrived on, else firewalld's default zone)",
    { ours: true },
  ),
  b(
    "DIGEST_SYNC_BEFORE_GRANT",
    "N",
    "fdatasync each replay digest before its grant (N: written before, synced right after)",
    { ours: true },
  ),
  i(
    "DIGEST_CACHE_MAX_ENTRIES",
    2000000,
    1,
    100000000,
    "most replay digests kept (~45 bytes each in memory); when reached, SPA packets are refused, never a digest forgotten. With aging on, digests of packets older than MAX_SPA_PACKET_AGE are dropped; with aging off, none ever is",
    { ours: true },
  ),
  b(
    "LOG_GRANT_CONNECTIONS",
    "Y",
    "nftables: log each connection a grant admits, with the grant's user and stanza, and list them in --status (needs conntrack from conntrack-tools)",
    { ours: true },
  ),
  i(
    "CONNECT_GATE_PORT",
    62202,
    1,
    65535,
    "nftables, REQUIRE_CONNECT_TOKEN stanzas: the local TCP port of fwknopd's token gate, to which their grants' new connections are redirected",
    { ours: true },
  ),
  k(
    "METRICS_LISTEN",
    "listen",
    null,
    "ADDRESS:PORT for Prometheus /metrics and /healthz over HTTP (off when unset; never the SPA port)",
    { ours: true },
  ),
  k(
    "LOG_FORMAT",
    "logformat",
    "text",
    "log lines as text (C's wording, the default) or json (one object a line: ts, level, event, the known fields, msg), on stderr and syslog alike",
    { ours: true },
  ),
  b(
    "PRIVSEP",
    "Y",
    "privilege separation: packets are received, authenticated, decrypted and decoded in a process of their own running as RUN_AS_USER with no capabilities; the root process only acts on its checked requests (N: one process, as C)",
    { ours: true },
  ),
  k(
    "RUN_AS_USER",
    "string",
    null,
    "the user of the packet-parsing process under PRIVSEP (default: fwknopd if that user exists, else nobody)",
    { ours: true },
  ),
  ...REDIS_VARS,
] as const satisfies readonly VarDef[];

export type VarName = (typeof FWKNOPD_VARS)[number]["name"];

export const VAR_BY_NAME: ReadonlyMap<string, VarDef> = new Map(
  FWKNOPD_VARS.map((v): [string, VarDef] => [v.name, v]),
);
