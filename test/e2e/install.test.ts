/**
 * fwknop-ts installed as a tool, the README's way: the tarball `npm pack` makes, given to
 * `npm install -g` with a prefix (a temporary one here), must give working `fwknop` and `fwknopd`
 * commands, man pages where `man` finds them, a loadable bash completion and the systemd unit,
 * with koffi and without any development dependency.
 *
 * Everything is written below one temporary directory: the tarball, the prefix, npm's cache (a
 * copy of the user's, so the install needs the registry only for what the user never fetched) and
 * npm's logs. `npm pack --ignore-scripts` packs the dist/ that `npm test` has just built, since
 * its prepack hook (`npm run build`) would write dist/ in this repository.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { FWKNOP_TS_VERSION } from "../../src/version.js";

const REPO = join(__dirname, "..", "..");
const TMP = mkdtempSync(join(tmpdir(), "fwkts-install-"));
const PREFIX = join(TMP, "prefix");
const PKG = join(PREFIX, "lib", "node_modules", "fwknop-ts");
const TARBALL = join(TMP, `fwknop-ts-${FWKNOP_TS_VERSION}.tgz`);

after(() => {
  rmSync(TMP, { recursive: true, force: true });
});

/** npm with its cache, logs and configuration kept in TMP, run from TMP (no project .npmrc). */
function npm(args: string[], cwd = TMP): string {
  return execFileSync("npm", args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      HOME: TMP,
      npm_config_cache: join(TMP, "cache"),
      npm_config_logs_dir: join(TMP, "logs"),
      npm_config_update_notifier: "false",
      npm_config_audit: "false",
      npm_config_fund: "false",
    },
  });
}

function run(file: string, args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(file, args, { encoding: "utf8", env: { ...process.env, HOME: TMP } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function which(program: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":"))
    if (dir !== "" && existsSync(join(dir, program))) return join(dir, program);
  return null;
}

before(() => {
  const userCache = join(homedir(), ".npm", "_cacache");
  if (existsSync(userCache)) cpSync(userCache, join(TMP, "cache", "_cacache"), { recursive: true });
  mkdirSync(join(TMP, "logs"));
  npm(["pack", "--ignore-scripts", "--pack-destination", TMP], REPO);
  // As the README says: --ignore-scripts skips koffi's install script, which would only check
  // that its prebuilt binary loads (package.json: allowScripts); the test below loads it.
  npm(["install", "-g", "--ignore-scripts", "--prefer-offline", "--prefix", PREFIX, TARBALL]);
});

describe("npm pack, then npm install -g", { timeout: 120_000 }, () => {
  it("packs what an install needs and nothing of the sources or tests", () => {
    const files = execFileSync("tar", ["-tzf", TARBALL], { encoding: "utf8" }).split("\n");
    for (const f of [
      "package/bin/fwknop",
      "package/bin/fwknopd",
      "package/dist/fwknop.jsc",
      "package/dist/src/cli/fwknopd.js",
      "package/dist/src/server/sd-notify.js",
      "package/dist/man/fwknop.8",
      "package/dist/man/fwknopd.8",
      "package/dist/completion/fwknop",
      "package/dist/completion/fwknopd",
      "package/contrib/systemd/fwknopd.service",
      "package/LICENSE",
      "package/README.md",
    ])
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    const stray = files.filter((f) =>
      /^package\/(src|test|scripts|bench|dist\/(test|bench|scripts))\//.test(f),
    );
    assert.deepEqual(stray, []);
  });

  it("gives fwknop and fwknopd commands that run", () => {
    const client = run(join(PREFIX, "bin", "fwknop"), ["--version"]);
    assert.equal(client.status, 0, client.err);
    assert.match(
      client.out,
      new RegExp(`fwknop client ${FWKNOP_TS_VERSION.replace(/\./g, "\\.")}`),
    );
    const server = run(join(PREFIX, "bin", "fwknopd"), ["--version"]);
    assert.equal(server.status, 0, server.err);
    assert.match(server.out, /^fwknopd server /);
    const keys = run(join(PREFIX, "bin", "fwknop"), ["--no-rc-file", "--key-gen"]);
    assert.equal(keys.status, 0, keys.err);
    assert.match(keys.out, /^KEY_BASE64:\s+\S{44}\nHMAC_KEY_BASE64:\s+\S{88}\n$/);
  });

  it("installs the runtime dependencies, koffi among them, and no development dependency", () => {
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as Record<
      "dependencies" | "optionalDependencies" | "devDependencies",
      Record<string, string> | undefined
    >;
    const names = (deps: Record<string, string> | undefined): string[] => Object.keys(deps ?? {});
    const runtime = [...names(pkg.dependencies), ...names(pkg.optionalDependencies)];
    assert.ok(runtime.includes("koffi"));
    for (const name of runtime)
      assert.ok(existsSync(join(PKG, "node_modules", name, "package.json")), `${name} missing`);
    for (const name of names(pkg.devDependencies))
      assert.ok(!existsSync(join(PKG, "node_modules", name)), `${name} installed`);
    const koffi = JSON.stringify(join(PKG, "node_modules", "koffi"));
    const loads = run(process.execPath, ["-e", `require(${koffi}).load("libc.so.6")`]);
    assert.equal(loads.status, 0, loads.err);
  });

  it("puts the man pages where man finds them, and they render", (t: TestContext) => {
    const dir = join(PREFIX, "share", "man", "man8");
    for (const page of ["fwknop.8", "fwknopd.8"])
      assert.ok(existsSync(join(dir, page)), `${page} is not in ${dir}`);
    if (which("man") === null) {
      t.skip("man is not installed (Debian package man-db)");
      return;
    }
    for (const command of ["fwknop", "fwknopd"]) {
      const found = run("man", ["-M", join(PREFIX, "share", "man"), "-w", command]);
      // man -w names the page npm linked there, as its target.
      assert.equal(found.out.trim(), realpathSync(join(dir, `${command}.8`)), found.err);
      assert.equal(found.out.trim(), join(PKG, "dist", "man", `${command}.8`));
      const shown = spawnSync("man", ["--warnings", "-l", join(dir, `${command}.8`)], {
        encoding: "utf8",
        env: { ...process.env, MANPAGER: "cat", MANWIDTH: "80" },
      });
      assert.equal(shown.status, 0);
      assert.equal(shown.stderr, "");
      assert.match(shown.stdout, new RegExp(`^${command.toUpperCase()}\\(8\\)`));
    }
  });

  it("ships a bash completion that loads for both commands, and the systemd unit", () => {
    for (const command of ["fwknop", "fwknopd"]) {
      const file = join(PKG, "dist", "completion", command);
      const r = run("bash", ["-c", 'source "$1" && complete -p fwknop fwknopd', "_", file]);
      assert.equal(r.status, 0, r.err);
      assert.equal(r.out, "complete -F _fwknop_ts fwknop\ncomplete -F _fwknop_ts fwknopd\n");
    }
    assert.ok(existsSync(join(PKG, "contrib", "systemd", "fwknopd.service")));
  });
});
