/**
 * fwknopd.conf: the shared line reader, the tutorial's and Debian's files as they are, C's
 * defaults, $VAR expansion, the typed view, -D, and malformed files naming file, line and value.
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { expandVarRef, readConfLines } from "../../src/config/conf-lines.js";
import {
  dumpConfig,
  filePermissionWarning,
  parseChainSpec,
  parseFwknopdConf,
} from "../../src/config/fwknopd-conf.js";
import { camelCase } from "../../src/config/fwknopd-settings.js";
import { FWKNOPD_VARS } from "../../src/config/fwknopd-vars.js";
import { ConfigError } from "../../src/errors.js";
import { tutorialFwknopdConf } from "../fixtures/tutorial.js";

const dir = mkdtempSync(join(tmpdir(), "config-fwknopd-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const file = (text: string, name = `f${++n}.conf`): string => {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};
const parse = (text: string): ReturnType<typeof parseFwknopdConf> =>
  parseFwknopdConf({ main: file(text), overrides: [] });

/** The error must name this file and line and quote the value. */
function refuses(text: string, line: number, detail: RegExp): void {
  const p = file(text);
  assert.throws(
    () => parseFwknopdConf({ main: p, overrides: [] }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.file, p);
      assert.equal(e.line, line);
      assert.match(e.detail, detail);
      assert.ok(e.message.startsWith(`${p}:${line}: `));
      return true;
    },
  );
}

// The user's tutorial, byte for byte (values end in ';').
const TUTORIAL = tutorialFwknopdConf().replace("veth0", "ens37");

describe('conf-lines: C\'s sscanf("%s %[^;\\n\\r]") reading', () => {
  it("skips comments and empty lines, keeps spaces inside values, stops at ';'", () => {
    const lines = [
      ...readConfLines(
        "x",
        "# c\n; c\n\n\r\n   \n  # indented\nA  b c d  ;tail\nB\tv\r\nC: v2\n  D lead\nE ;x\nF\n",
      ),
    ];
    assert.deepEqual(lines, [
      { name: "A", value: "b c d", file: "x", line: 7 },
      { name: "B", value: "v", file: "x", line: 8 },
      { name: "C", value: "v2", file: "x", line: 9 },
      { name: "D", value: "lead", file: "x", line: 10 },
      { bad: "E", file: "x", line: 11 },
      { bad: "F", file: "x", line: 12 },
    ]);
  });

  it("refuses a line longer than C's fgets reads (MAX_LINE_LEN - 1 bytes), echoing only its start", () => {
    const at = (n: number, enc: "latin1" | "utf8", ch = "x"): number =>
      [...readConfLines("x", `# c\nA ${ch.repeat(n)}\r\n`, enc)].length;
    assert.equal(at(1021, "latin1"), 1, "1,023 bytes (the \\r not counted) is one fgets");
    assert.equal(at(1021, "utf8"), 1);
    assert.equal(at(510, "utf8", "é"), 1, "2 + 1,020 bytes of UTF-8");
    assert.equal(at(1000, "latin1", "é"), 1, "latin1: one byte a character");
    assert.throws(
      () => at(1022, "latin1"),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          `x:2: line too long: 1024 bytes, at most 1023 (MAX_LINE_LEN in C fwknop): 'A ${"x".repeat(78)}... (1024 bytes)'`,
    );
    assert.throws(() => at(511, "utf8", "é"), /x:2: line too long: 1024 bytes/);
    // A comment is skipped whatever its length; so are the lines before a long one read.
    assert.equal([...readConfLines("x", `#${"c".repeat(5000)}\nA b\n`)].length, 1);
    const seen: string[] = [];
    assert.throws(() => {
      for (const l of readConfLines("x", `A b\nB ${"y".repeat(2000)}\n`))
        seen.push("name" in l ? l.name : l.bad);
    }, ConfigError);
    assert.deepEqual(seen, ["A"]);
  });

  it("expands one $NAME at the start, keeping the suffix", () => {
    const look = (k: string): string | null => (k === "RUN" ? "/r" : null);
    assert.equal(expandVarRef("$RUN/digest.cache", look), "/r/digest.cache");
    assert.equal(expandVarRef("x/$RUN", look), "x/$RUN");
    assert.equal(expandVarRef("$run", look), "$run");
    assert.deepEqual(expandVarRef("$NOPE/x", look), { missing: "NOPE" });
  });
});

