/**
 * bin/fwknop loads the bundle dist/fwknop.js with V8's code cache dist/fwknop.jsc (see
 * scripts/build-client.ts): the cache `npm run build` made must be one this node accepts, and the
 * client must work the same without it, with a cache made from other bytes, or with a damaged one.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

const REPO = join(__dirname, "..", "..");
const KEY = Buffer.alloc(32, 1).toString("base64");
const HKEY = Buffer.alloc(64, 2).toString("base64");
const KNOCK = [
  "--no-rc-file",
  "--no-save-args",
  "-A",
  "tcp/22",
  "-a",
  "198.18.0.2",
  "--key-base64-rijndael",
  KEY,
  "--key-base64-hmac",
  HKEY,
  "--use-hmac",
  "-T",
];

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A copy of bin/ and the bundle, with `jsc` as its code cache file (none when null). */
function install(jsc: Buffer | null): string {
  const root = mkdtempSync(join(tmpdir(), "fwkts-bundle-"));
  made.push(root);
  mkdirSync(join(root, "bin"));
  mkdirSync(join(root, "dist"));
  copyFileSync(join(REPO, "bin", "fwknop"), join(root, "bin", "fwknop"));
  copyFileSync(join(REPO, "dist", "fwknop.js"), join(root, "dist", "fwknop.js"));
  if (jsc !== null) writeFileSync(join(root, "dist", "fwknop.jsc"), jsc);
  return root;
}

/** What V8 made of the cache in a plain node: "undefined" when bin/fwknop offered none. */
function cacheVerdict(root: string): string {
  const probe =
    "const c = require(process.argv[1]).loadClient();" +
    "process.stdout.write(String(c.script.cachedDataRejected));";
  return execFileSync(process.execPath, ["-e", probe, join(root, "bin", "fwknop")], {
    encoding: "utf8",
  });
}

function knock(root: string): string {
  return execFileSync(process.execPath, [join(root, "bin", "fwknop"), ...KNOCK], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", HOME: root, LOGNAME: "tester" },
  });
}

const source = readFileSync(join(REPO, "dist", "fwknop.js"));
const jsc = readFileSync(join(REPO, "dist", "fwknop.jsc"));

describe("bin/fwknop and its code cache", () => {
  it("the cache npm run build made starts with the bundle's bytes and is accepted", () => {
    assert.ok(jsc.subarray(0, source.length).equals(source));
    assert.equal(cacheVerdict(install(jsc)), "false");
  });

  const cases: [string, Buffer | null, string][] = [
    ["no cache file", null, "undefined"],
    [
      "a cache made from other bytes of the same length",
      Buffer.concat([
        Buffer.from(source.toString("latin1").replace("SPA", "SPB"), "latin1"),
        jsc.subarray(source.length),
      ]),
      "undefined",
    ],
    ["a damaged cache", Buffer.concat([source, Buffer.alloc(64, 7)]), "true"],
  ];
  for (const [name, file, verdict] of cases) {
    it(`${name}: compiled without it, same behaviour`, () => {
      const root = install(file);
      assert.equal(cacheVerdict(root), verdict);
      const out = knock(root);
      assert.match(out, /^SPA Field Values:\n/);
      assert.match(out, /\n Message String: 198\.18\.0\.2,tcp\/22\n/);
      assert.match(out, /test mode enabled, SPA packet not actually sent\.\n$/);
    });
  }
});
