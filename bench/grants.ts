/**
 * Sustained grant rate and loss: valid SPA from distinct source addresses (allow IP = source, so
 * each is its own grant), offered at a fixed rate, each grant verified by a real TCP connect from
 * its own address. Two phases per daemon:
 *   offered  --rate (default 1,000/s) for --seconds (default 2): how many are lost (goal: none);
 *   burst    --burst-rate (default 5,000/s, --burst-n grants): the rate grants actually open at,
 *            (grants opened) / (last open - first send) (goal: >= 2,000/s).
 * A grant not open --deadline-ms (default 8,000) after the last send is lost. Opening times come
 * from polling connects (32 in flight, round robin), so they carry a few ms to ~100 ms of delay.
 *   node --import tsx bench/grants.ts [--rate=1000] [--seconds=2] [--burst-n=3000] [--only=...]
 */
import {
  eachVariant,
  pickVariants,
  withBenchRig,
  type Ctx,
  type GrantRun,
} from "./lib/bench-rig.js";
import { benchKeys, validSpa } from "./lib/packets.js";
import {
  header,
  numFlag,
  parseFlags,
  percentile,
  runBench,
  table,
  type Row,
} from "./lib/report.js";

interface Phase {
  offered: number;
  sent: number;
  opened: number;
  lost: number;
  /** Grants opened per second between the first send and the last open. */
  rate: number;
  p50: number;
  p90: number;
  daemonLogged: number;
}

function summarise(run: GrantRun, offered: number, daemonLogged: number): Phase {
  const sent = run.sentMs.filter((s) => s !== null).length;
  const delays: number[] = [];
  let last = 0;
  for (let i = 0; i < run.openMs.length; i++) {
    const o = run.openMs[i];
    const s = run.sentMs[i];
    if (o === null || o === undefined || s === null || s === undefined) continue;
    delays.push(o - s);
    last = Math.max(last, o);
  }
  const first = Math.min(...run.sentMs.filter((s): s is number => s !== null));
  return {
    offered,
    sent,
    opened: delays.length,
    lost: run.openMs.length - delays.length,
    rate: delays.length > 0 ? delays.length / ((last - first) / 1000) : 0,
    p50: percentile(delays, 50),
    p90: percentile(delays, 90),
    daemonLogged,
  };
}

async function phase(
  { b, v, d, keys }: Ctx,
  port: number,
  sources: readonly string[],
  rate: number,
  deadlineMs: number,
): Promise<Phase> {
  const grantLine = v.daemon === "c" ? /Added access rule/ : /Added access for user/;
  const before = d.countLog(grantLine);
  const items = sources.map((from) => ({ from, wire: validSpa(keys, from, port) }));
  const udp0 = await b.serverUdp();
  const cpu0 = d.stats().cpuSecs;
  const run = await b.grants(port, items, rate, deadlineMs);
  const udp1 = await b.serverUdp();
  const st = d.stats();
  const p = summarise(run, rate, d.countLog(grantLine) - before);
  console.log(
    `${v.label.padEnd(28)} offered ${rate}/s x ${items.length}: sent ${p.sent}, opened ${p.opened}, lost ${p.lost}, ${p.rate.toFixed(0)} grants/s, send->open p50 ${p.p50.toFixed(1)} ms p90 ${p.p90.toFixed(1)} ms`,
  );
  console.log(
    `${"".padEnd(28)} daemon logged ${p.daemonLogged} grants; server UDP: ${udp1.inDatagrams - udp0.inDatagrams} delivered, ${udp1.rcvbufErrors - udp0.rcvbufErrors} dropped (receive buffer full); daemon CPU ${(st.cpuSecs - cpu0).toFixed(2)} s, RSS ${(st.rssKb / 1024).toFixed(0)} MB; ${run.attempts} verify connects`,
  );
  return p;
}

runBench(async () => {
  const flags = parseFlags();
  const rate = numFlag(flags, "rate", 1000);
  const seconds = numFlag(flags, "seconds", 2);
  const burstRate = numFlag(flags, "burst-rate", 5000);
  const burstN = numFlag(flags, "burst-n", 3000);
  const deadlineMs = numFlag(flags, "deadline-ms", 8000);
  const variants = pickVariants(flags.get("only"));
  const n = Math.round(rate * seconds);
  header(
    `bench:grants — ${n} grants offered at ${rate}/s, then ${burstN} at ${burstRate}/s, each verified by a TCP connect from its own address`,
  );
  const keys = benchKeys();
  const results = await withBenchRig(async (b) => {
    const sources = await b.ensureSources(Math.max(n, burstN));
    return eachVariant(b, variants, keys, [2, 3], flags, async (ctx, [p1, p2]) => ({
      offered: await phase(ctx, p1 ?? 0, sources.slice(0, n), rate, deadlineMs),
      burst: await phase(ctx, p2 ?? 0, sources.slice(0, burstN), burstRate, deadlineMs),
    }));
  });

  const c = results.get("c-ipt");
  for (const ours of ["ours-nft", "ours-ipt"] as const) {
    const o = results.get(ours);
    if (o === undefined) continue;
    const goals = ours === "ours-nft";
    const rows: Row[] = [
      {
        metric: `lost of ${n} offered at ${rate}/s`,
        ours: o.offered.lost,
        ref: c?.offered.lost ?? null,
        digits: 0,
        goal: goals ? { text: "0", met: (x) => x === 0 } : null,
      },
      { metric: "  send->open p50 ms", ours: o.offered.p50, ref: c?.offered.p50 ?? null },
      { metric: "  send->open p90 ms", ours: o.offered.p90, ref: c?.offered.p90 ?? null },
      {
        metric: `grants/s, ${burstN} offered at ${burstRate}/s`,
        ours: o.burst.rate,
        ref: c?.burst.rate ?? null,
        digits: 0,
        goal: goals ? { text: ">= 2,000", met: (x) => x >= 2000 } : null,
      },
      { metric: "  lost in the burst", ours: o.burst.lost, ref: c?.burst.lost ?? null, digits: 0 },
    ];
    table(`Grant rate: ${ours} vs C fwknopd (iptables)`, "C fwknopd", rows);
  }
});
