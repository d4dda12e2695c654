/**
 * Child process of bench/replay.ts (a fresh process, so RSS is this loader's alone): load a
 * digest.cache with our ReplayCache, then time lookups of present and absent digests.
 *   node --import tsx bench/lib/replay-load.ts FILE  ->  {"loadMs","loaded","rssMb","heapMb","hitNs","missNs"}
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { ReplayCache } from "../../src/server/replay/replay-cache.js";

const file = process.argv[2] ?? "";
// The first 4 MB are enough for 20,000 keys; reading the whole file here would count its 90 MB
// in this process's RSS, which is meant to be the loader's alone.
const head = Buffer.alloc(4 << 20);
const fd = openSync(file, "r");
const got = readSync(fd, head, 0, head.length, 0);
closeSync(fd);
const present = head
  .subarray(0, got)
  .toString("latin1")
  .split("\n", 20_001)
  .slice(0, 20_000)
  .filter((l) => l !== "" && !l.startsWith("#"))
  .map((l) => l.slice(0, l.indexOf(" ")));
const absent = Array.from({ length: 20_000 }, () =>
  randomBytes(32).toString("base64").slice(0, 43),
);
const cache = new ReplayCache({ path: file, nowSecs: () => Math.floor(Date.now() / 1000) });
const t0 = performance.now();
const st = cache.open(300);
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
