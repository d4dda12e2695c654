/**
 * Valid SPA during a junk flood, and how fast junk is rejected. Junk is SPA-shaped (right length
 * and charset, wrong HMAC), sent from the client's main address by blaster processes; meanwhile
 * one valid SPA every 100 ms from its own address, each verified afterwards by a TCP connect from
 * that address. Two phases per daemon: --junk-rate (default 20,000/s), then as fast as
 * --blasters (default 2) processes can send. Junk rejected per second of daemon CPU is counted
 * from outside: datagrams delivered to the server namespace's UDP sockets (/proc/net/snmp; the
 * daemon's is the only one) over the daemon's utime+stime (/proc/PID/stat).
 *   node --import tsx bench/flood.ts [--seconds=5] [--junk-rate=20000] [--blasters=2] [--only=...]
 */
import { eachVariant, pickVariants, withBenchRig, type Ctx } from "./lib/bench-rig.js";
import { benchKeys, junkLike, validSpa } from "./lib/packets.js";
import { header, numFlag, parseFlags, runBench, sleep, table, type Row } from "./lib/report.js";

interface Phase {
  junkSent: number;
  junkRate: number;
  valid: number;
  honoured: number;
  delivered: number;
  dropped: number;
  cpuSecs: number;
  /** Datagrams the daemon took in per second of its own CPU time. */
  perCpuSec: number;
  rssBeforeMb: number;
  rssAfterMb: number;
}

async function phase(
  { b, v, d, keys }: Ctx,
  port: number,
  sources: readonly string[],
  junkRate: number,
  blasters: number,
  seconds: number,
): Promise<Phase> {
  const items = sources.map((from) => ({ from, wire: validSpa(keys, from, port) }));
  const junk = junkLike(items[0]?.wire ?? "", 512);
  const udp0 = await b.serverUdp();
  const st0 = d.stats();
  // The valid ones start a moment after the flood does and end before it.
  const validRun = sleep(500).then(() => b.grants(port, items, items.length / (seconds - 1), 8000));
  const junkSent = await b.blast(junk, junkRate, seconds, blasters);
  const run = await validRun;
  await sleep(500);
  const udp1 = await b.serverUdp();
  const st1 = d.stats();
  const delivered = udp1.inDatagrams - udp0.inDatagrams;
  const cpuSecs = st1.cpuSecs - st0.cpuSecs;
  const p: Phase = {
    junkSent,
    junkRate: junkSent / seconds,
    valid: items.length,
    honoured: run.openMs.filter((o) => o !== null).length,
    delivered,
    dropped: udp1.rcvbufErrors - udp0.rcvbufErrors,
    cpuSecs,
    perCpuSec: cpuSecs > 0 ? delivered / cpuSecs : NaN,
    rssBeforeMb: st0.rssKb / 1024,
    rssAfterMb: st1.rssKb / 1024,
  };
  console.log(
    `${v.label.padEnd(28)} junk ${p.junkSent} sent (${Math.round(p.junkRate)}/s): valid honoured ${p.honoured}/${p.valid}; server UDP ${p.delivered} delivered, ${p.dropped} dropped; daemon CPU ${p.cpuSecs.toFixed(2)} s -> ${Math.round(p.perCpuSec)} datagrams per CPU-second; RSS ${p.rssBeforeMb.toFixed(0)} -> ${p.rssAfterMb.toFixed(0)} MB`,
  );
  return p;
}

runBench(async () => {
  const flags = parseFlags();
  const seconds = Math.max(2, Math.min(120, numFlag(flags, "seconds", 5)));
  const junkRate = numFlag(flags, "junk-rate", 20_000);
  const blasters = Math.max(1, Math.min(8, numFlag(flags, "blasters", 2)));
  const variants = pickVariants(flags.get("only"));
  const nValid = Math.round((seconds - 1) * 10);
  header(
    `bench:flood — ${seconds} s of SPA-shaped junk at ${junkRate}/s, then as fast as ${blasters} blaster(s) go; ${nValid} valid SPA during each`,
  );
  const keys = benchKeys();
  const results = await withBenchRig(async (b) => {
    const sources = await b.ensureSources(2 * nValid);
    const early = sources.slice(0, nValid);
    const late = sources.slice(nValid);
    return eachVariant(b, variants, keys, [4, 5], flags, async (ctx, [p1, p2]) => ({
      fixed: await phase(ctx, p1 ?? 0, early, junkRate, 1, seconds),
      max: await phase(ctx, p2 ?? 0, late, 0, blasters, seconds),
    }));
  });

  const c = results.get("c-ipt");
  const pct = (p: Phase): number => (100 * p.honoured) / p.valid;
  // The default configuration (kernel meter on) is judged on valid SPA honoured; the daemon's
  // own junk rate only where junk reaches it, with the meter off.
  for (const ours of ["ours-nft", "ours-nft-nometer", "ours-ipt"] as const) {
    const o = results.get(ours);
    if (o === undefined) continue;
    const honourGoals = ours === "ours-nft";
    const junkGoals = ours === "ours-nft-nometer";
    const rows: Row[] = [
      {
        metric: `valid honoured % at ${junkRate} junk/s`,
        ours: pct(o.fixed),
        ref: c ? pct(c.fixed) : null,
        digits: 1,
        goal: honourGoals ? { text: "100", met: (x) => x >= 100 } : null,
      },
      {
        metric: "junk rate reached at max, /s",
        ours: o.max.junkRate,
        ref: c?.max.junkRate ?? null,
        digits: 0,
      },
      {
        metric: "valid honoured % at max junk rate",
        ours: pct(o.max),
        ref: c ? pct(c.max) : null,
        digits: 1,
        goal: honourGoals ? { text: ">= 99", met: (x) => x >= 99 } : null,
      },
      {
        metric: "junk taken in per CPU-second",
        ours: Math.max(o.fixed.perCpuSec, o.max.perCpuSec),
        ref: c ? Math.max(c.fixed.perCpuSec, c.max.perCpuSec) : null,
        digits: 0,
        goal: junkGoals ? { text: ">= 100,000", met: (x) => x >= 100_000 } : null,
      },
      {
        metric: "junk dropped unread (rcvbuf), max phase",
        ours: o.max.dropped,
        ref: c?.max.dropped ?? null,
        digits: 0,
      },
      {
        metric: "RSS growth over both phases, MB",
        ours: o.max.rssAfterMb - o.fixed.rssBeforeMb,
        ref: c ? c.max.rssAfterMb - c.fixed.rssBeforeMb : null,
        digits: 1,
        goal: honourGoals || junkGoals ? { text: "flat (<= 10)", met: (x) => x <= 10 } : null,
      },
    ];
    table(`Junk flood: ${ours} vs C fwknopd (iptables)`, "C fwknopd", rows);
  }
});
