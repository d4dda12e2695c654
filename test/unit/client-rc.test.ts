/**
 * The client's rc-file features and key sources, in-process: --save-rc-stanza (with and without
 * --key-gen, keeping the rest of the file byte for byte), --stanza-list, -G key files, --show-last
 * and -l, the key prompt, and the HTTP proxy request.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { ClientDeps } from "../../src/cli/fwknop.js";
import { runClientInProcess } from "../fixtures/client-run.js";
import { ipFromAnswer } from "../../src/client/resolve-ip.js";
import { httpRequestFor } from "../../src/client/transport.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const run = (home: string, argv: string[], extra: Partial<ClientDeps> = {}) =>
  runClientInProcess(home, argv, extra, 0x5a);
const newHome = (): string => {
  const d = mkdtempSync(join(tmpdir(), "client-rc-"));
  dirs.push(d);
  return d;
};

describe("--save-rc-stanza", () => {
  it("writes the tutorial's stanza with new keys, in C's order and format, mode 0600", async () => {
    const home = newHome();
    const rc = join(home, ".fwknoprc");
    const before =
      "# my notes\n[default]\nDIGEST_TYPE sha256\n\n[other]\nSPA_SERVER 198.51.100.1  # keep me\n";
    writeFileSync(rc, before, { mode: 0o600 });
    const r = await run(home, [
      "-A",
      "tcp/1234",
      "-a",
      "192.168.21.128",
      "-D",
      "192.168.21.132",
      "--key-gen",
      "--use-hmac",
      "--save-rc-stanza",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `[+] Wrote Rijndael and HMAC keys to rc file: ${rc}\n`);
    const text = readFileSync(rc, "latin1");
    assert.ok(text.startsWith(before), "the rest of the file is kept byte for byte");
    const stanza = text.slice(before.length);
    const key = Buffer.alloc(32, 0x5a).toString("base64");
    const hkey = Buffer.alloc(64, 0x5a).toString("base64");
    assert.equal(
      stanza,
      "\n[192.168.21.132]\n" +
        `ALLOW_IP                    192.168.21.128\nACCESS                      tcp/1234\nSPA_SERVER                  192.168.21.132\n` +
        `KEY_BASE64                  ${key}\nHMAC_KEY_BASE64             ${hkey}\nUSE_HMAC                    Y\n`,
    );
    assert.equal(statSync(rc).mode & 0o777, 0o600);
    const sent = await run(home, ["-n", "192.168.21.132", "-T", "--no-save-args"]);
    assert.equal(sent.code, 0, sent.err);
    assert.match(sent.out, /^ Message String: 192\.168\.21\.128,tcp\/1234$/m);
  });

  it("rewrites the stanza from this command line, keeps keys it does not set, asks before replacing keys", async () => {
    const home = newHome();
    const rc = join(home, ".fwknoprc");
    writeFileSync(
      rc,
      "[gw]\nKEY_BASE64 AAAA\nACCESS tcp/22\nSPA_SERVER 198.51.100.9\n[next]\nACCESS udp/53\n",
      { mode: 0o600 },
    );
    const asked: string[] = [];
    const r = await run(
      home,
      [
        "-n",
        "gw",
        "-A",
        "tcp/2222",
        "-D",
        "198.51.100.9",
        "--key-base64-rijndael",
        "QkJCQg==",
        "--save-rc-stanza",
        "-T",
        "-a",
        "1.2.3.4",
      ],
      {
        askYesNo: (q) => {
          asked.push(q);
          return false;
        },
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(asked, ["Variable 'KEY_BASE64' found in stanza 'gw'. Overwrite [N/y] ? "]);
    assert.equal(
      readFileSync(rc, "latin1"),
      "[gw]\nALLOW_IP                    1.2.3.4\nACCESS                      tcp/2222\nSPA_SERVER                  198.51.100.9\nKEY_BASE64 AAAA\n\n[next]\nACCESS udp/53\n",
    );
    const forced = await run(home, [
      "-n",
      "gw",
      "-D",
      "198.51.100.9",
      "--key-base64-rijndael",
      "QkJCQg==",
      "--save-rc-stanza",
      "--force-stanza",
      "-T",
      "-A",
      "tcp/1",
      "-a",
      "1.2.3.4",
    ]);
    assert.equal(forced.code, 0, forced.err);
    assert.match(readFileSync(rc, "latin1"), /^KEY_BASE64 {18}QkJCQg==$/m);
  });

  it("--stanza-list lists the stanzas but [default]", async () => {
    const home = newHome();
    writeFileSync(join(home, ".fwknoprc"), "[default]\n[a]\n[b.example]\n", { mode: 0o600 });
    const r = await run(home, ["--stanza-list"]);
    assert.equal(
      r.out,
      `The following stanzas are configured in ${join(home, ".fwknoprc")} :\n - a\n - b.example\n`,
    );
  });
});

describe("key sources", () => {
  it("-G reads '<destination>: <key>' lines; the last match wins", async () => {
    const home = newHome();
    const f = join(home, "keys");
    writeFileSync(f, "# keys\n198.51.100.9: first\nother: nope\n 198.51.100.9:   second\n", {
      mode: 0o600,
    });
    const r = await run(home, [
      "-A",
      "tcp/22",
      "-a",
      "1.2.3.4",
      "-D",
      "198.51.100.9",
      "-G",
      f,
      "-T",
      "--no-save-args",
      "-v",
    ]);
    assert.equal(r.code, 0, r.err);
    const missing = await run(home, [
      "-A",
      "tcp/22",
      "-a",
      "1.2.3.4",
      "-D",
      "203.0.113.1",
      "-G",
      f,
      "-T",
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /keys: no key for destination '203\.0\.113\.1'/);
  });

  it("asks for keys that are not configured", async () => {
    const home = newHome();
    const asked: string[] = [];
    const r = await run(
      home,
      ["-A", "tcp/22", "-a", "1.2.3.4", "-D", "x", "--use-hmac", "-T", "--no-save-args"],
      {
        askKey: (kind) => {
          asked.push(kind);
          return kind === "encryption" ? "enc-secret" : "mac-secret";
        },
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(asked, ["encryption", "hmac"]);
  });
});

describe("saved arguments", () => {
  it("--show-last prints them and -l runs them again", async () => {
    const home = newHome();
    const first = await run(home, [
      "-A",
      "tcp/22",
      "-a",
      "1.2.3.4",
      "-D",
      "x",
      "--key-rijndael",
      "k",
      "-T",
    ]);
    assert.equal(first.code, 0, first.err);
    const show = await run(home, ["--show-last"]);
    assert.equal(
      show.out,
      "Last fwknop client command line: fwknop -A tcp/22 -a 1.2.3.4 -D x --key-rijndael k -T\n",
    );
    const again = await run(home, ["-l"]);
    assert.equal(again.code, 0, again.err);
    assert.match(
      again.out,
      /^Running with last known args: -A tcp\/22 -a 1\.2\.3\.4 -D x --key-rijndael k -T$/m,
    );
    assert.match(again.out, /^ Message String: 1\.2\.3\.4,tcp\/22$/m);
  });
});

describe("HTTP details", () => {
  it("through a proxy the request line carries the absolute URL and Host names the proxy (as C)", () => {
    assert.equal(
      httpRequestFor("ab+c/d", "198.51.100.9", "Fwknop/2.6.10", "proxy.example"),
      "GET http://198.51.100.9/ab-c_d HTTP/1.1\r\nUser-Agent: Fwknop/2.6.10\r\nAccept: */*\r\nHost: proxy.example\r\nConnection: close\r\n\r\n",
    );
  });

  it("takes the leading dotted quad of a resolver's answer", () => {
    assert.equal(ipFromAnswer("203.0.113.5\n"), "203.0.113.5");
    assert.equal(ipFromAnswer("203.0.113.5 extra"), "203.0.113.5");
    assert.equal(ipFromAnswer("<html>"), null);
    assert.equal(ipFromAnswer("999.1.1.1"), null);
  });
});
