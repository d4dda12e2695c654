/**
 * bin/fwknopd commands that need no network namespace: -D, --exit-parse-config, --status when
 * nothing runs, --key-gen, bad flags. (The daemon itself is tested end to end in test/e2e.)
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

const BIN = join(__dirname, "..", "..", "bin", "fwknopd");
const dir = mkdtempSync(join(tmpdir(), "fwknopd-cli-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const KEY = randomBytes(32).toString("base64");
const HKEY = randomBytes(64).toString("base64");
const conf = join(dir, "fwknopd.conf");
const access = join(dir, "access.conf");
writeFileSync(
  conf,
  `ENABLE_UDP_SERVER Y;\nFWKNOP_RUN_DIR ${join(dir, "run")};\nFIREWALL_TYPE iptables;\n`,
  { mode: 0o600 },
);
writeFileSync(
  access,
  `SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HKEY}\n`,
  { mode: 0o600 },
);

function fwknopd(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 15_000 }, (e, out, err) => {
      resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : 1, out, err });
    });
  });
}

describe("fwknopd command line", () => {
  it("-D prints the configuration and stanzas with keys hidden", async () => {
    const r = await fwknopd(["-D", "-c", conf, "-a", access]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ *\d+\. UDPSERV_PORT += {2}'62201'$/m);
    assert.match(r.out, /^Firewall: iptables$/m);
    assert.match(r.out, /KEY:\s+<see the access\.conf file>/);
    assert.ok(!r.out.includes(KEY) && !r.out.includes(HKEY), "a key was printed");
  });

  it("--gpg-home-dir, --gpg-exe and --sudo-exe set their variables over fwknopd.conf", async () => {
    const r = await fwknopd([
      ...["-D", "-c", conf, "-a", access],
      ...["--gpg-home-dir", "/srv/keyring", "--gpg-exe", "/opt/gpg", "--sudo-exe", "/opt/sudo"],
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /GPG_HOME_DIR += {2}'\/srv\/keyring'$/m);
    assert.match(r.out, /GPG_EXE += {2}'\/opt\/gpg'$/m);
    assert.match(r.out, /SUDO_EXE += {2}'\/opt\/sudo'$/m);
  });

  it("--exit-parse-config checks the files and exits 0", async () => {
    const r = await fwknopd(["--exit-parse-config", "-c", conf, "-a", access]);
    assert.equal(r.code, 0, r.err);
  });

  it("--status says nothing runs, exit 1", async () => {
    const r = await fwknopd(["--status", "-c", conf, "-a", access]);
    assert.equal(r.code, 1);
    assert.match(r.out, /^No running fwknopd detected\.$/m);
  });

  it("an unknown flag is one line naming it, exit 1", async () => {
    const r = await fwknopd(["--bogus"]);
    assert.equal(r.code, 1);
    assert.equal(r.err, "fwknopd: unrecognized option '--bogus'\n");
  });

  it("-K and -S together are refused", async () => {
    const r = await fwknopd(["-K", "-S", "-c", conf, "-a", access]);
    assert.equal(r.code, 1);
    assert.match(r.err, /-D, -K, -R and -S cannot be combined/);
  });

  it("--key-gen prints keys fwknopd and fwknop both read", async () => {
    const r = await fwknopd(["--key-gen", "--hmac-digest-type", "sha512"]);
    assert.equal(r.code, 0);
    const m = /^KEY_BASE64: (\S+)\nHMAC_KEY_BASE64: (\S+)$/m.exec(r.out);
    assert.ok(m !== null);
    assert.equal(Buffer.from(m[2] ?? "", "base64").length, 128);
  });

  // -t: were the check to pass, no firewall would be touched either.
  it("FWKNOP_RUN_DIR naming a file stops the start at its line, before anything starts", async () => {
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "");
    const c2 = join(dir, "run-file.conf");
    writeFileSync(c2, `ENABLE_UDP_SERVER Y;\nFWKNOP_RUN_DIR ${file};\nUDPSERV_PORT 62299;\n`, {
      mode: 0o600,
    });
    const r = await fwknopd(["-f", "-t", "-c", c2, "-a", access]);
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.err,
      new RegExp(`${c2}:2: FWKNOP_RUN_DIR '${file}': ${file} is NOT a directory`),
    );
    assert.doesNotMatch(r.err, /EEXIST|Listening|Starting/);
    const r2 = await fwknopd(["-f", "-t", "-c", c2, "-a", access, "-r", `${file}/run`]);
    assert.equal(r2.code, 1, r2.err);
    assert.match(
      r2.err,
      new RegExp(
        `<command line>: -r/--run-dir '${file}/run': component ${file} of ${file}/run is NOT a directory`,
      ),
    );
  });
});
