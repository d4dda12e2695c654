/**
 * The fuzz harness in CI: a short coverage-guided run of every target from its seed corpus (the
 * long runs are `npm run fuzz` by hand), and every input in fuzz/regressions/ run once more.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fuzz, loadCorpus, runOne } from "../../fuzz/engine.js";
import { TARGETS } from "../../fuzz/targets.js";

const FUZZ = join(__dirname, "..", "..", "fuzz");
const findings = mkdtempSync(join(tmpdir(), "fuzz-findings-"));
after(() => {
  rmSync(findings, { recursive: true, force: true });
});

describe("fuzz targets (short run)", () => {
  for (const t of TARGETS)
    it(`${t.name}: its seeds run clean and 1.5 s of mutations find nothing`, () => {
      const seeds = loadCorpus(join(FUZZ, "corpus", t.name));
      assert.ok(
        seeds.length > 0,
        `no seed corpus for ${t.name} (node --import tsx fuzz/make-seeds.ts)`,
      );
      const s = fuzz(t, { seeds, seconds: 1.5, seed: 7, findingsDir: findings });
      assert.deepEqual(
        s.findings.map((f) => f.error),
        [],
        `${t.name}: ${s.findings.map((f) => f.file).join(", ")}`,
      );
      assert.ok(s.execs > seeds.length, "the fuzzer ran no mutation");
      assert.ok(s.features > 0, "no coverage was read");
    });

  it("every saved regression input runs clean", () => {
    for (const t of TARGETS) {
      const dir = join(FUZZ, "regressions", t.name);
      let files: string[] = [];
      try {
        files = readdirSync(dir).filter((f) => !f.endsWith(".txt"));
      } catch {
        continue; // none saved for this target
      }
      for (const f of files)
        assert.equal(runOne(t, readFileSync(join(dir, f)), 1000), null, `${t.name}/${f}`);
    }
  });
});
