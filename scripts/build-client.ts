/**
 * `npm run build`'s client step, after tsc: the client bundled into one file, dist/fwknop.js, and
 * dist/fwknop.jsc, V8's code cache for it. Start-up is most of a knock's wall time
 * (bench/client.ts): loading ~40 modules one by one cost a third of it, and parsing and compiling
 * the bundle another fifth, which the cache saves.
 *
 * The bundle is one function expression (the CommonJS wrapper, written by us) that bin/fwknop
 * compiles with vm.Script, so it can hand V8 the cache. The cache is made here by running the
 * client in-process, once with --test and once sending to a socket on 127.0.0.1, so the functions
 * of both paths are in it. It starts with a copy of the bundle's bytes: bin/fwknop uses it only
 * for the bundle it was made from (V8 itself checks no more than the source's length).
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
const BUNDLE = join(REPO, "dist", "fwknop.js");
const CACHE = `${BUNDLE}c`;

interface LoadedClient {
  source: Buffer;
  script: import("node:vm").Script;
  exports: typeof import("../src/cli/fwknop.js");
}

function bundle(): void {
  rmSync(CACHE, { force: true });
  buildSync({
    entryPoints: [join(REPO, "src", "cli", "fwknop.ts")],
    outfile: BUNDLE,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    // Keep the bundle ASCII, so reading it as latin1 gives back the very text esbuild wrote.
    charset: "ascii",
    banner: { js: "(function (exports, require, module, __filename, __dirname) {" },
    footer: { js: "})" },
    logLevel: "warning",
  });
}

/** One knock with --test and one sent to a local socket, output discarded. */
async function exercise(client: LoadedClient): Promise<void> {
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
      if (code !== 0) throw new Error(`the client exited ${code} with ${args.join(" ")}`);
    }
  } finally {
    listener.close();
    rmSync(home, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  bundle();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadClient } = require("../bin/fwknop") as { loadClient: () => LoadedClient };
  const client = loadClient();
  await exercise(client);
  writeFileSync(CACHE, Buffer.concat([client.source, client.script.createCachedData()]));
}

main().catch((e: unknown) => {
  console.error("build-client:", e);
  process.exitCode = 1;
});
