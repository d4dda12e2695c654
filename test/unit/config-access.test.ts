/**
 * access.conf: the tutorial's and Debian's files, C's stanza defaults and checks, SOURCE and port
 * lists, %include / %include_folder / %include_keys / --access-folder, and malformed files naming
 * file, line and value without ever echoing a key.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { parseAccessConf, stanzaSummary, type AccessStanza } from "../../src/config/access-conf.js";
import { ConfigError } from "../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "config-access-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const file = (text: string, name = `a${++n}.conf`): string => {
  const p = join(dir, name);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};

// The keys `fwknop --key-gen --use-hmac` wrote in the user's tutorial.
const KEY = "jnj2fAYu4eR/Npp+LmElj4Tzw6ph9PHmb98vxCGb9+o=";
const HKEY =
  "OBoveH9PuOUcA2fc1g4xD5LoeRi1ZbZIYcShCWAvS0sXfeeTE+MT18K/iYFt3zmiqMpAxs79o748dJ65FhOwaQ==";
const KEYS = `KEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HKEY}\nREQUIRE_SOURCE_ADDRESS Y\n`;

const TUTORIAL = `#### fwknopd access.conf stanzas ###

SOURCE                     ANY
OPEN_PORTS                 tcp/1234
REQUIRE_SOURCE_ADDRESS     Y
REQUIRE_USERNAME           root
FW_ACCESS_TIMEOUT          30
KEY_BASE64                 [客户端的key]
HMAC_KEY_BASE64            [客户端的hmac_key]
`;

const one = (text: string): { s: AccessStanza; warnings: string[] } => {
  const r = parseAccessConf({ file: file(text) });
  assert.equal(r.stanzas.length, 1);
  return { s: r.stanzas[0] as AccessStanza, warnings: r.warnings };
};

/** The error must name this file and line, quote the value (or <hidden>), and leak no key. */
function refuses(text: string, line: number, detail: RegExp, at?: string): void {
  const p = file(text);
  assert.throws(
    () => parseAccessConf({ file: p }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.file, at ?? p);
      assert.equal(e.line, line);
      assert.match(e.detail, detail);
      for (const secret of [KEY, HKEY, "s3cret pass"]) assert.ok(!e.message.includes(secret));
      return true;
    },
  );
}

