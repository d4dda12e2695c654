/**
 * contrib/systemd/fwknopd.service, checked by systemd's own tools without a running systemd:
 * `systemd-analyze verify` (unknown keys, bad values, missing programs) and `systemd-analyze
 * security --offline` (the sandbox's exposure score, quoted in the README). verify complains that
 * /usr/local/bin/fwknopd does not exist on a machine where fwknop-ts is not installed there, so
 * a copy with ExecStart pointed at this repository's bin/fwknopd must pass with no complaint at all,
 * and the unit itself may have that one complaint and no other. The unit's paths must be the
 * daemon's defaults, so that `fwknopd -S`, `-R` and `-K` find the daemon systemd started.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it, type TestContext } from "node:test";
import { VAR_BY_NAME } from "../../src/config/fwknopd-vars.js";
import { DAEMON_NODE_FLAGS } from "../../src/server/node-flags.js";

const REPO = join(__dirname, "..", "..");
const UNIT = join(REPO, "contrib", "systemd", "fwknopd.service");
const TEXT = readFileSync(UNIT, "utf8");
const ANALYZE = "/usr/bin/systemd-analyze";
const INSTALLED = "/usr/local/bin/fwknopd";
/** The README quotes the score; a change to the sandbox that raises it must be deliberate. */
const MAX_EXPOSURE = 3.0;

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** The unit, changed by `edit`, as fwknopd.service in a directory of its own. */
function copy(edit: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), "fwkts-unit-"));
  made.push(dir);
  const file = join(dir, "fwknopd.service");
  writeFileSync(file, edit(TEXT));
  return file;
}

const atRepo = (text: string): string =>
  text.replace(`ExecStart=${INSTALLED} `, `ExecStart=${join(REPO, "bin", "fwknopd")} `);

function analyze(
  t: TestContext,
  args: string[],
): { status: number | null; out: string; err: string } | null {
  if (!existsSync(ANALYZE)) {
    t.skip(`${ANALYZE} is not installed (Debian package systemd)`);
    return null;
  }
  const r = spawnSync(ANALYZE, args, {
    encoding: "utf8",
    env: { ...process.env, SYSTEMD_COLORS: "0" },
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** Every value of a key in the [Service] section (comments and other sections left out). */
function values(key: string): string[] {
  return TEXT.split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe("contrib/systemd/fwknopd.service", () => {
  it("passes systemd-analyze verify with ExecStart pointed at bin/fwknopd", (t) => {
    const r = analyze(t, ["verify", copy(atRepo)]);
    if (r === null) return;
    assert.equal(r.err, "");
    assert.equal(r.status, 0);
  });

  it("as shipped, verify's only complaint can be a missing /usr/local/bin/fwknopd", (t) => {
    const r = analyze(t, ["verify", UNIT]);
    if (r === null) return;
    const lines = r.err.split("\n").filter((l) => l !== "");
    const expected = existsSync(INSTALLED)
      ? []
      : [`fwknopd.service: Command ${INSTALLED} is not executable: No such file or directory`];
    assert.deepEqual(lines, expected);
  });

  it("verify does catch a misspelt key (the check above can fail)", (t) => {
    const r = analyze(t, [
      "verify",
      copy((s) => atRepo(s).replace("ProtectClock=yes", "ProtectClok=yes")),
    ]);
    if (r === null) return;
    assert.match(r.err, /Unknown key 'ProtectClok'/);
  });

  it(`scores an exposure of at most ${MAX_EXPOSURE} in systemd-analyze security`, (t) => {
    const r = analyze(t, ["security", "--offline=true", copy(atRepo)]);
    if (r === null) return;
    const m = /Overall exposure level for fwknopd\.service: ([0-9.]+)/.exec(r.out);
    assert.ok(m !== null, r.out + r.err);
    assert.ok(Number(m[1]) <= MAX_EXPOSURE, `exposure ${m[1]}`);
  });

  it("runs the daemon in the foreground, notifying, at the code's run directory", () => {
    assert.deepEqual(values("Type"), ["notify"]);
    assert.deepEqual(values("ExecStart"), [`${INSTALLED} -f`]);
    const runDir = VAR_BY_NAME.get("FWKNOP_RUN_DIR")?.def;
    assert.equal(runDir, `/var/run/${values("RuntimeDirectory").join("")}`);
    assert.deepEqual(values("RuntimeDirectoryPreserve"), ["yes"]);
    assert.deepEqual(values("Conflicts"), ["fwknop-server.service"]);
  });

  it("starts node with the daemon's flags (src/server/node-flags.ts)", () => {
    assert.deepEqual(values("Environment"), [`NODE_OPTIONS=${DAEMON_NODE_FLAGS.join(" ")}`]);
  });

  it("keeps MemoryDenyWriteExecute off (V8's JIT) and gives only the capabilities it needs", () => {
    assert.deepEqual(values("MemoryDenyWriteExecute"), []);
    assert.deepEqual(values("CapabilityBoundingSet"), [
      "CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID CAP_KILL",
    ]);
    assert.deepEqual(values("NoNewPrivileges"), ["yes"]);
    assert.deepEqual(values("ProtectSystem"), ["strict"]);
  });
});
