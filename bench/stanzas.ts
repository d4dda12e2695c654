/**
 * The stanza-count curve (issue 16): no key id travels on the wire, so each packet is tried
 * against every stanza whose SOURCE takes it, and junk costs one HMAC per such stanza. For each
 * daemon, stanza count and SOURCE layout, a daemon is started with that access.conf (the bench's
 * own stanza last) and measured twice:
 *   idle: --probes knocks one after another from fresh addresses, SPA sent -> TCP connect;
 *   junk: SPA-shaped junk (right length, wrong HMAC) from the client's main address at
 *         --junk-rate for --seconds, with --knocks valid knocks spread over it; a knock counts as
 *         honoured when its port opens within 1 s of sending (the goal: within a second or
 *         dropped), and the median wait of those that opened at all is given.
 * Junk taken in per CPU-second: datagrams delivered to the daemon's socket over the daemon's
 * CPU time (its whole process tree), as bench/flood.ts counts it, the better of the junk phase
 * and --max-seconds of two blasters as fast as they go. Ours drops unread what waited over
 * 500 ms, and while behind what comes from an address over its share (listen/udp-batch.ts,
 * source-share.ts), at next to no cost: those (its stale and shed counters, read from
 * METRICS_LISTEN) are not counted as rejected.
 *   node --import tsx bench/stanzas.ts [--counts=1,100,1000,10000] [--layouts=any,user]
 *     [--only=ours-ipt,c-ipt] [--junk-rate=2000] [--seconds=6] [--knocks=20] [--probes=15] [--max-seconds=3]
 */
import { SERVER_IP } from "../test/e2e/rig.js";
import {
  pickVariants,
  variantPort,
  withBenchRig,
  type BenchDaemon,
  type BenchRig,
} from "./lib/bench-rig.js";
import type { Variant } from "./lib/bench-rig.js";
import { benchKeys, junkLike, manyStanzas, validSpa, type BenchKeys } from "./lib/packets.js";
import { fmt, grid, header, median, numFlag, parseFlags, runBench, sleep } from "./lib/report.js";

interface Point {
  startMs: number;
  idleP50: number;
  idleLost: number;
  perCpuSec: number;
  delivered: number;
  honoured1s: number;
  opened: number;
  knocks: number;
  medianWait: number;
  /** Ours: datagrams of the junk phase dropped unread as stale. */
  stale: number;
}

interface Plan {
  junkRate: number;
  seconds: number;
  knocks: number;
  probes: number;
  maxSeconds: number;
}

const servicesUp = new Set<number>();
const METRICS_PORT = 9464;
/** Prints the daemon's (127.0.0.1:argv[1]) fwknopd_spa_rejected_total for "stale" and "shed". */
const STALE_SCRIPT = `fetch("http://127.0.0.1:" + process.argv[1] + "/metrics").then((r) => r.text()).then((t) => {
  let n = 0;
  for (const m of t.matchAll(/fwknopd_spa_rejected_total\\{reason="(?:stale|shed)"\\} (\\d+)/g)) n += Number(m[1]);
  console.log(n);
}, () => console.log("0"));`;

/** Datagrams our daemon dropped unread so far, stale or shed (0 for C's, which has no metrics). */
async function staleSoFar(b: BenchRig, v: Variant): Promise<number> {
  if (v.daemon !== "ours") return 0;
  const r = await b.rig.run(b.rig.serverNs, [
    process.execPath,
    "-e",
    STALE_SCRIPT,
    String(METRICS_PORT),
  ]);
  return Number(r.stdout.trim()) || 0;
}

/** Fresh knocking addresses for each measurement: a granted address would open at once. */
class Sources {
  private next = 0;
  constructor(private readonly all: readonly string[]) {}
  take(n: number): string[] {
    const out = this.all.slice(this.next, this.next + n);
    if (out.length < n) throw new Error("bench:stanzas ran out of source addresses");
    this.next += n;
    return out;
  }
}