describe("access.conf", () => {
  it("reads the tutorial's stanza with its placeholders replaced by the client's keys", () => {
    const text = TUTORIAL.replace("[客户端的key]", KEY).replace("[客户端的hmac_key]", HKEY);
    const { s, warnings } = one(text);
    assert.deepEqual(warnings, []);
    assert.equal(s.number, 1);
    assert.equal(s.line, 3);
    assert.equal(s.source.any, true);
    assert.equal(s.source.text, "ANY");
    assert.deepEqual(s.openPorts, [{ proto: "tcp", port: 1234 }]);
    assert.equal(s.requireSourceAddress, true);
    assert.equal(s.requireUsername, "root");
    assert.equal(s.fwAccessTimeout, 30);
    assert.equal(s.maxFwTimeout, 300);
    assert.equal(s.mode, "cbc");
    assert.equal(s.hmacType, "sha256");
    assert.deepEqual(s.key, Buffer.from(KEY, "base64"));
    assert.deepEqual(s.hmacKey, Buffer.from(HKEY, "base64"));
    assert.equal(s.key.length, 32);
    assert.equal(s.hmacKey.length, 64);
  });

  it("refuses the tutorial's file as printed: its placeholders are not base64", () => {
    refuses(TUTORIAL, 8, /^KEY_BASE64 '<hidden>': not valid base64$/);
  });

  const stock = "/etc/fwknop/access.conf";
  it(
    "refuses Debian's stock access.conf for its __CHANGEME__ key, naming file and line",
    { skip: !existsSync(stock) && "fwknop-server not installed" },
    () => {
      assert.throws(
        () => parseAccessConf({ file: stock }),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.equal(e.file, stock);
          assert.equal(e.line, 205);
          assert.match(e.detail, /^KEY_BASE64 '<hidden>': replace __CHANGEME__ with a real key/);
          return true;
        },
      );
    },
  );

  it("applies C's defaults: timeouts below 1, mode, no HMAC type without an HMAC key", () => {
    const { s, warnings } = one(
      `SOURCE 10.0.0.1\nKEY my secret key\nFW_ACCESS_TIMEOUT 0\nMAX_FW_TIMEOUT 0\n`,
    );
    assert.equal(s.fwAccessTimeout, 30);
    assert.equal(s.maxFwTimeout, 300);
    assert.equal(s.hmacType, null);
    assert.equal(s.hmacKey, null);
    assert.deepEqual(s.key, Buffer.from("my secret key"));
    assert.match(warnings[0] ?? "", /REQUIRE_SOURCE_ADDRESS not enabled/);
  });

  it("warns when MAX_FW_TIMEOUT is below FW_ACCESS_TIMEOUT; REQUIRE_SOURCE is a synonym", () => {
    const { s, warnings } = one(
      `SOURCE ANY\nKEY k\nREQUIRE_SOURCE y\nFW_ACCESS_TIMEOUT 600\nMAX_FW_TIMEOUT 60\nHMAC_DIGEST_TYPE SHA512\nHMAC_KEY h\nENCRYPTION_MODE ctr\n`,
    );
    assert.equal(s.requireSourceAddress, true);
    assert.equal(s.hmacType, "sha512");
    assert.equal(s.mode, "ctr");
    assert.deepEqual(warnings, [
      `${s.file}:1: stanza for SOURCE 'ANY': Warning: MAX_FW_TIMEOUT < FW_ACCESS_TIMEOUT, honoring MAX_FW_TIMEOUT`,
    ]);
  });

  it("keeps KEY bytes exactly, spaces and non-ASCII included; legacy truncates to 16", () => {
    assert.deepEqual(
      one(`SOURCE ANY\nKEY  pass wörd  ;\n`).s.key,
      Buffer.from("pass wörd", "utf8"),
    );
    const { s, warnings } = one(`SOURCE ANY\nENCRYPTION_MODE legacy\nKEY ${"k".repeat(40)}\n`);
    assert.equal(s.key?.length, 16);
    assert.match(warnings.join("\n"), /truncating encryption key in legacy mode to 16 bytes/);
  });

  it("matches SOURCE and DESTINATION lists: ANY, CIDR, dotted masks, IPv6", () => {
    const { s } = one(
      `SOURCE 10.1.2.3/8, 192.168.1.0/255.255.255.0, 2001:db8::/32, 203.0.113.7, ::1\nDESTINATION any\nKEY k\n`,
    );
    const ok = (ip: string, t: "ipv4" | "ipv6"): boolean => s.source.list.check(ip, t);
    assert.equal(s.source.any, false);
    assert.equal(ok("10.9.8.7", "ipv4"), true);
    assert.equal(ok("11.0.0.1", "ipv4"), false);
    assert.equal(ok("192.168.1.200", "ipv4"), true);
    assert.equal(ok("192.168.2.1", "ipv4"), false);
    assert.equal(ok("2001:db8::5", "ipv6"), true);
    assert.equal(ok("2001:db9::5", "ipv6"), false);
    assert.equal(ok("203.0.113.7", "ipv4"), true);
    assert.equal(ok("::1", "ipv6"), true);
    assert.equal(s.destination?.any, true);
  });

  it("reads port lists in either case; only tcp and udp", () => {
    const { s } = one(
      `SOURCE ANY\nOPEN_PORTS TCP/22,udp/53 , tcp/65535\nRESTRICT_PORTS udp/1\nKEY k\n`,
    );
    assert.deepEqual(s.openPorts, [
      { proto: "tcp", port: 22 },
      { proto: "udp", port: 53 },
      { proto: "tcp", port: 65535 },
    ]);
    assert.deepEqual(s.restrictPorts, [{ proto: "udp", port: 1 }]);
  });

  it("reads ACCESS_EXPIRE as local midnight (two-digit years are 20YY) and the epoch form", () => {
    const midnight = Math.floor(new Date(2030, 11, 31).getTime() / 1000);
    assert.equal(one(`SOURCE ANY\nKEY k\nACCESS_EXPIRE 12/31/2030\n`).s.accessExpire, midnight);
    assert.equal(one(`SOURCE ANY\nKEY k\nACCESS_EXPIRE 12/31/30\n`).s.accessExpire, midnight);
    assert.equal(
      one(`SOURCE ANY\nKEY k\nACCESS_EXPIRE_EPOCH 1900000000\n`).s.accessExpire,
      1900000000,
    );
  });

  it("checks command cycles as C: OPEN needs CLOSE, a timer unless CLOSE is NONE", () => {
    const { s } = one(`SOURCE ANY\nKEY k\nCMD_CYCLE_OPEN /bin/true\nCMD_CYCLE_CLOSE NONE\n`);
    assert.equal(s.cmdCycleDoClose, false);
    assert.equal(s.cmd.CMD_CYCLE_OPEN, "/bin/true");
    const t = one(
      `SOURCE ANY\nKEY k\nCMD_CYCLE_OPEN a b\nCMD_CYCLE_CLOSE c\nCMD_CYCLE_TIMER 5\n`,
    ).s;
    assert.deepEqual([t.cmdCycleOpen, t.cmdCycleClose, t.cmdCycleTimer], ["a b", "c", 5]);
    refuses(`SOURCE ANY\nKEY k\nCMD_CYCLE_OPEN a\n`, 1, /CMD_CYCLE_OPEN needs CMD_CYCLE_CLOSE/);
    refuses(`SOURCE ANY\nKEY k\nCMD_CYCLE_CLOSE a\n`, 1, /CMD_CYCLE_CLOSE needs CMD_CYCLE_OPEN/);
    refuses(
      `SOURCE ANY\nKEY k\nCMD_CYCLE_OPEN a\nCMD_CYCLE_CLOSE b\n`,
      1,
      /CMD_CYCLE_TIMER is required/,
    );
    refuses(
      `SOURCE ANY\nKEY k\nCMD_CYCLE_TIMER 0\n`,
      3,
      /^CMD_CYCLE_TIMER '0': out of range \[1-8388608\]$/,
    );
  });

  it("parses FORCE_* and applies C's FORWARD_ALL rule", () => {
    const a = one(`SOURCE ANY\nKEY k\nFORCE_NAT 192.168.1.2 22\nFORCE_SNAT 10.0.0.1\n`).s;
    assert.deepEqual(a.forceNat, { ip: "192.168.1.2", port: 22 });
    assert.equal(a.forceSnat, "10.0.0.1");
    const b = one(`SOURCE ANY\nKEY k\nFORWARD_ALL Y\nFORCE_MASQUERADE Y\n`).s;
    assert.deepEqual(b.forceNat, { ip: "0.0.0.0", port: 0 });
    assert.equal(b.forceMasquerade, true);
    refuses(`SOURCE ANY\nKEY k\nFORCE_SNAT 10.0.0.1\n`, 1, /FORCE_SNAT\/FORCE_MASQUERADE requires/);
    refuses(
      `SOURCE ANY\nKEY k\nFORCE_NAT 10.0.0.1\n`,
      3,
      /^FORCE_NAT '10.0.0.1': expected <IPv4 address> <port>$/,
    );
  });

  it("checks GPG stanzas as C: signatures required by default, so signer ids are needed", () => {
    const g = one(
      `SOURCE ANY\nGPG_DECRYPT_ID ABCD1234\nGPG_DECRYPT_PW s3cret pass\nGPG_REMOTE_ID 1111, 2222\nGPG_REQUIRE_SIG N\n`,
    ).s;
    assert.equal(g.gpg.use, true);
    assert.equal(g.gpg.requireSig, true, "GPG_REQUIRE_SIG N alone does not disable it in C");
    assert.deepEqual(g.gpg.remoteIds, ["1111", "2222"]);
    assert.equal(g.gpg.homeDir, null);
    const h = one(`SOURCE ANY\nGPG_ALLOW_NO_PW Y\nGPG_DISABLE_SIG Y\nGPG_HOME_DIR ${dir}\n`);
    assert.equal(h.s.gpg.decryptPw, "");
    assert.equal(h.s.gpg.requireSig, false);
    assert.equal(h.s.gpg.homeDir, dir);
    assert.match(h.warnings.join("\n"), /GPG_REQUIRE_SIG should really be enabled/);
    refuses(
      `SOURCE ANY\nGPG_DECRYPT_PW s3cret pass\n`,
      1,
      /GPG_REMOTE_ID or GPG_FINGERPRINT_ID is required/,
    );
    refuses(
      `SOURCE ANY\nGPG_DECRYPT_PW __changeme__\n`,
      2,
      /^GPG_DECRYPT_PW '<hidden>': replace __CHANGEME__/,
    );
    refuses(
      `SOURCE ANY\nKEY k\nGPG_HOME_DIR ${dir}/none\n`,
      3,
      /^GPG_HOME_DIR '.*none': not an existing directory$/,
    );
    refuses(`SOURCE ANY\nENCRYPTION_MODE Asymmetric\n`, 1, /no KEY or KEY_BASE64/);
  });

  it("summarises a stanza for -D without key material", () => {
    const { s } = one(
      `SOURCE 10.0.0.0/24\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HKEY}\nOPEN_PORTS tcp/22\n`,
    );
    const text = stanzaSummary(s);
    assert.match(text, /^SOURCE \(1\): {2}10\.0\.0\.0\/24/);
    assert.match(text, /\n +OPEN_PORTS: {2}tcp\/22\n/);
    assert.match(text, /\n +KEY: {2}<see the access\.conf file>\n/);
    assert.match(text, /\n +HMAC_DIGEST_TYPE: {2}sha256\n/);
    for (const secret of [KEY, HKEY, s.key?.toString("latin1") ?? "?"])
      assert.ok(!text.includes(secret));
  });
});

