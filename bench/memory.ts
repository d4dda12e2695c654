/**
 * RSS of fwknopd under a long junk flood (design.md: "RSS growth under 5 MB per million junk
 * datagrams after warm-up"). Our daemon runs with the UDP server in the rig's server namespace in
 * --test mode (junk never reaches a firewall, so none is touched); junk is sent from the client
 * namespace in paced batches, and what the daemon's socket took in is counted from
 * /proc/net/snmp (InDatagrams; RcvbufErrors are the datagrams dropped unread). After a warm-up,
 * VmRSS (/proc/PID/status) is read at every step up to the total. Bounded: each batch is at most
 * --rate x a few seconds, the whole run at most --total datagrams delivered (or 40 batches).
 *   node --import tsx bench/memory.ts [--total=1000000] [--step=100000] [--warmup=100000]
 *     [--rate=40000 (0: as fast as two blasters go)] [--junk=spa|short|mixed] [--firewall]
 *     [--node-flags="..." (default: the shipped DAEMON_NODE_FLAGS; empty for none)] [--c]
 * --firewall: without -t, on nftables (junk reaches no firewall either way). --junk: spa = SPA-shaped, wrong HMAC (each costs an HMAC and a budgeted log line); short =
 * 18-byte datagrams refused by size; mixed = both. --c runs C fwknopd 2.6.10 the same way after
 * ours (iptables, inside the rig). --single also runs ours with PRIVSEP N. With privilege
 * separation the RSS is the sum of the broker's and the packet parser's.
 */
import { readFileSync } from "node:fs";
import { SERVER_IP } from "../test/e2e/rig.js";
import {
  SPA_PORT,
  VARIANTS,
  nodeFlagsOption,
  processTree,
  withBenchRig,
  type BenchDaemon,
  type BenchRig,
} from "./lib/bench-rig.js";
import { benchKeys, junkLike, validSpa } from "./lib/packets.js";
import { fmt, grid, header, numFlag, parseFlags, runBench, sleep } from "./lib/report.js";

interface Sample {
  /** Datagrams the daemon's socket took in since it started (null: the start itself). */
  delivered: number | null;
  dropped: number;
  rssMb: number;
  /** RssAnon: the daemon's own pages (VmRSS also counts node's binary and libraries, shared). */
  anonMb: number;
}

/** At most this many batches, whatever the flags say. */
const MAX_BATCHES = 40;

function junkOf(kind: string, like: string): Buffer[] {
  const spa = junkLike(like, 512);
  const short = Array.from({ length: 64 }, (_, i) =>
    Buffer.from(`junk-${String(i).padStart(13, "0")}`),
  );
  if (kind === "spa") return spa;
  if (kind === "short") return short;
  if (kind === "mixed") return [...spa, ...short];
  throw new Error(`--junk: expected spa, short or mixed, got '${kind}'`);
}

/** RSS of the daemon's processes (with PRIVSEP, the broker plus the packet parser). */
function memoryOf(pid: number): { rssMb: number; anonMb: number } {
  let rssMb = 0;
  let anonMb = 0;
  for (const p of processTree(pid)) {
    const st = readFileSync(`/proc/${p}/status`, "latin1");
    const kb = (k: string): number =>
      Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(st)?.[1] ?? 0);
    rssMb += kb("VmRSS") / 1024;
    anonMb += kb("RssAnon") / 1024;
  }
  return { rssMb, anonMb };
}

/** Send one paced batch (or, with rate 0, one second of two blasters as fast as they go). */
async function sendBatch(b: BenchRig, junk: readonly Buffer[], rate: number, left: number) {
  if (rate === 0) await b.blast(junk, 0, 1, 2);
  else
    await b.rig.sendUdpRate(SERVER_IP, SPA_PORT, junk, {
      rate,
      seconds: Math.min(10, Math.max(0.2, left / rate)),
    });
  // Let the daemon read what is queued before its memory is read.
  await sleep(300);
}

