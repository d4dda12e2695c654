/**
 * `npm run build`'s client step, after tsc: dist/fwknop.jsc, the client bundled into one file with
 * V8's code cache for it. Start-up is most of a knock's wall time (bench/client.ts): loading ~40
 * modules one by one cost a third of it, and parsing and compiling the bundle another fifth, which
 * the cache saves.
 *
 * The bundle is one function expression (the CommonJS module wrapper, added as banner and
 * footer) that bin/fwknop compiles with vm.Script, which takes a code cache where require() does
 * not. The cache is made here by running the client in-process, once with --test and once
 * sending to a socket on 127.0.0.1, so the functions of both paths are in it. The file is a 4-byte
 * little-endian length, the bundle's text, then the cache: one file, so the cache cannot belong to
 * another bundle (V8 itself checks no more than the text's length); a node of another version
 * rejects it and compiles the text.
 *   node --import tsx scripts/build-client.ts
 */
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSync } from "esbuild";
import type { ClientDeps } from "../src/cli/fwknop.js";

const REPO = join(__dirname, "..");
const OUT = join(REPO, "dist", "fwknop.jsc");

interface CompiledClient {
  script: import("node:vm").Script;
  exports: typeof import("../src/cli/fwknop.js");
}

interface Shim {
  compileClient: (source: Buffer, cachedData?: Buffer) => CompiledClient;
}

function bundle(): Buffer {
  const out = buildSync({
    entryPoints: [join(REPO, "src", "cli", "fwknop.ts")],
    write: false,
    outfile: "fwknop.js",
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    // ASCII, so that bin/fwknop's latin1 reading gives back the very text esbuild wrote.
    charset: "ascii",
    banner: { js: "(function (exports, require, module, __filename, __dirname) {" },
    footer: { js: "})" },
    logLevel: "warning",
    // The raw modes' FFI (src/client/raw/send.ts): a native module, required from node_modules
    // when one of those modes runs, never bundled.
    external: ["koffi"],
  });
  const file = out.outputFiles[0];
  if (file === undefined) throw new Error("esbuild wrote nothing");
  // vm.Script gives the bundle no module loader: an import() left in it (esbuild keeps those of
  // Node's own modules) would throw when reached. Built-ins loaded lazily are require()d.
  const m = /\bimport\("[^"]*"\)/.exec(file.text);
  if (m !== null) throw new Error(`the client bundle must not use ${m[0]}; require() it`);
  return Buffer.from(file.contents);
}

/** One knock with --test and one sent to a local socket, output discarded. */
async function exercise(client: CompiledClient): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "fwkts-build-"));
  const listener = createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.bind(0, "127.0.0.1", resolve);
    });
    const deps: ClientDeps = {
      ...client.exports.defaultClientDeps(),
      out: () => undefined,
      err: () => undefined,
    };
    const args = [
      "--rc-file",
      join(home, "fwknoprc"),
      "--save-args-file",
      join(home, "fwknop.run"),
      "-A",
      "tcp/22",
      "-a",
      "127.0.0.2",
      "-D",
      "127.0.0.1",
      "-p",
      String(listener.address().port),
      "--key-base64-rijndael",
      randomBytes(32).toString("base64"),
      "--key-base64-hmac",
      randomBytes(64).toString("base64"),
      "--use-hmac",
    ];
    for (const extra of [["--test"], []]) {
      const code = await client.exports.main([...args, ...extra], deps);
      if (code !== 0) throw new Error(`the client exited ${code} (${extra.join("") || "sending"})`);
    }
  } finally {
    listener.close();
    rmSync(home, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  rmSync(OUT, { force: true });
  const source = bundle();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { compileClient } = require("../bin/fwknop") as Shim;
  const client = compileClient(source);
  await exercise(client);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(source.length);
  writeFileSync(OUT, Buffer.concat([length, source, client.script.createCachedData()]));
}

main().catch((e: unknown) => {
  console.error("build-client:", e);
  process.exitCode = 1;
});
