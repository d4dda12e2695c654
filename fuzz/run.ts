/**
 * npm run fuzz: every target (or --target=NAME) for --seconds each, from its seed corpus, with a
 * table of executions, coverage features and findings. A finding is written to
 * fuzz/findings/<target>/ and makes the exit status 1; once fixed, move it to
 * fuzz/regressions/<target>/, which `npm test` replays (test/unit/fuzz.test.ts).
 *   node --import tsx fuzz/run.ts [--target=spa-wire] [--seconds=60] [--seed=N]
 */
import { join } from "node:path";
import { fuzz, loadCorpus } from "./engine.js";
import { TARGETS, targetByName } from "./targets.js";

function flag(name: string): string | undefined {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

const seconds = Number(flag("seconds") ?? "30");
const seed = Number(flag("seed") ?? String(Date.now() % 1_000_000));
const chosen = flag("target");
const targets = chosen === undefined ? TARGETS : [targetByName(chosen)];
let found = 0;
console.log(`fuzz: ${targets.length} target(s), ${seconds} s each, seed ${seed}`);
console.log("target        | seconds | execs     | execs/s | corpus | features | findings");
for (const t of targets) {
  const s = fuzz(t, {
    seeds: loadCorpus(join(__dirname, "corpus", t.name)),
    seconds,
    seed,
    findingsDir: join(__dirname, "findings"),
  });
  found += s.findings.length;
  console.log(
    `${t.name.padEnd(13)} | ${s.seconds.toFixed(0).padStart(7)} | ${String(s.execs).padStart(9)} | ${(s.execs / s.seconds).toFixed(0).padStart(7)} | ${String(s.corpus).padStart(6)} | ${String(s.features).padStart(8)} | ${s.findings.length}`,
  );
  for (const f of s.findings) console.log(`  finding: ${f.file}: ${f.error}`);
}
process.exitCode = found > 0 ? 1 : 0;
