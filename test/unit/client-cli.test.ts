/**
 * The client's command line, run in-process through main(): what it writes, the exit codes, and
 * one-line errors that name the flag or file:line.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runClientInProcess } from "../fixtures/client-run.js";
import { openSpaPacket } from "../../src/spa/index.js";

interface Run {
  code: number;
  out: string;
  err: string;
  home: string;
}

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
};

async function run(argv: string[], setup?: (home: string) => void): Promise<Run> {
  const home = tempDir("fwknop-cli-");
  setup?.(home);
  return { ...(await runClientInProcess(home, argv)), home };
}

const KEY = Buffer.alloc(32, 1).toString("base64");
const HKEY = Buffer.alloc(64, 2).toString("base64");
const base = ["-a", "198.18.0.2", "-D", "198.18.0.1", "--key-base64-rijndael", KEY];

describe("fwknop -T -B", () => {
  it("writes a packet that opens with the same keys and shows the C dump", async () => {
    const pktFile = join(tempDir("fwknop-pkt-"), "pkt");
    const r = await run([
      "-A",
      "tcp/22",
      ...base,
      "--key-base64-hmac",
      HKEY,
      "--use-hmac",
      "-m",
      "sha512",
      "-M",
      "ctr",
      "--hmac-digest-type",
      "sha384",
      "-f",
      "45",
      "-U",
      "alice",
      "--time-offset-minus",
      "2m",
      "-T",
      "-B",
      pktFile,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\[\*\] Creating initial rc file: .*\.fwknoprc\.$/m);
    assert.match(r.out, /^ {3}Message Type: 3 \(Client timeout access msg\)$/m);
    assert.match(r.out, /^ {4}Digest Type: 5 \(SHA512\)$/m);
    assert.match(r.out, /^Encryption Mode: 6 \(CTR\)$/m);
    assert.match(r.out, /^test mode enabled, SPA packet not actually sent\.$/m);
    const wire = readFileSync(pktFile, "latin1").trimEnd();
    const opened = openSpaPacket(wire, {
      mode: "ctr",
      key: Buffer.from(KEY, "base64"),
      hmac: { type: "sha384", key: Buffer.from(HKEY, "base64") },
    });
    assert.ok(opened.ok);
    assert.equal(opened.value.username, "alice");
    assert.equal(opened.value.timestamp, 1_700_000_000 - 120);
    assert.equal(opened.value.message, "198.18.0.2,tcp/22");
    assert.equal(opened.value.clientTimeout, 45);
    assert.match(r.out, new RegExp(`^ Final SPA Data: ${wire.replace(/[+/]/g, "\\$&")}$`, "m"));
    const rc = statSync(join(r.home, ".fwknoprc"));
    assert.equal(rc.mode & 0o777, 0o600);
    assert.equal(statSync(join(r.home, ".fwknop.run")).mode & 0o777, 0o600);
  });

  it("uses [default] and the -n stanza of the rc file, the command line winning", async () => {
    const r = await run(["-n", "gw", "-A", "udp/53", "-T", "--no-save-args"], (home) => {
      writeFileSync(
        join(home, ".fwknoprc"),
        `[default]\nDIGEST_TYPE sha1\nSPA_SERVER_PORT 1\n\n[gw]\nSPA_SERVER 198.18.0.1\nACCESS tcp/22\nALLOW_IP 198.18.0.9\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HKEY}\nUSE_HMAC Y\n`,
        { mode: 0o600 },
      );
    });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ Message String: 198\.18\.0\.9,udp\/53$/m);
    assert.match(r.out, /^ {4}Digest Type: 2 \(SHA1\)$/m);
    assert.match(r.out, /^ {6}HMAC Type: 3 \(SHA256\)$/m);
  });
});

describe("fwknop bad input: one line naming the flag or file:line, exit 1", () => {
  const cases: Array<[string, string[], RegExp, ((home: string) => void)?]> = [
    ["unknown flag", ["--bogus"], /^fwknop: unrecognized option '--bogus'$/],
    ["ambiguous flag", ["--key"], /^fwknop: option '--key' is ambiguous/],
    ["missing value", ["-A"], /^fwknop: option requires an argument -- 'A'$/],
    [
      "bad port spec",
      ["-A", "tcp/0", ...base, "-T"],
      /^fwknop: message: Error 102 - Invalid SPA access message format \("198\.18\.0\.2,tcp\/0"\)$/,
    ],
    [
      "icmp is refused like C",
      ["-A", "icmp/8", ...base, "-T"],
      /^fwknop: message: Error 102 - Invalid SPA access message format/,
    ],
    [
      "bad IP",
      ["-A", "tcp/22", ...base, "-a", "1.2.3", "-T"],
      /^fwknop: Invalid allow IP address: '1\.2\.3'/,
    ],
    [
      "bad server port",
      ["-A", "tcp/22", ...base, "-p", "70000"],
      /^fwknop: -p: server port 70000 out of range/,
    ],
    [
      "timeout over the protocol cap",
      ["-A", "tcp/22", ...base, "-f", "131072", "-T"],
      /^fwknop: -f: .*out of range \[0-65536\]$/,
    ],
    [
      "bad digest",
      ["-A", "tcp/22", ...base, "-m", "sha2", "-T"],
      /^fwknop: -m: Invalid digest type: sha2/,
    ],
    [
      "bad mode",
      ["-A", "tcp/22", ...base, "-M", "pcbc", "-T"],
      /^fwknop: -M: Invalid encryption mode: pcbc/,
    ],
    [
      "key too long",
      ["-A", "tcp/22", "-a", "1.2.3.4", "-D", "x", "--key-rijndael", "x".repeat(33), "-T"],
      /^fwknop: encryption key: Error 95 - Invalid key length/,
    ],
    [
      "no destination",
      ["-A", "tcp/22", "-a", "1.2.3.4", "--key-rijndael", "k"],
      /^fwknop: Must use --destination unless --test mode is used$/,
    ],
    [
      "legacy with HMAC",
      ["-A", "tcp/22", ...base, "-M", "legacy", "--key-hmac", "h", "-T"],
      /^fwknop: Legacy encryption mode is incompatible with HMAC usage\.$/,
    ],
    [
      "unknown rc variable",
      ["-A", "tcp/22", ...base, "-T"],
      /^fwknop: .*\.fwknoprc:3: unknown variable 'SPA_SERVR'$/,
      (home) => {
        writeFileSync(join(home, ".fwknoprc"), "[default]\n# typo below\nSPA_SERVR 1.2.3.4\n", {
          mode: 0o600,
        });
      },
    ],
    [
      "rc line longer than C reads (MAX_LINE_LEN), shown by its start",
      ["-A", "tcp/22", ...base, "-T"],
      /^fwknop: .*\.fwknoprc:2: line too long: 1048587 bytes, at most 1023 \(MAX_LINE_LEN in C fwknop\): 'SPOOF_USER u{69}\.\.\. \(1048587 bytes\)'$/,
      (home) => {
        writeFileSync(join(home, ".fwknoprc"), `[default]\nSPOOF_USER ${"u".repeat(1 << 20)}\n`, {
          mode: 0o600,
        });
      },
    ],
    [
      "unknown rc variable of 1 MB, shown by its start",
      ["-A", "tcp/22", ...base, "-T"],
      /^fwknop: .*\.fwknoprc:2: unknown variable 'V{80}\.\.\. \(1000 bytes\)'$/,
      (home) => {
        writeFileSync(join(home, ".fwknoprc"), `[default]\n${"V".repeat(1000)} x\n`, {
          mode: 0o600,
        });
      },
    ],
    [
      "bad rc value",
      ["-A", "tcp/22", ...base, "-T"],
      /^fwknop: .*\.fwknoprc:2: SPA_SERVER_PORT 'abc': server port must be a number, got 'abc'$/,
      (home) => {
        writeFileSync(join(home, ".fwknoprc"), "[default]\nSPA_SERVER_PORT abc\n", { mode: 0o600 });
      },
    ],
    [
      "unreadable rc file",
      ["-A", "tcp/22", ...base, "--rc-file", "/nonexistent-dir/rc", "-T"],
      /^fwknop: \/nonexistent-dir\/rc: cannot create rc file/,
    ],
    [
      "missing stanza",
      ["-n", "nope", "-T"],
      /^fwknop: Named configuration stanza 'nope' not found in /,
    ],
  ];
  for (const [name, argv, expected, setup] of cases) {
    it(name, async () => {
      const r = await run(argv, setup);
      assert.equal(r.code, 1);
      const lines = r.err.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.err);
      assert.match(lines[0] ?? "", expected);
    });
  }

  // Without a key anywhere the client asks on the terminal (client/getpasswd.c); run detached
  // from any terminal with setsid, it must say in one line where a key can come from.
  for (const [name, args] of [
    ["missing key, no terminal", ["-A", "tcp/22", "-a", "1.2.3.4", "-D", "x", "-T"]],
    ["missing HMAC key, no terminal", ["-A", "tcp/22", ...base, "--use-hmac", "-T"]],
  ] as const) {
    it(name, async () => {
      const home = tempDir("fwknop-notty-");
      const r = await new Promise<{ code: number; err: string }>((resolve) => {
        execFile(
          "setsid",
          ["-w", process.execPath, join(__dirname, "..", "..", "bin", "fwknop"), ...args],
          { env: { PATH: "/usr/bin:/bin", HOME: home } },
          (e, _out, err) => {
            resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : 1, err });
          },
        );
      });
      assert.equal(r.code, 1);
      assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
      assert.match(
        r.err.trimEnd(),
        /^fwknop: No terminal to ask for the key on: give it with --key-base64-rijndael\/--key-base64-hmac, --stdin, --fd, -G, or in ~\/\.fwknoprc$/,
      );
    });
  }

  it("an rc file readable by others only warns", async () => {
    const r = await run(["-A", "tcp/22", ...base, "-T"], (home) => {
      writeFileSync(join(home, ".fwknoprc"), "[default]\n");
      chmodSync(join(home, ".fwknoprc"), 0o644);
    });
    assert.equal(r.code, 0);
    assert.match(r.err, /permissions should only be user read\/write/);
  });
});

describe("fwknop --key-gen", () => {
  it("prints padded base64 keys of the default lengths", async () => {
    const r = await run(["--key-gen"]);
    assert.equal(r.code, 0);
    const m = /^KEY_BASE64: (\S+)\nHMAC_KEY_BASE64: (\S+)\n$/m.exec(r.out);
    assert.ok(m);
    assert.equal(Buffer.from(m[1] ?? "", "base64").length, 32);
    assert.equal(Buffer.from(m[2] ?? "", "base64").length, 64);
    assert.equal(m[1]?.length, 44);
  });
});
