/**
 * bin/fwknop runs the client from dist/fwknop.jsc, the bundle's text and V8's code cache for it
 * (see scripts/build-client.ts): the cache `npm run build` made must be one this node accepts, and
 * the client must work the same without a cache or with a damaged one.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { createServer, type AddressInfo } from "node:net";
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

/** The client from the repository's bin/, asynchronously (a test's listener must keep running). */
function runBin(args: string[]): Promise<{ code: number; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO, "bin", "fwknop"), ...args],
      { env: { PATH: "/usr/bin:/bin", HOME: tmpdir(), LOGNAME: "tester" } },
      (e, _out, err) => {
        resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : 1, err });
      },
    );
  });
}

/** A copy of bin/ with dist/fwknop.jsc holding `source` and `cache`. */
function install(source: Buffer, cache: Buffer): string {
  const root = mkdtempSync(join(tmpdir(), "fwkts-bundle-"));
  made.push(root);
  mkdirSync(join(root, "bin"));
  mkdirSync(join(root, "dist"));
  copyFileSync(join(REPO, "bin", "fwknop"), join(root, "bin", "fwknop"));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(source.length);
  writeFileSync(join(root, "dist", "fwknop.jsc"), Buffer.concat([length, source, cache]));
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

const jsc = readFileSync(join(REPO, "dist", "fwknop.jsc"));
const end = 4 + jsc.readUInt32LE(0);
const source = jsc.subarray(4, end);
const cache = jsc.subarray(end);

describe("bin/fwknop and its code cache", () => {
  it("the cache npm run build made is accepted by this node", () => {
    assert.match(source.toString("latin1"), /^\(function \(exports, require, module/);
    assert.ok(cache.length > 0);
    assert.equal(cacheVerdict(install(source, cache)), "false");
  });

  const other = Buffer.from(`${source.toString("latin1")}\n`, "latin1");
  const cases: [string, Buffer, Buffer, string][] = [
    ["no cache", source, Buffer.alloc(0), "undefined"],
    ["a damaged cache", source, Buffer.alloc(64, 7), "true"],
    ["the cache of another bundle", other, cache, "true"],
  ];
  for (const [name, text, data, verdict] of cases) {
    it(`${name}: compiled without it, same behaviour`, () => {
      const root = install(text, data);
      assert.equal(cacheVerdict(root), verdict);
      const out = knock(root);
      assert.match(out, /^SPA Field Values:\n/);
      assert.match(out, /\n Message String: 198\.18\.0\.2,tcp\/22\n/);
      assert.match(out, /test mode enabled, SPA packet not actually sent\.\n$/);
    });
  }

  // The transports are loaded only when sending; each must work from the bundle too.
  const send = KNOCK.filter((a) => a !== "-T");

  it("sends over UDP to a name (node:dns is loaded then)", async () => {
    const sock = createSocket("udp4");
    await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", resolve));
    const got = new Promise<Buffer>((resolve) => sock.once("message", resolve));
    try {
      const port = String(sock.address().port);
      const r = await runBin([...send, "-D", "localhost", "-p", port]);
      assert.equal(r.code, 0, r.err);
      assert.match((await got).toString("latin1"), /^[A-Za-z0-9+/]+$/);
    } finally {
      sock.close();
    }
  });

  it("sends over TCP (node:net is loaded then)", async () => {
    const chunks: Buffer[] = [];
    const server = createServer();
    const done = new Promise<void>((resolve) => {
      server.once("connection", (c) => {
        c.on("data", (d: Buffer) => chunks.push(d));
        c.on("end", resolve);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = String((server.address() as AddressInfo).port);
      const r = await runBin([...send, "-D", "127.0.0.1", "-p", port, "-P", "tcp"]);
      assert.equal(r.code, 0, r.err);
      await done;
      assert.match(Buffer.concat(chunks).toString("latin1"), /^[A-Za-z0-9+/]+$/);
    } finally {
      server.close();
    }
  });
});