async function measure(
  b: BenchRig,
  v: Variant,
  keys: BenchKeys,
  access: string,
  sources: Sources,
  plan: Plan,
): Promise<Point> {
  const port = variantPort(v, 7);
  if (!servicesUp.has(port)) await b.services([port], v.fw === "iptables");
  servicesUp.add(port);
  const t0 = performance.now();
  const d = await b.startDaemon(v, keys, [port], {
    access,
    grantSecs: 300,
    conf: `METRICS_LISTEN 127.0.0.1:${METRICS_PORT};`,
  });
  const startMs = performance.now() - t0;
  try {
    if (await b.rig.tcpConnect(SERVER_IP, port))
      throw new Error(`${v.label}: port ${port} is open before any SPA`);
    const probe = (n: number): { from: string; wire: string }[] =>
      sources.take(n).map((from) => ({ from, wire: validSpa(keys, from, port) }));
    const idle = await b.latency(port, probe(plan.probes), 3000);
    const idleOk = idle.filter((x): x is number => x !== null);
    const items = probe(plan.knocks);
    const junk = junkLike(items[0]?.wire ?? "", 512);
    const udp0 = await b.serverUdp();
    const stale0 = await staleSoFar(b, v);
    const st0 = d.stats();
    const rate = plan.knocks / Math.max(1, plan.seconds - 1.5);
    const run = sleep(500).then(() => b.grants(port, items, rate, 5000));
    await b.blast(junk, plan.junkRate, plan.seconds, 1);
    const r = await run;
    await sleep(300);
    const udp1 = await b.serverUdp();
    const cpu = d.stats().cpuSecs - st0.cpuSecs;
    const stale = (await staleSoFar(b, v)) - stale0;
    const delivered = udp1.inDatagrams - udp0.inDatagrams;
    const waits = r.openMs.flatMap((o, i) => {
      const sent = r.sentMs[i];
      return o === null || sent === null || sent === undefined ? [] : [o - sent];
    });
    const max = await saturated(b, v, d, junk, plan.maxSeconds);
    return {
      startMs,
      idleP50: idleOk.length > 0 ? median(idleOk) : NaN,
      idleLost: idle.length - idleOk.length,
      perCpuSec: Math.max(cpu > 0 ? (delivered - stale) / cpu : 0, max),
      stale,
      delivered,
      honoured1s: waits.filter((w) => w <= 1000).length,
      opened: waits.length,
      knocks: items.length,
      medianWait: waits.length > 0 ? median(waits) : NaN,
    };
  } finally {
    await d.stop();
  }
}

/**
 * Junk taken in per CPU-second with the daemon saturated: two blasters as fast as they go. At
 * 2,000/s a daemon with few stanzas is mostly idle, and its CPU is mostly fixed costs.
 */
async function saturated(
  b: BenchRig,
  v: Variant,
  d: BenchDaemon,
  junk: readonly Buffer[],
  seconds: number,
): Promise<number> {
  if (seconds <= 0) return 0;
  const udp0 = await b.serverUdp();
  const stale0 = await staleSoFar(b, v);
  const st0 = d.stats();
  await b.blast(junk, 0, seconds, 2);
  await sleep(300);
  const udp1 = await b.serverUdp();
  const cpu = d.stats().cpuSecs - st0.cpuSecs;
  const stale = (await staleSoFar(b, v)) - stale0;
  return cpu > 0 ? (udp1.inDatagrams - udp0.inDatagrams - stale) / cpu : 0;
}

function describe(p: Point): string {
  return `start ${fmt(p.startMs / 1000, 1)} s; idle p50 ${fmt(p.idleP50)} ms (${p.idleLost} lost); junk ${fmt(p.perCpuSec, 0)}/CPU-s (${p.delivered} in, ${p.stale} dropped unread); knocks ${p.honoured1s}/${p.knocks} within 1 s, ${p.opened} opened, median wait ${fmt(p.medianWait, 1)} ms`;
}

runBench(async () => {
  const flags = parseFlags();
  const counts = (flags.get("counts") ?? "1,100,1000,10000").split(",").map(Number);
  const layouts = (flags.get("layouts") ?? "any,user").split(",");
  const variants = pickVariants(flags.get("only") ?? "ours-ipt,c-ipt");
  const plan: Plan = {
    junkRate: numFlag(flags, "junk-rate", 2000),
    seconds: Math.max(3, Math.min(60, numFlag(flags, "seconds", 6))),
    knocks: Math.min(200, numFlag(flags, "knocks", 20)),
    probes: Math.min(200, numFlag(flags, "probes", 15)),
    maxSeconds: Math.min(30, numFlag(flags, "max-seconds", 3)),
  };
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 20_000))
    throw new Error("--counts: stanza counts from 1 to 20,000");
  header(
    `bench:stanzas — stanzas ${counts.join(", ")} (${layouts.join(", ")}); idle: ${plan.probes} knocks; junk ${plan.junkRate}/s for ${plan.seconds} s with ${plan.knocks} knocks`,
  );
  const keys = benchKeys();
  const rows: string[][] = [];
  await withBenchRig(async (b) => {
    const runs = counts.length * layouts.length * variants.length;
    const sources = new Sources(await b.ensureSources(runs * (plan.probes + plan.knocks)));
    for (const layout of layouts)
      for (const n of counts) {
        const cells: string[] = [
          layout === "user" ? "per-user /24" : "ANY",
          n.toLocaleString("en"),
        ];
        for (const v of variants) {
          const access = manyStanzas(keys, [variantPort(v, 7)], 300, n, layout === "user");
          const p = await measure(b, v, keys, access, sources, plan);
          console.log(`${v.label.padEnd(28)} ${String(n).padStart(5)} ${layout}: ${describe(p)}`);
          cells.push(
            fmt(p.idleP50, 1),
            fmt(p.perCpuSec, 0),
            `${p.honoured1s}/${p.knocks}, ${fmt(p.medianWait, 0)} ms`,
          );
        }
        rows.push(cells);
      }
  });
  const head = ["SOURCE", "stanzas"];
  for (const v of variants)
    head.push(
      `${v.name} idle p50 ms`,
      `${v.name} junk/CPU-s`,
      `${v.name} knocks <= 1 s, median wait`,
    );
  grid(
    `Stanza count curve at ${plan.junkRate} junk/s (knocks honoured within 1 s of ${plan.knocks}; median wait of those that opened)`,
    head,
    rows,
  );
});