/** Junk until the daemon's socket has taken in `total` datagrams; a sample at start and each step. */
async function flood(
  b: BenchRig,
  d: BenchDaemon,
  junk: readonly Buffer[],
  opts: { rate: number; warmup: number; step: number; total: number },
): Promise<Sample[]> {
  const udp0 = await b.serverUdp();
  const samples: Sample[] = [{ delivered: null, dropped: 0, ...memoryOf(d.pid) }];
  let next = opts.warmup;
  for (let batch = 0; batch < MAX_BATCHES && next <= opts.total; batch++) {
    const u = await b.serverUdp();
    const left = next - (u.inDatagrams - udp0.inDatagrams);
    if (left > 0) await sendBatch(b, junk, opts.rate, left);
    const now = await b.serverUdp();
    const delivered = now.inDatagrams - udp0.inDatagrams;
    if (delivered < next) continue;
    const s = { delivered, dropped: now.rcvbufErrors - udp0.rcvbufErrors, ...memoryOf(d.pid) };
    samples.push(s);
    console.log(`  ${fmt(delivered, 0)} taken in: VmRSS ${s.rssMb.toFixed(1)} MB`);
    while (next <= delivered) next += opts.step;
  }
  return samples;
}

/** The table; returns the VmRSS growth from the first sample after warm-up to the last. */
function report(label: string, samples: readonly Sample[]): number {
  const base = samples[1]?.rssMb ?? NaN;
  grid(
    `${label}: memory from the start, growth counted from the warm-up`,
    ["junk taken in", "dropped unread", "VmRSS MB", "RssAnon MB", "VmRSS growth since warm-up MB"],
    samples.map((s, i) => [
      s.delivered === null ? "start" : fmt(s.delivered, 0),
      fmt(s.dropped, 0),
      s.rssMb.toFixed(1),
      s.anonMb.toFixed(1),
      i === 0 ? "" : (s.rssMb - base).toFixed(1),
    ]),
  );
  return (samples.at(-1)?.rssMb ?? NaN) - base;
}

runBench(async () => {
  const flags = parseFlags();
  const total = Math.min(5_000_000, numFlag(flags, "total", 1_000_000));
  const step = Math.max(10_000, numFlag(flags, "step", 100_000));
  const warmup = numFlag(flags, "warmup", 100_000);
  const asked = numFlag(flags, "rate", 40_000);
  const rate = asked === 0 ? 0 : Math.min(200_000, Math.max(1000, asked));
  const kind = flags.get("junk") ?? "spa";
  const firewall = flags.has("firewall");
  const nodeFlags = nodeFlagsOption(flags);
  header(
    `bench:memory — RSS of fwknopd${firewall ? "" : " -t"} under ${fmt(total, 0)} junk datagrams (${kind}), ${rate === 0 ? "as fast as it goes" : `${fmt(rate, 0)}/s`}, warm-up ${fmt(warmup, 0)}, node flags: ${nodeFlags.length > 0 ? nodeFlags.join(" ") : "none"}`,
  );
  const keys = benchKeys();
  const junk = junkOf(kind, validSpa(keys, "198.18.0.2", 2001));
  const opts = { rate, warmup, step, total };
  const variants = VARIANTS.filter(
    (v) =>
      v.name === "ours-nft" ||
      (flags.has("single") && v.name === "ours-nft-single") ||
      (flags.has("c") && v.name === "c-ipt"),
  );
  const growth = await withBenchRig(async (b) => {
    const out: Array<[string, number]> = [];
    for (const v of variants) {
      const d = await b.startDaemon(v, keys, [2001], { testMode: !firewall, nodeFlags });
      try {
        console.log(`\n${v.label}: started`);
        out.push([v.label, report(v.label, await flood(b, d, junk, opts))]);
      } finally {
        await d.stop();
      }
    }
    return out;
  });
  for (const [label, g] of growth)
    console.log(
      `${label}: RSS growth from warm-up to ${fmt(total, 0)}: ${g.toFixed(1)} MB (goal < 5 MB: ${g < 5 ? "met" : "NOT met"})`,
    );
});
