/**
 * REPLAY_STORE redis against the local file, on the two-gateway rig of the e2e test
 * (test/e2e/redis-gateways.ts: gateways in namespaces, redis-server in the client namespace).
 *   latency  --n knocks one at a time to gateway A, first with REPLAY_STORE file, then redis
 *            (same run, same rig): SPA sent -> "Added access" line read from the daemon's
 *            output. Includes the agent's IPC and the log pipe, the same for both stores.
 *   rate     --rate (default 1,000/s) distinct packets for --seconds, half to A and half to B
 *            (both on redis): grants and grants/s (grants / (last grant - first send)).
 *   both     the same packets, each sent to both gateways at --rate each: each must be granted
 *            exactly once (the other gateway says replay).
 *   node --import tsx bench/redis.ts [--n=300] [--rate=1000] [--seconds=3]
 */
import { performance } from "node:perf_hooks";
import { SERVER_IP, waitFor } from "../test/e2e/rig.js";
import { B_IP, RedisGateways, wire } from "../test/e2e/redis-gateways.js";
import type { TsFwknopd } from "../test/e2e/ts-fwknopd.js";
import { header, numFlag, parseFlags, percentile } from "./lib/report.js";

const SPA = 62201;
const BASE = "ENABLE_UDP_SERVER Y;\nFW_ACCESS_TIMEOUT 60;\n";
const grants = (d: TsFwknopd): number => (d.logs().match(/Added access for user/g) ?? []).length;

/** Arrival times (performance.now) of each new grant line in a daemon's output. */
function grantClock(d: TsFwknopd): () => number[] {
  const times: number[] = [];
  let seen = 0;
  const timer = setInterval(() => {
    const n = grants(d);
    for (; seen < n; seen++) times.push(performance.now());
  }, 1);
  return () => {
    clearInterval(timer);
    return times;
  };
}

async function latency(g: RedisGateways, conf: string, n: number): Promise<number[]> {
  const d = g.gateway("a", BASE + conf);
  await d.start();
  if (conf.includes("redis")) await d.waitForLog(/: connected/, 10_000);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const before = grants(d);
      const w = wire();
      const t0 = performance.now();
      await g.rig.sendUdp(SERVER_IP, SPA, w);
      await waitFor(() => grants(d) > before, 5000, 0.2);
      out.push(performance.now() - t0);
    }
  } finally {
    await d.stop();
    d.cleanup();
  }
  return out;
}

async function rate(g: RedisGateways, r: number, seconds: number, both: boolean): Promise<void> {
  const redis = (w: "a" | "b") =>
    `${BASE}REPLAY_STORE redis;\nREDIS_URL ${g.url(w)};\nREDIS_KEY_PREFIX bench${both ? "2" : "1"}:;\n`;
  const a = g.gateway("a", redis("a"));
  const b = g.gateway("b", redis("b"));
  await Promise.all([a.start(), b.start()]);
  await Promise.all([a.waitForLog(/: connected/, 10_000), b.waitForLog(/: connected/, 10_000)]);
  try {
    const total = Math.round(r * seconds);
    const packets = Array.from({ length: total }, wire);
    const [toA, toB] = both
      ? [packets, packets]
      : [packets.filter((_, i) => i % 2 === 0), packets.filter((_, i) => i % 2 === 1)];
    const clocks = [grantClock(a), grantClock(b)];
    const t0 = performance.now();
    const each = both ? r : r / 2;
    await Promise.all([
      g.rig.sendUdpRate(SERVER_IP, SPA, toA, { rate: each, seconds }),
      g.rig.sendUdpRate(B_IP, SPA, toB, { rate: each, seconds }),
    ]);
    await waitFor(() => grants(a) + grants(b) >= total, 15_000);
    await new Promise((res) => setTimeout(res, 1000));
    const times = clocks.flatMap((c) => c());
    const last = Math.max(...times);
    const logs = a.logs() + b.logs();
    const replays = logs.match(/Replay detected/g)?.length ?? 0;
    const down = logs.match(/Redis replay store unavailable/g)?.length ?? 0;
    const why = new Map<string, number>();
    for (const m of logs.matchAll(
      /Redis replay store unavailable \((no answer|\d+ claims already waiting|[^)]*)/g,
    )) {
      const k = (m[1] ?? "?").replace(/^\d+ claims/, "N claims");
      why.set(k, (why.get(k) ?? 0) + 1);
    }
    console.log(
      `${both ? "each packet to both" : "half to A, half to B"}: offered ${total} packets at ${r}/s${both ? " to each gateway" : " in all"}; granted A ${grants(a)} + B ${grants(b)} = ${grants(a) + grants(b)}; replays refused ${replays}; refused with Redis unavailable (REDIS_FAIL closed) ${down}${why.size > 0 ? ` (${[...why].map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""}; ${((grants(a) + grants(b)) / ((last - t0) / 1000)).toFixed(0)} grants/s (first send to last grant)`,
    );
  } finally {
    await Promise.allSettled([a.stop(), b.stop()]);
    a.cleanup();
    b.cleanup();
  }
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const n = numFlag(flags, "n", 300);
  const r = numFlag(flags, "rate", 1000);
  const seconds = numFlag(flags, "seconds", 3);
  header("REPLAY_STORE redis vs file: grant latency, and grants through two gateways");
  const g = new RedisGateways();
  await g.setUp();
  try {
    const file = await latency(g, "", n);
    const red = await latency(g, `REPLAY_STORE redis;\nREDIS_URL ${g.url("a")};\n`, n);
    for (const [name, xs] of [
      ["file ", file],
      ["redis", red],
    ] as const)
      console.log(
        `latency ${name}: n=${xs.length} p50 ${percentile(xs, 50).toFixed(2)} ms  p90 ${percentile(xs, 90).toFixed(2)} ms  p99 ${percentile(xs, 99).toFixed(2)} ms`,
      );
    await rate(g, r, seconds, false);
    await rate(g, r, seconds, true);
  } finally {
    await g.teardown();
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