describe("access.conf includes", () => {
  it("follows %include and %include_folder (sorted, *.conf only); numbers stanzas in order", () => {
    file(`SOURCE 10.0.0.2\n${KEYS}`, "inc/b.conf");
    file(`SOURCE 10.0.0.1\n${KEYS}`, "inc/a.conf");
    file(`SOURCE 10.0.0.9\n`, "inc/skip.txt");
    file(`SOURCE 10.0.0.3\n${KEYS}`, "extra.conf");
    const main = file(`%include_folder inc\n%include extra.conf\nSOURCE 10.0.0.4\n${KEYS}`);
    const { stanzas } = parseAccessConf({ file: main });
    assert.deepEqual(
      stanzas.map((s) => [s.number, s.source.text, s.line]),
      [
        [1, "10.0.0.1", 1],
        [2, "10.0.0.2", 1],
        [3, "10.0.0.3", 1],
        [4, "10.0.0.4", 3],
      ],
    );
    assert.equal(stanzas[0]?.file, join(dir, "inc/a.conf"));
  });

  it("reads non-ASCII file names and commands as UTF-8 text, keys as bytes", () => {
    file(
      `SOURCE 10.0.0.7\nKEY clé\nCMD_CYCLE_OPEN /bin/echo é\nCMD_CYCLE_CLOSE NONE\n`,
      "ünï/x.conf",
    );
    const { stanzas } = parseAccessConf({ file: file(`%include_folder ünï\n`) });
    assert.equal(stanzas[0]?.cmdCycleOpen, "/bin/echo é");
    assert.deepEqual(stanzas[0].key, Buffer.from("clé", "utf8"));
  });

  it("reads a whole folder with --access-folder", () => {
    const { stanzas } = parseAccessConf({ folder: join(dir, "inc") });
    assert.deepEqual(
      stanzas.map((s) => s.source.text),
      ["10.0.0.1", "10.0.0.2"],
    );
  });

  it("keeps a stanza to its file across an %include, as C", () => {
    const inc = file(`OPEN_PORTS tcp/1\nSOURCE 10.0.0.6\n${KEYS}`);
    const main = file(`SOURCE 10.0.0.5\n%include ${inc}\n${KEYS}OPEN_PORTS tcp/5\n`);
    const { stanzas, warnings } = parseAccessConf({ file: main });
    assert.deepEqual(
      stanzas.map((s) => [s.source.text, s.openPorts?.[0]?.port ?? null]),
      [
        ["10.0.0.5", 5],
        ["10.0.0.6", null],
      ],
    );
    assert.deepEqual(warnings, [`${inc}:1: OPEN_PORTS before any SOURCE line is ignored`]);
  });

  it("nests files less than 3 deep and names the %include line beyond", () => {
    const c = file(`SOURCE 10.0.0.9\n${KEYS}`, "deep/c.conf");
    const b = file(`# b\n%include ${c}\n`, "deep/b.conf");
    const a = file(`%include b.conf\n`, "deep/a.conf");
    assert.equal(parseAccessConf({ file: a }).stanzas[0]?.source.text, "10.0.0.9");
    refuses(
      `%include ${a}\n`,
      2,
      /^%include of .*c\.conf: refusing to go deeper than 3 levels$/,
      b,
    );
  });

  it("takes only key and GPG variables from %include_keys", () => {
    const keys = file(
      `KEY_BASE64: ${KEY}\nHMAC_KEY_BASE64 ${HKEY}\nOPEN_PORTS tcp/9\nGPG_DECRYPT_ID X\n`,
      "k1.keys",
    );
    const p = file(`SOURCE 10.0.0.4\n%include_keys k1.keys\nREQUIRE_SOURCE_ADDRESS Y\n`);
    const { stanzas, warnings } = parseAccessConf({ file: p });
    const s = stanzas[0];
    assert.deepEqual(s?.key, Buffer.from(KEY, "base64"));
    assert.deepEqual(s.hmacKey, Buffer.from(HKEY, "base64"));
    assert.equal(s.openPorts, null);
    assert.equal(s.gpg.decryptId, "X");
    assert.deepEqual(warnings, [`${keys}:3: ignoring 'OPEN_PORTS' in a keys file`]);
  });

  it("drops a stanza its keys file leaves invalid, with a warning, as C", () => {
    const bad = file(`KEY_BASE64 __CHANGEME__\n`, "bad.keys");
    const p = file(
      `SOURCE 10.0.0.1\n%include_keys bad.keys\nSOURCE 10.0.0.2\n%include_keys missing.keys\n${KEYS}SOURCE 10.0.0.3\n${KEYS}`,
    );
    const { stanzas, warnings } = parseAccessConf({ file: p });
    assert.deepEqual(
      stanzas.map((s) => [s.number, s.source.text]),
      [
        [1, "10.0.0.2"],
        [2, "10.0.0.3"],
      ],
    );
    assert.equal(warnings.length, 3);
    assert.equal(
      warnings[0],
      `${bad}:1: KEY_BASE64 '<hidden>': replace __CHANGEME__ with a real key (fwknopd --key-gen makes one); rest of the keys file ignored`,
    );
    assert.match(
      warnings[1] ?? "",
      /^.*:1: stanza for SOURCE '10\.0\.0\.1': no KEY .*\(keys from %include_keys at .*:2\); stanza skipped$/,
    );
    assert.match(warnings[2] ?? "", /:4: cannot read keys file .*missing\.keys: ENOENT$/);
  });

  it("stops reading a keys file at a line too long, keeping the lines before it", () => {
    const keys = file(`KEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${"A".repeat(1 << 20)}\n`, "long.keys");
    const p = file(`SOURCE 10.0.0.5\n%include_keys long.keys\nREQUIRE_SOURCE_ADDRESS Y\n`);
    const { stanzas, warnings } = parseAccessConf({ file: p });
    assert.deepEqual(stanzas[0]?.key, Buffer.from(KEY, "base64"));
    assert.equal(stanzas[0].hmacKey, null);
    assert.deepEqual(warnings, [
      `${keys}:2: line too long: 1048592 bytes, at most 1023 (MAX_LINE_LEN in C fwknop): 'HMAC_KEY_BASE64 ${"A".repeat(64)}... (1048592 bytes)'; rest of the keys file ignored`,
    ]);
  });

  it("refuses %include_keys outside a stanza", () => {
    refuses(
      `%include_keys /nowhere\nSOURCE ANY\n${KEYS}`,
      1,
      /^%include_keys '\/nowhere': %include_keys must be inside a stanza/,
    );
  });

  it("needs at least one valid stanza, naming the file", () => {
    const p = file(`# nothing\nKEY k\n`);
    assert.throws(
      () => parseAccessConf({ file: p }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.file === p &&
        /could not find any valid access\.conf stanzas/.test(e.detail),
    );
  });
});

describe("access.conf: values longer than C reads", () => {
  it("refuses a 1 MB REQUIRE_USERNAME line (C: 'Invalid access file entry'), showing its start", () => {
    const text = `SOURCE ANY\n${KEYS}REQUIRE_USERNAME ${"u".repeat(1 << 20)}\n`;
    refuses(
      text,
      5,
      /^line too long: 1048593 bytes, at most 1023 \(MAX_LINE_LEN in C fwknop\): 'REQUIRE_USERNAME u{63}\.\.\. \(1048593 bytes\)'$/,
    );
  });

  it("takes a line of 1,023 bytes, as C's fgets does in one piece", () => {
    const name = "u".repeat(1023 - "REQUIRE_USERNAME ".length);
    assert.equal(one(`SOURCE ANY\n${KEYS}REQUIRE_USERNAME ${name}\n`).s.requireUsername, name);
  });

  it("warns of a REQUIRE_USERNAME longer than any SPA packet can carry (48 bytes)", () => {
    assert.deepEqual(one(`SOURCE ANY\n${KEYS}REQUIRE_USERNAME ${"u".repeat(48)}\n`).warnings, []);
    const { warnings } = one(`SOURCE ANY\n${KEYS}REQUIRE_USERNAME ${"u".repeat(49)}\n`);
    assert.match(
      warnings[0] ?? "",
      /:1: stanza for SOURCE 'ANY': Warning: REQUIRE_USERNAME is 49 bytes; an SPA packet carries at most 48 \(64 base64 characters\), so this stanza refuses every packet$/,
    );
  });

  it("shows only the start of an unknown 1,000-character name", () => {
    const { warnings } = one(`SOURCE ANY\n${KEYS}${"N".repeat(1000)} v\n`);
    assert.match(
      warnings[0] ?? "",
      /:5: Ignoring unknown access parameter: 'N{80}\.\.\. \(1000 bytes\)'$/,
    );
  });
});

describe("access.conf: malformed files name file, line and value", () => {
  const cases: Array<[string, string, number, RegExp]> = [
    [
      "bad IP in SOURCE",
      `SOURCE 10.0.0.300\n${KEYS}`,
      1,
      /^SOURCE '10\.0\.0\.300': '10\.0\.0\.300' is not ANY, an address, or a network$/,
    ],
    [
      "bad CIDR",
      `SOURCE ANY\n${KEYS}\nSOURCE 10.0.0.0/33\n${KEYS}`,
      6,
      /^SOURCE '10\.0\.0\.0\/33': '10\.0\.0\.0\/33': invalid prefix length or netmask/,
    ],
    [
      "CIDR 0 (C refuses it too)",
      `SOURCE 0.0.0.0/0\n${KEYS}`,
      1,
      /'0\.0\.0\.0\/0': invalid prefix length or netmask/,
    ],
    [
      "non-contiguous mask",
      `SOURCE 10.0.0.0/255.0.255.0\n${KEYS}`,
      1,
      /mask 255\.0\.255\.0 is not a contiguous netmask$/,
    ],
    [
      "bad IPv6 prefix",
      `SOURCE 2001:db8::/129\n${KEYS}`,
      1,
      /invalid IPv6 prefix length \(1-128\)$/,
    ],
    [
      "empty list entry",
      `SOURCE ANY\nDESTINATION 10.0.0.1,\n${KEYS}`,
      2,
      /^DESTINATION '10\.0\.0\.1,': empty entry in the list$/,
    ],
    [
      "port 0",
      `SOURCE ANY\nOPEN_PORTS tcp/22, tcp/0\n${KEYS}`,
      2,
      /^OPEN_PORTS 'tcp\/22, tcp\/0': 'tcp\/0' is not tcp\/PORT or udp\/PORT with PORT 1-65535$/,
    ],
    [
      "icmp in OPEN_PORTS",
      `SOURCE ANY\nOPEN_PORTS icmp/8\n${KEYS}`,
      2,
      /^OPEN_PORTS 'icmp\/8': 'icmp\/8' is not tcp\/PORT/,
    ],
    [
      "port out of range",
      `SOURCE ANY\nRESTRICT_PORTS udp/65536\n${KEYS}`,
      2,
      /'udp\/65536' is not tcp\/PORT/,
    ],
    [
      "bad digest type",
      `SOURCE ANY\n${KEYS}HMAC_DIGEST_TYPE sha999\n`,
      5,
      /^HMAC_DIGEST_TYPE 'sha999': expected md5, sha1/,
    ],
    [
      "bad mode",
      `SOURCE ANY\nENCRYPTION_MODE XTS\n${KEYS}`,
      2,
      /^ENCRYPTION_MODE 'XTS': expected CBC/,
    ],
    [
      "PCBC, which C lists but never implemented",
      `SOURCE ANY\nENCRYPTION_MODE PCBC\n${KEYS}`,
      2,
      /^ENCRYPTION_MODE 'PCBC'/,
    ],
    [
      "KEY and HMAC_KEY identical",
      `# x\nSOURCE ANY\nKEY s3cret pass\nHMAC_KEY s3cret pass\n`,
      2,
      /^stanza for SOURCE 'ANY': the HMAC key must differ from the encryption key$/,
    ],
    [
      "same key once raw, once base64",
      `SOURCE ANY\nKEY_BASE64 ${Buffer.from("s3cret pass").toString("base64")}\nHMAC_KEY s3cret pass\n`,
      1,
      /the HMAC key must differ/,
    ],
    [
      "non-base64 KEY_BASE64",
      `SOURCE ANY\nKEY_BASE64 ${KEY.slice(0, 20)}!${KEY.slice(21)}\n`,
      2,
      /^KEY_BASE64 '<hidden>': not valid base64$/,
    ],
    [
      "non-base64 HMAC_KEY_BASE64",
      `SOURCE ANY\nKEY k\nHMAC_KEY_BASE64 ${HKEY} x\n`,
      3,
      /^HMAC_KEY_BASE64 '<hidden>': not valid base64$/,
    ],
    [
      "__CHANGEME__ in any case",
      `SOURCE ANY\nKEY k\nHMAC_KEY __ChangeMe__\n`,
      3,
      /^HMAC_KEY '<hidden>': replace __CHANGEME__/,
    ],
    [
      "missing key",
      `SOURCE ANY\nOPEN_PORTS tcp/22\nREQUIRE_SOURCE_ADDRESS Y\nSOURCE 10.0.0.1\n${KEYS}`,
      1,
      /^stanza for SOURCE 'ANY': no KEY or KEY_BASE64/,
    ],
    [
      "key too long",
      `SOURCE ANY\nKEY_BASE64 ${Buffer.alloc(33, 1).toString("base64")}\n`,
      1,
      /the encryption key is 33 bytes; at most 32$/,
    ],
    [
      "bad ACCESS_EXPIRE format",
      `SOURCE ANY\n${KEYS}ACCESS_EXPIRE 2030-12-31\n`,
      5,
      /^ACCESS_EXPIRE '2030-12-31': expected MM\/DD\/YYYY$/,
    ],
    [
      "impossible ACCESS_EXPIRE date",
      `SOURCE ANY\n${KEYS}ACCESS_EXPIRE 02/30/2030\n`,
      5,
      /^ACCESS_EXPIRE '02\/30\/2030': no such date$/,
    ],
    [
      "bad ACCESS_EXPIRE_EPOCH",
      `SOURCE ANY\n${KEYS}ACCESS_EXPIRE_EPOCH soon\n`,
      5,
      /^ACCESS_EXPIRE_EPOCH 'soon': expected a whole number$/,
    ],
    [
      "timeout out of range",
      `SOURCE ANY\n${KEYS}FW_ACCESS_TIMEOUT 8388609\n`,
      5,
      /^FW_ACCESS_TIMEOUT '8388609': out of range \[0-8388608\]$/,
    ],
    [
      "bool neither Y nor N",
      `SOURCE ANY\n${KEYS}REQUIRE_SOURCE_ADDRESS true\n`,
      5,
      /^REQUIRE_SOURCE_ADDRESS 'true': expected Y or N$/,
    ],
    [
      "variable without a value",
      `SOURCE ANY\n${KEYS}OPEN_PORTS\n`,
      5,
      /^OPEN_PORTS: missing value$/,
    ],
    ["SOURCE without a value", `SOURCE ;\n`, 1, /^SOURCE: missing value$/],
    [
      "%include of a missing file",
      `SOURCE ANY\n${KEYS}%include nowhere.conf\n`,
      5,
      /^cannot read .*nowhere\.conf: ENOENT$/,
    ],
  ];
  for (const [what, text, line, re] of cases)
    it(what, () => {
      refuses(text, line, re);
    });
});
