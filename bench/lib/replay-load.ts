/**
 * Child process of bench/replay.ts (a fresh process, so RSS is this loader's alone): load a
 * digest.cache with our ReplayCache, then time lookups of present and absent digests.
 *   node --import tsx bench/lib/replay-load.ts FILE  ->  {"loadMs","loaded","rssMb","heapMb","hitNs","missNs"}
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { ReplayCache } from "../../src/server/replay/replay-cache.js";

const file = process.argv[2] ?? "";
const present = readFileSync(file, "latin1")
  .split("\n", 20_001)
  .filter((l) => l !== "" && !l.startsWith("#"))
  .map((l) => l.slice(0, l.indexOf(" ")));
const absent = Array.from({ length: 20_000 }, () =>
  randomBytes(32).toString("base64").slice(0, 43),
);
const cache = new ReplayCache({
  path: file,
  retentionSecs: 300,
  nowSecs: () => Math.floor(Date.now() / 1000),
});
const t0 = performance.now();
const st = cache.open();
const loadMs = performance.now() - t0;

function perLookupNs(keys: readonly string[], want: boolean): number {
  const rounds = 50;
  let n = 0;
  const t = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++)
    for (const k of keys) {
      if (cache.has(k) !== want) throw new Error(`lookup of ${k} gave ${String(!want)}`);
      n++;
    }
  return Number(process.hrtime.bigint() - t) / n;
}
perLookupNs(present, true); // warm-up
const hitNs = perLookupNs(present, true);
const missNs = perLookupNs(absent, false);
const mem = process.memoryUsage();
cache.close();
process.stdout.write(
  `${JSON.stringify({ loadMs, loaded: st.loaded, rssMb: mem.rss / 2 ** 20, heapMb: mem.heapUsed / 2 ** 20, hitNs, missNs })}\n`,
);