describe("fwknopd.conf", () => {
  it("reads the tutorial's file as it is", () => {
    const { config, warnings } = parse(TUTORIAL);
    assert.deepEqual(warnings, []);
    const s = config.toSettings();
    assert.equal(s.pcapIntf, "ens37");
    assert.equal(s.enableUdpServer, true);
    assert.equal(s.udpservPort, 62201);
    assert.equal(s.pcapFilter, "udp port 62201");
    assert.equal(s.maxSpaPacketAge, 60);
    assert.equal(s.enableSpaOverHttp, false);
    assert.equal(s.enableFirewdForwarding, true);
    assert.equal(s.enableFirewdCommentCheck, false);
    assert.equal(s.firewallExe, "/usr/bin/firewall-cmd");
    assert.deepEqual(s.firewdForwardAccess, {
      target: "ACCEPT",
      table: "filter",
      fromChain: "FORWARD",
      jumpPos: 1,
      toChain: "FWKNOP_FORWARD",
      rulePos: 1,
    });
    assert.deepEqual(config.raw.get("MAX_SPA_PACKET_AGE"), {
      value: "60",
      file: config.str("CONFIG_FILE"),
      line: 6,
    });
  });

  it("has C's defaults (Debian paths) and derives paths from FWKNOP_RUN_DIR", () => {
    const s = parse("").config.toSettings();
    const expected: Record<string, unknown> = {
      pcapIntf: "eth0",
      pcapFile: null,
      enablePcapPromisc: false,
      pcapFilter: "udp port 62201",
      pcapDispatchCount: 100,
      pcapLoopSleep: 100000,
      enablePcapAnyDirection: null,
      exitAtIntfDown: true,
      maxSniffBytes: 1500,
      enableSpaPacketAging: true,
      maxSpaPacketAge: 120,
      enableDigestPersistence: true,
      rulesCheckThreshold: 20,
      cmdExecTimeout: null,
      enableSpaOverHttp: false,
      allowAnyUserAgent: false,
      enableTcpServer: false,
      tcpservPort: 62201,
      enableUdpServer: false,
      udpservPort: 62201,
      udpservSelectTimeout: 500000,
      locale: null,
      syslogIdentity: "fwknopd",
      syslogFacility: "LOG_DAEMON",
      enableXForwardedFor: false,
      enableDestinationRule: false,
      enableRulePrepend: false,
      enableNatDns: true,
      enableIptForwarding: false,
      enableIptLocalNat: false,
      enableIptSnat: false,
      snatTranslateIp: null,
      enableIptOutput: false,
      flushIptAtInit: true,
      flushIptAtExit: true,
      enableIptCommentCheck: true,
      flushFirewdAtInit: true,
      fwknopRunDir: "/var/run/fwknop",
      fwknopConfDir: "/etc/fwknop",
      accessFile: "/etc/fwknop/access.conf",
      accessFolder: null,
      fwknopPidFile: "/var/run/fwknop/fwknopd.pid",
      digestFile: "/var/run/fwknop/digest.cache",
      gpgHomeDir: "/root/.gnupg",
      gpgExe: "/usr/bin/gpg",
      sudoExe: "/usr/bin/sudo",
      firewallExe: null,
      verbose: null,
      firewallType: "auto",
      nftTable: "fwknopd",
      nftFamily: "inet",
      nftJumpChain: null,
      nftProtectPorts: false,
      enableIpv6: true,
    };
    for (const [k, v] of Object.entries(expected))
      assert.deepEqual((s as unknown as Record<string, unknown>)[k], v, k);
    assert.deepEqual(s.iptInputAccess, {
      target: "ACCEPT",
      table: "filter",
      fromChain: "INPUT",
      jumpPos: 1,
      toChain: "FWKNOP_INPUT",
      rulePos: 1,
    });
    assert.equal(s.iptMasqueradeAccess.target, "MASQUERADE");
    assert.equal(s.iptDnatAccess.table, "nat");
    assert.equal(Object.keys(s).length, FWKNOPD_VARS.length);
  });

  it("follows FWKNOP_RUN_DIR for the pid and digest files, also when set later", () => {
    const { config } = parse("FWKNOP_RUN_DIR /srv/fw\n");
    assert.equal(config.str("DIGEST_FILE"), "/srv/fw/digest.cache");
    config.set("FWKNOP_RUN_DIR", "/other", null);
    assert.equal(config.str("FWKNOP_PID_FILE"), "/other/fwknopd.pid");
  });

  it("turns packet aging off by default when PCAP_FILE is set, unless set explicitly (C)", () => {
    assert.equal(parse("PCAP_FILE /x.pcap\n").config.bool("ENABLE_SPA_PACKET_AGING"), false);
    assert.equal(
      parse("PCAP_FILE /x.pcap\nENABLE_SPA_PACKET_AGING Y\n").config.bool(
        "ENABLE_SPA_PACKET_AGING",
      ),
      true,
    );
  });

  it("expands $VAR from earlier lines or defaults; -O files override in order", () => {
    const main = file(
      "FWKNOP_RUN_DIR /r\nDIGEST_FILE $FWKNOP_RUN_DIR/d.cache\nFWKNOP_PID_FILE $FWKNOP_CONF_DIR/p\n",
    );
    const o1 = file("UDPSERV_PORT 2\nACCESS_FILE $FWKNOP_RUN_DIR/a b.conf ;\n");
    const o2 = file("UDPSERV_PORT 3;\n");
    const { config } = parseFwknopdConf({ main, overrides: [o1, o2] });
    assert.equal(config.str("DIGEST_FILE"), "/r/d.cache");
    assert.equal(config.str("FWKNOP_PID_FILE"), "/etc/fwknop/p");
    assert.equal(config.str("ACCESS_FILE"), "/r/a b.conf");
    assert.equal(config.int("UDPSERV_PORT"), 3);
    assert.deepEqual(config.raw.get("UDPSERV_PORT"), { value: "3", file: o2, line: 1 });
    assert.equal(config.str("OVERRIDE_CONFIG"), `${o1},${o2}`);
    assert.equal(config.str("CONFIG_FILE"), main);
  });

  it("takes the positional form and an injected reader alike", () => {
    const files: Record<string, string> = { "/m": "UDPSERV_PORT 7\n", "/o": "VERBOSE 2\n" };
    const read = (p: string): string => files[p] ?? "";
    const a = parseFwknopdConf({ main: "/m", overrides: ["/o"] }, read).config;
    const b = parseFwknopdConf("/m", ["/o"], read).config;
    assert.deepEqual(a.toSettings(), b.toSettings());
    assert.equal(a.toSettings().verbose, 2);
  });

  it("warns about unknown and dead variables with file:line, as C ignores them", () => {
    const p = file("# c\nNO_SUCH_THING 1\nCMD_EXEC_TIMEOUT 5\nEXTERNAL_CMD_OPEN x;\nNOVALUE\n");
    const { warnings } = parseFwknopdConf({ main: p, overrides: [] });
    assert.deepEqual(warnings, [
      `${p}:2: Ignoring unknown configuration parameter: 'NO_SUCH_THING'`,
      `${p}:3: CMD_EXEC_TIMEOUT is accepted but has no effect (never used by C)`,
      `${p}:4: Ignoring unknown configuration parameter: 'EXTERNAL_CMD_OPEN'`,
      `${p}:5: Ignoring unknown configuration parameter: 'NOVALUE'`,
    ]);
  });

  it("reads booleans by their first letter, in either case", () => {
    const s = parse(
      "ENABLE_UDP_SERVER yes\nENABLE_TCP_SERVER n\nEXIT_AT_INTF_DOWN No\n",
    ).config.toSettings();
    assert.equal(s.enableUdpServer, true);
    assert.equal(s.enableTcpServer, false);
    assert.equal(s.exitAtIntfDown, false);
  });

  it("accepts our own variables", () => {
    const s = parse(
      "FIREWALL_TYPE nftables\nNFT_TABLE fw_knop\nNFT_FAMILY ip6\nNFT_JUMP_CHAIN inet filter input\nNFT_PROTECT_PORTS Y\nENABLE_IPV6 N\nSYSLOG_FACILITY log_local3\nLOG_FORMAT json;\n",
    ).config.toSettings();
    assert.equal(s.firewallType, "nftables");
    assert.equal(s.nftTable, "fw_knop");
    assert.equal(s.nftFamily, "ip6");
    assert.equal(s.nftJumpChain, "inet filter input");
    assert.equal(s.nftProtectPorts, true);
    assert.equal(s.enableIpv6, false);
    assert.equal(s.syslogFacility, "LOG_LOCAL3");
    assert.equal(s.logFormat, "json");
    assert.equal(parse("").config.value("LOG_FORMAT"), "text");
  });

  it("checks SNAT_TRANSLATE_IP only when SNAT is on, as C", () => {
    assert.equal(
      parse("ENABLE_IPT_SNAT N\nSNAT_TRANSLATE_IP __CHANGEME__\n").config.str("SNAT_TRANSLATE_IP"),
      "__CHANGEME__",
    );
    refuses(
      "ENABLE_IPT_SNAT Y\nSNAT_TRANSLATE_IP __CHANGEME__;\n",
      2,
      /^SNAT_TRANSLATE_IP '__CHANGEME__': not an IPv4 address/,
    );
  });

  it("parses chain specs as C does: blanks dropped anywhere, six fields, positions 0-65536", () => {
    assert.deepEqual(parseChainSpec("ACCEPT,filter , IN PUT,0,FWKNOP_INPUT, 65536"), {
      target: "ACCEPT",
      table: "filter",
      fromChain: "INPUT",
      jumpPos: 0,
      toChain: "FWKNOP_INPUT",
      rulePos: 65536,
    });
    const why = (v: string): string => {
      const r = parseChainSpec(v);
      return typeof r === "string" ? r : "accepted";
    };
    assert.match(why("ACCEPT, filter, INPUT, 1, FWKNOP_INPUT"), /5 fields instead of 6/);
    assert.match(why("ACCEPT, filter, INPUT, 1, FW-IN, 1"), /character '-'/);
    assert.match(why("ACCEPT, filter, INPUT, 1, X, 65537"), /rule_pos/);
  });

  it("dumps every variable as C's -D does", () => {
    const { config } = parse("PCAP_INTF ens37\n");
    const lines = dumpConfig(config).split("\n");
    assert.equal(lines.length, FWKNOPD_VARS.length);
    assert.equal(lines[2], "  2. PCAP_INTF                    =  'ens37'");
    assert.equal(lines[3], "  3. PCAP_FILE                    =  '<not set>'");
    assert.equal(config.dump(), dumpConfig(config));
    for (const [i, d] of FWKNOPD_VARS.entries())
      assert.ok(lines[i]?.includes(` ${d.name} `), `${d.name} at ${i}`);
  });

  it("names the typed fields after the variables", () => {
    assert.equal(camelCase("ENABLE_X_FORWARDED_FOR"), "enableXForwardedFor");
    assert.equal(camelCase("VERBOSE"), "verbose");
  });

  const stock = "/etc/fwknop/fwknopd.conf";
  const noStock = !existsSync(stock) && "fwknop-server not installed";

  it("reads Debian's stock fwknopd.conf (all comments) as C's defaults", { skip: noStock }, () => {
    const { config, warnings } = parseFwknopdConf({ main: stock, overrides: [] });
    assert.deepEqual(warnings, []);
    assert.deepEqual(
      { ...config.toSettings(), configFile: "" },
      { ...parse("").config.toSettings(), configFile: "" },
    );
  });

  it(
    "reads every example line of Debian's stock file once uncommented, except C's fatal one",
    { skip: noStock },
    () => {
      const text = readFileSync(stock, "latin1").replace(/^#([A-Z_]+[ \t])/gm, "$1");
      // C refuses this shipped example too: its range is 1-8388608 (verified in the reference).
      refuses(text, 117, /^PCAP_DISPATCH_COUNT '0': out of range \[1-8388608\]$/);
      const fixed = text.replace(/^PCAP_DISPATCH_COUNT\s+0;/m, "PCAP_DISPATCH_COUNT 100;");
      const p = file(fixed);
      const { config, warnings } = parseFwknopdConf({ main: p, overrides: [] });
      assert.deepEqual(
        warnings.map((w) => w.replace(`${p}:`, "")),
        [
          "245: Ignoring unknown configuration parameter: 'ENABLE_EXTERNAL_CMDS'",
          "246: Ignoring unknown configuration parameter: 'EXTERNAL_CMD_OPEN'",
          "247: Ignoring unknown configuration parameter: 'EXTERNAL_CMD_CLOSE'",
          "248: Ignoring unknown configuration parameter: 'EXTERNAL_CMD_ALARM'",
          "255: Ignoring unknown configuration parameter: 'ENABLE_EXT_CMD_PREFIX'",
          "256: Ignoring unknown configuration parameter: 'EXT_CMD_PREFIX'",
          "540: PF_EXPIRE_INTERVAL is accepted but has no effect (range-checked but never used by C)",
          "556: DIGEST_DB_FILE is accepted but has no effect (C's gdbm cache (not in Debian's build; not used))",
        ],
      );
      const s = config.toSettings();
      assert.equal(s.digestFile, "/var/run/fwknop/digest.cache");
      assert.equal(s.fwknopPidFile, "/var/run/fwknop/fwknopd.pid");
      assert.equal(s.firewallExe, "/sbin/iptables");
      assert.equal(s.ipfwMaxRules, 1000);
      assert.equal(s.pcapFile, "/some/path/to/file.pcap");
    },
  );
});

describe("fwknopd.conf: malformed files name file, line and value", () => {
  const cases: Array<[string, string, number, RegExp]> = [
    [
      "not a number",
      "PCAP_INTF eth1\nMAX_SPA_PACKET_AGE 2m;\n",
      2,
      /^MAX_SPA_PACKET_AGE '2m': expected a whole number$/,
    ],
    ["out of range", "UDPSERV_PORT 70000\n", 1, /^UDPSERV_PORT '70000': out of range \[1-65535\]$/],
    [
      "zero where C needs 1",
      "\n\nMAX_SNIFF_BYTES 0\n",
      3,
      /^MAX_SNIFF_BYTES '0': out of range \[1-32768\]$/,
    ],
    [
      "negative",
      "RULES_CHECK_THRESHOLD -1\n",
      1,
      /^RULES_CHECK_THRESHOLD '-1': expected a whole number$/,
    ],
    [
      "neither Y nor N",
      "ENABLE_UDP_SERVER true\n",
      1,
      /^ENABLE_UDP_SERVER 'true': expected Y or N$/,
    ],
    [
      "chain with 5 fields",
      "IPT_INPUT_ACCESS ACCEPT, filter, INPUT, 1, FWKNOP_INPUT;\n",
      1,
      /^IPT_INPUT_ACCESS 'ACCEPT, filter, INPUT, 1, FWKNOP_INPUT': expected 'target, table, from_chain, jump_pos, to_chain, rule_pos': 5 fields instead of 6$/,
    ],
    [
      "chain with a bad character",
      "FIREWD_INPUT_ACCESS ACCEPT, filter, INPUT, 1, FWKNOP-INPUT, 1\n",
      1,
      /^FIREWD_INPUT_ACCESS '.*': invalid character '-'$/,
    ],
    [
      "chain position not a number",
      "IPT_FORWARD_ACCESS ACCEPT, filter, FORWARD, x, FWKNOP_FORWARD, 1\n",
      1,
      /jump_pos 'x' is not a number in 0-65536$/,
    ],
    [
      "syslog facility",
      "SYSLOG_FACILITY LOG_USER\n",
      1,
      /^SYSLOG_FACILITY 'LOG_USER': expected LOG_DAEMON/,
    ],
    [
      "log format",
      "LOG_FORMAT text\nLOG_FORMAT JSON;\n",
      2,
      /^LOG_FORMAT 'JSON': expected text or json$/,
    ],
    [
      "firewall type",
      "FIREWALL_TYPE pf\n",
      1,
      /^FIREWALL_TYPE 'pf': expected auto, nftables, iptables or firewalld$/,
    ],
    [
      "relative run dir",
      "FWKNOP_RUN_DIR run/fwknop\n",
      1,
      /^FWKNOP_RUN_DIR 'run\/fwknop': not an absolute path$/,
    ],
    [
      "nft table with a command in it",
      "NFT_TABLE fwknopd; flush ruleset\nNFT_TABLE a b\n",
      2,
      /^NFT_TABLE 'a b': not an nftables name/,
    ],
    ["nft family", "NFT_FAMILY bridge\n", 1, /^NFT_FAMILY 'bridge': expected inet, ip or ip6$/],
    [
      "nft jump chain",
      "NFT_JUMP_CHAIN filter input\n",
      1,
      /^NFT_JUMP_CHAIN 'filter input': expected "family table chain"/,
    ],
    [
      "nft forward jump chain",
      "# forwarding\nNFT_FORWARD_JUMP_CHAIN inet filter\n",
      2,
      /^NFT_FORWARD_JUMP_CHAIN 'inet filter': expected "family table chain"/,
    ],
    [
      "unknown $VAR",
      "DIGEST_FILE $RUN_DIR/x\n",
      1,
      /^DIGEST_FILE '\$RUN_DIR\/x': \$RUN_DIR is not a fwknopd.conf variable$/,
    ],
    ["unset $VAR", "PCAP_FILTER $LOCALE x\n", 1, /^PCAP_FILTER '\$LOCALE x': \$LOCALE is not set$/],
    ["known name without a value", "# x\nUDPSERV_PORT ;\n", 2, /^UDPSERV_PORT: missing value$/],
    [
      "METRICS_LISTEN without a port",
      "METRICS_LISTEN 127.0.0.1\n",
      1,
      /^METRICS_LISTEN '127\.0\.0\.1': expected ADDRESS:PORT/,
    ],
    [
      "METRICS_LISTEN with a host name",
      "METRICS_LISTEN localhost:9930\n",
      1,
      /^METRICS_LISTEN 'localhost:9930': 'localhost' is not an IP address$/,
    ],
    [
      "METRICS_LISTEN IPv6 without brackets",
      "METRICS_LISTEN ::1:9930\n",
      1,
      /expected ADDRESS:PORT/,
    ],
    [
      "METRICS_LISTEN on the SPA port",
      "UDPSERV_PORT 9930\nMETRICS_LISTEN [::1]:9930\n",
      2,
      /^METRICS_LISTEN '\[::1\]:9930': port 9930 is the SPA port \(UDPSERV_PORT\)/,
    ],
    [
      "METRICS_LISTEN on the TCP server's port",
      "ENABLE_TCP_SERVER Y\nTCPSERV_PORT 9000\nMETRICS_LISTEN 0.0.0.0:9000\n",
      3,
      /port 9000 is the SPA port \(TCPSERV_PORT\)/,
    ],
  ];
  for (const [what, text, line, re] of cases)
    it(what, () => {
      refuses(text, line, re);
    });

  it("refuses a 1 MB line, unknown name or value, without echoing it", () => {
    const mb = "A".repeat(1 << 20);
    for (const text of [`PCAP_INTF eth1\n${mb}\n`, `PCAP_INTF eth1\nPCAP_FILTER ${mb}\n`]) {
      refuses(text, 2, /^line too long: \d+ bytes, at most 1023 \(MAX_LINE_LEN in C fwknop\): '/);
      assert.throws(
        () => parse(text),
        (e: unknown) => e instanceof Error && e.message.length < 300,
      );
    }
  });

  it("shows only the start of a long value it refuses", () => {
    refuses(
      `UDPSERV_PORT ${"9".repeat(1000)}\n`,
      1,
      new RegExp(`^UDPSERV_PORT '${"9".repeat(80)}\\.\\.\\. \\(1000 bytes\\)': out of range`),
    );
  });

  it("names a file it cannot read", () => {
    assert.throws(
      () => parseFwknopdConf({ main: join(dir, "missing.conf"), overrides: [] }),
      /missing\.conf: cannot read: ENOENT/,
    );
  });
});

describe("file permission check (server/utils.c:verify_file_perms_ownership)", () => {
  it("is quiet for 0600 files we own, warns for group/world access, refuses non-files", () => {
    const p = file("X 1\n");
    assert.equal(filePermissionWarning(p), null);
    chmodSync(p, 0o644);
    assert.match(filePermissionWarning(p) ?? "", /permissions should only be user read\/write/);
    const d = join(dir, "adir");
    mkdirSync(d);
    assert.throws(() => filePermissionWarning(d), /adir: not a regular file/);
    assert.throws(() => filePermissionWarning(join(dir, "nope")), /nope: cannot stat: ENOENT/);
  });
});

describe("typed values from the variable table", () => {
  it("defaults come from the table, $VAR defaults follow the variable they name", () => {
    const c = parse("FWKNOP_RUN_DIR /srv/fwknop\nENABLE_UDP_SERVER Y\n").config;
    assert.equal(c.value("PCAP_INTF"), "eth0");
    assert.equal(c.value("DIGEST_FILE"), "/srv/fwknop/digest.cache");
    assert.equal(c.value("FWKNOP_PID_FILE"), "/srv/fwknop/fwknopd.pid");
    assert.equal(c.value("ENABLE_UDP_SERVER"), true);
    assert.equal(c.value("UDPSERV_PORT"), 62201);
    assert.equal(c.value("FIREWALL_TYPE"), "auto");
    assert.equal(c.value("NFT_JUMP_CHAIN"), null);
    assert.equal(c.value("IPT_INPUT_ACCESS").toChain, "FWKNOP_INPUT");
  });
});
