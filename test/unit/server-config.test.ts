/**
 * fwknopd.conf and access.conf parsing: the user's tutorial files and Debian's stock files as they
 * are, C's defaults, $VAR expansion, includes, and the backend choice.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseAccessConf } from "../../src/config/access-conf.js";
import { parseFwknopdConf } from "../../src/config/fwknopd-conf.js";
import { ConfigError } from "../../src/errors.js";
import { chooseFirewall, loadConfig } from "../../src/server/load-config.js";
import { defaultServerArgs } from "../../src/server/options.js";
import { tutorialFwknopdConf } from "../fixtures/tutorial.js";

const dir = mkdtempSync(join(tmpdir(), "server-config-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};
const KEY = Buffer.alloc(32, 7).toString("base64");
const HKEY = Buffer.alloc(64, 9).toString("base64");

const TUTORIAL_CONF = tutorialFwknopdConf().replace("veth0", "ens37");

describe("fwknopd.conf", () => {
  it("reads the tutorial's file as it is, values ending in ';'", () => {
    const { config, warnings } = parseFwknopdConf(file("tut.conf", TUTORIAL_CONF), []);
    assert.deepEqual(warnings, []);
    assert.equal(config.str("PCAP_INTF"), "ens37");
    assert.equal(config.str("PCAP_FILTER"), "udp port 62201");
    assert.equal(config.int("MAX_SPA_PACKET_AGE"), 60);
    assert.equal(config.bool("ENABLE_UDP_SERVER"), true);
    assert.deepEqual(config.chain("FIREWD_INPUT_ACCESS"), {
      target: "ACCEPT",
      table: "filter",
      fromChain: "INPUT",
      jumpPos: 1,
      toChain: "FWKNOP_INPUT",
      rulePos: 1,
    });
    assert.equal(chooseFirewall(config, ["FIREWD_INPUT_ACCESS"]), "firewalld");
  });

  it("has C's defaults and derives paths from FWKNOP_RUN_DIR", () => {
    const { config } = parseFwknopdConf(file("min.conf", "FWKNOP_RUN_DIR /srv/fw\n"), []);
    assert.equal(config.int("MAX_SPA_PACKET_AGE"), 120);
    assert.equal(config.bool("ENABLE_DIGEST_PERSISTENCE"), true);
    assert.equal(config.bool("FLUSH_IPT_AT_INIT"), true);
    assert.equal(config.str("DIGEST_FILE"), "/srv/fw/digest.cache");
    assert.equal(config.str("FWKNOP_PID_FILE"), "/srv/fw/fwknopd.pid");
    assert.equal(config.str("PCAP_FILTER"), "udp port 62201");
  });

  it("expands $VAR at the start of a value; -O files override in order", () => {
    const main = file(
      "a.conf",
      "FWKNOP_RUN_DIR /r\nDIGEST_FILE $FWKNOP_RUN_DIR/d.cache\nUDPSERV_PORT 1\n",
    );
    const o1 = file("o1.conf", "UDPSERV_PORT 2\n");
    const o2 = file("o2.conf", "UDPSERV_PORT 3;\n");
    const { config } = parseFwknopdConf(main, [o1, o2]);
    assert.equal(config.str("DIGEST_FILE"), "/r/d.cache");
    assert.equal(config.int("UDPSERV_PORT"), 3);
    assert.deepEqual(config.origin("UDPSERV_PORT"), { file: o2, line: 1 });
  });

  it("warns about unknown and dead variables with file:line, as C ignores them", () => {
    const { warnings } = parseFwknopdConf(
      file("w.conf", "# c\nNO_SUCH_THING 1\nCMD_EXEC_TIMEOUT 5\n"),
      [],
    );
    assert.match(
      warnings[0] ?? "",
      /w\.conf:2: Ignoring unknown configuration parameter: 'NO_SUCH_THING'/,
    );
    assert.match(warnings[1] ?? "", /w\.conf:3: CMD_EXEC_TIMEOUT is accepted but has no effect/);
  });

  it(
    "reads Debian's stock fwknopd.conf",
    { skip: !existsSync("/etc/fwknop/fwknopd.conf") && "fwknop-server not installed" },
    () => {
      const { config } = parseFwknopdConf("/etc/fwknop/fwknopd.conf", []);
      assert.equal(config.int("MAX_SPA_PACKET_AGE"), 120);
    },
  );

  it("chooses the backend: FIREWALL_TYPE, then FIREWALL_EXE, then nft if present", () => {
    const pick = (text: string, nft: boolean): string => {
      const { config } = parseFwknopdConf(file("c.conf", text), []);
      return chooseFirewall(config, [], () => nft);
    };
    assert.equal(pick("FIREWALL_TYPE iptables\n", true), "iptables");
    assert.equal(pick("FIREWALL_EXE /usr/sbin/iptables\n", true), "iptables");
    assert.equal(pick("FIREWALL_EXE /usr/sbin/nft\n", false), "nftables");
    assert.equal(pick("", true), "nftables");
    assert.equal(pick("", false), "iptables");
  });
});

describe("access.conf", () => {
  it("reads the tutorial's stanza", () => {
    const p = file(
      "tut-access.conf",
      `#### fwknopd access.conf stanzas ###\n\nSOURCE                     ANY\nOPEN_PORTS                 tcp/1234\nREQUIRE_SOURCE_ADDRESS     Y\nREQUIRE_USERNAME           root\nFW_ACCESS_TIMEOUT          30\nKEY_BASE64                 ${KEY}\nHMAC_KEY_BASE64            ${HKEY}\n`,
    );
    const { stanzas, warnings } = parseAccessConf({ file: p });
    assert.deepEqual(warnings, []);
    const s = stanzas[0];
    assert.ok(s !== undefined && stanzas.length === 1);
    assert.equal(s.source.any, true);
    assert.deepEqual(s.openPorts, [{ proto: "tcp", port: 1234 }]);
    assert.equal(s.requireSourceAddress, true);
    assert.equal(s.requireUsername, "root");
    assert.equal(s.fwAccessTimeout, 30);
    assert.equal(s.maxFwTimeout, 300);
    assert.equal(s.hmacType, "sha256");
    assert.equal(s.mode, "cbc");
    assert.deepEqual(s.key, Buffer.alloc(32, 7));
  });

  it(
    "refuses Debian's stock access.conf for its __CHANGEME__ key, naming the line",
    { skip: !existsSync("/etc/fwknop/access.conf") && "fwknop-server not installed" },
    () => {
      assert.throws(
        () => parseAccessConf({ file: "/etc/fwknop/access.conf" }),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.equal(e.file, "/etc/fwknop/access.conf");
          assert.match(e.message, /:\d+: KEY(_BASE64)? '<hidden>': replace __CHANGEME__/);
          return true;
        },
      );
    },
  );

  it("matches SOURCE lists: CIDR, dotted masks and IPv6", () => {
    const p = file(
      "src.conf",
      `SOURCE 10.0.0.0/8, 192.168.1.0/255.255.255.0, 2001:db8::/32, 203.0.113.7\nKEY_BASE64 ${KEY}\nREQUIRE_SOURCE_ADDRESS Y\n`,
    );
    const s = parseAccessConf({ file: p }).stanzas[0];
    assert.ok(s !== undefined);
    const ok = (ip: string, t: "ipv4" | "ipv6"): boolean => s.source.list.check(ip, t);
    assert.equal(ok("10.9.8.7", "ipv4"), true);
    assert.equal(ok("192.168.1.200", "ipv4"), true);
    assert.equal(ok("192.168.2.1", "ipv4"), false);
    assert.equal(ok("2001:db8::5", "ipv6"), true);
    assert.equal(ok("203.0.113.7", "ipv4"), true);
    assert.equal(ok("203.0.113.8", "ipv4"), false);
  });

  it("follows %include, %include_folder (sorted) and %include_keys; numbers stanzas in order", () => {
    file("inc/b.conf", `SOURCE 10.0.0.2\nKEY_BASE64 ${KEY}\n`);
    file("inc/a.conf", `SOURCE 10.0.0.1\nKEY_BASE64 ${KEY}\n`);
    file("inc/skip.txt", `SOURCE 10.0.0.9\n`);
    const keys = file(
      "keys.txt",
      `KEY_BASE64: ${KEY}\nHMAC_KEY_BASE64 ${HKEY}\nOPEN_PORTS tcp/9\n`,
    );
    const extra = file("extra.conf", `SOURCE 10.0.0.3\nKEY_BASE64 ${KEY}\n`);
    const main = file(
      "main.conf",
      `%include_folder inc\n%include ${extra}\nSOURCE 10.0.0.4\n%include_keys ${keys}\n`,
    );
    const { stanzas } = parseAccessConf({ file: main });
    assert.deepEqual(
      stanzas.map((s) => s.source.text),
      ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"],
    );
    assert.deepEqual(
      stanzas.map((s) => s.number),
      [1, 2, 3, 4],
    );
    const last = stanzas[3];
    assert.ok(last !== undefined);
    assert.deepEqual(last.hmacKey, Buffer.alloc(64, 9));
    assert.equal(last.openPorts, null, "%include_keys takes key variables only");
  });

  it("refuses to include deeper than 3 levels, naming the include line", () => {
    const loop = file("loop.conf", "");
    writeFileSync(loop, `%include ${loop}\n`);
    assert.throws(
      () => parseAccessConf({ file: loop }),
      /loop\.conf:1: %include of .*: refusing to go deeper than 3 levels/,
    );
  });

  it("refuses %include_keys outside a stanza", () => {
    const p = file("ik.conf", `%include_keys /nowhere\nSOURCE ANY\nKEY_BASE64 ${KEY}\n`);
    assert.throws(
      () => parseAccessConf({ file: p }),
      /ik\.conf:1: %include_keys '\/nowhere': %include_keys must be inside a stanza/,
    );
  });

  it("reads a whole folder with --access-folder", () => {
    const { stanzas } = parseAccessConf({ folder: join(dir, "inc") });
    assert.equal(stanzas.length, 2);
  });

  it("truncates legacy keys to 16 bytes and needs at least one stanza", () => {
    const p = file("legacy.conf", `SOURCE ANY\nENCRYPTION_MODE legacy\nKEY ${"k".repeat(20)}\n`);
    assert.equal(parseAccessConf({ file: p }).stanzas[0]?.key?.length, 16);
    assert.throws(
      () => parseAccessConf({ file: file("empty.conf", "# nothing\n") }),
      /could not find any valid access\.conf stanzas/,
    );
  });
});

describe("GPG stanzas in the daemon's configuration", () => {
  it("are served, with fwknopd.conf's GPG_HOME_DIR/GPG_EXE unless the stanza has its own", () => {
    const home = join(dir, "gnupg-srv");
    mkdirSync(home, { recursive: true });
    const conf = file("gpg.conf", `GPG_HOME_DIR ${home}\nGPG_EXE /nonexistent/gpg\n`);
    const access = file(
      "gpg-access.conf",
      [
        "SOURCE ANY",
        "GPG_ALLOW_NO_PW Y",
        "GPG_REMOTE_ID 89ABCDEF",
        "",
        "SOURCE ANY",
        `KEY_BASE64 ${KEY}`,
        "GPG_DECRYPT_PW pw",
        "GPG_FINGERPRINT_ID AAAABBBBCCCCDDDDEEEEFFFF0123456789ABCDEF",
        `GPG_HOME_DIR ${dir}`,
        "GPG_EXE /usr/bin/gpg",
        "",
      ].join("\n"),
    );
    const loaded = loadConfig({ ...defaultServerArgs(), configFile: conf, accessFile: access });
    const [a, b] = loaded.daemon.stanzas;
    assert.ok(a !== undefined && b !== undefined);
    assert.deepEqual(a.gpgResolved, {
      homeDir: home,
      exe: "/nonexistent/gpg",
      decryptPw: "",
      requireSig: true,
      ignoreSigVerifyError: false,
      remoteIds: ["89ABCDEF"],
      fingerprintIds: null,
    });
    assert.equal(a.key?.length ?? 0, 0, "GPG only: no Rijndael key");
    assert.equal(b.gpgResolved?.homeDir, dir);
    assert.equal(b.gpgResolved.decryptPw, "pw");
    assert.equal(b.key?.length, 32, "a stanza may take both kinds of packet, as in C");
    assert.match(
      loaded.warnings.join("\n"),
      /gpg-access\.conf:1: stanza for SOURCE 'ANY': GPG_EXE \/nonexistent\/gpg does not exist/,
    );
  });
});
