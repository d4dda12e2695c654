/**
 * NFQUEUE capture against the UDP server: how much SPA-shaped junk each takes in per second and
 * per second of the daemon's CPU (its whole process tree: broker, parser, NFQUEUE reader), with
 * and without privilege separation. Junk comes from the client's main address as fast as
 * --blasters processes can send, for --seconds; the kernel meter is off (NFT_SPA_RATE_LIMIT 0)
 * so that all of it reaches the daemon. Taken in is counted from outside: for the UDP server,
 * datagrams delivered to the server namespace's UDP sockets (/proc/net/snmp); for NFQUEUE,
 * packets handed to the reader (/proc/net/netfilter/nfnetlink_queue: id_sequence less the
 * ones the socket could not take). C fwknopd is not compared: Debian builds it without NFQ.
 *   node --import tsx bench/nfq.ts [--seconds=5] [--blasters=2]
 */
import { readFileSync } from "node:fs";
import {
  VARIANTS,
  procStats,
  processTree,
  withBenchRig,
  type BenchRig,
  type Variant,
} from "./lib/bench-rig.js";
import { benchKeys, junkLike, validSpa } from "./lib/packets.js";
import { header, numFlag, parseFlags, runBench, sleep } from "./lib/report.js";

interface Counts {
  /** Datagrams the daemon was given (socket or queue). */
  taken: number;
  /** Dropped before it read them (socket buffer, queue full). */
  dropped: number;
}

/** The server namespace's NFQUEUE counters (one queue: ours), summed. */
async function queueCounts(b: BenchRig): Promise<Counts> {
  const r = await b.rig.run(b.rig.serverNs, ["cat", "/proc/net/netfilter/nfnetlink_queue"]);
  let taken = 0;
  let dropped = 0;
  for (const line of r.stdout.trim().split("\n")) {
    // queue, portid, waiting, copy mode, copy range, queue dropped, user dropped, id sequence, 1
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length < 8) continue;
    taken += (f[7] ?? 0) - (f[6] ?? 0);
    dropped += (f[5] ?? 0) + (f[6] ?? 0);
  }
  return { taken, dropped };
}

async function udpCounts(b: BenchRig): Promise<Counts> {
  const u = await b.serverUdp();
  return { taken: u.inDatagrams, dropped: u.rcvbufErrors };
}

/** CPU seconds of the daemon's NFQUEUE reader process (0 with the UDP server). */
function readerCpu(pid: number): number {
  for (const p of processTree(pid)) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "latin1").includes("nfq-reader-main"))
        return procStats(p).cpuSecs;
    } catch {
      // gone meanwhile
    }
  }
  return 0;
}

interface Result {
  label: string;
  readerCpuSecs: number;
  sent: number;
  taken: number;
  dropped: number;
  cpuSecs: number;
  honoured: boolean;
}

async function run(b: BenchRig, v: Variant, seconds: number, blasters: number): Promise<Result> {
  const keys = benchKeys();
  const port = 2300 + VARIANTS.indexOf(v);
  await b.services([port], false);
  const d = await b.startDaemon(v, keys, [port], { conf: "NFT_SPA_RATE_LIMIT 0;" });
  const nfq = v.conf?.includes("ENABLE_NFQ_CAPTURE Y") === true;
  try {
    const count = (): Promise<Counts> => (nfq ? queueCounts(b) : udpCounts(b));
    const [from] = await b.ensureSources(1);
    const wire = validSpa(keys, from ?? "", port);
    const junk = junkLike(wire, 512);
    await sleep(300);
    const c0 = await count();
    const st0 = d.stats();
    const r0 = readerCpu(d.pid);
    const sent = await b.blast(junk, 0, seconds, blasters);
    await sleep(500);
    const c1 = await count();
    const st1 = d.stats();
    const r1 = readerCpu(d.pid);
    // After the flood: one valid knock still opens (the capture is alive and honest).
    const after = await b.grants(port, [{ from: from ?? "", wire }], 1, 8000);
    return {
      label: v.label,
      sent,
      taken: c1.taken - c0.taken,
      dropped: c1.dropped - c0.dropped,
      cpuSecs: st1.cpuSecs - st0.cpuSecs,
      readerCpuSecs: r1 - r0,
      honoured: after.openMs[0] !== null,
    };
  } finally {
    await d.stop();
  }
}

runBench(async () => {
  const flags = parseFlags();
  const seconds = Math.max(2, Math.min(60, numFlag(flags, "seconds", 5)));
  const blasters = Math.max(1, Math.min(8, numFlag(flags, "blasters", 2)));
  header(`bench:nfq — ${seconds} s of SPA-shaped junk from ${blasters} blaster(s), meter off`);
  const names = ["ours-nft", "ours-nfq", "ours-nft-single", "ours-nfq-single"];
  const variants = names
    .map((n) => VARIANTS.find((v) => v.name === n))
    .filter((v) => v !== undefined);
  const results = await withBenchRig(async (b) => {
    const out: Result[] = [];
    for (const v of variants) out.push(await run(b, v, seconds, blasters));
    return out;
  });
  console.log(
    `\n${"variant".padEnd(30)} ${"sent/s".padStart(9)} ${"taken/s".padStart(9)} ${"dropped".padStart(9)} ${"CPU s".padStart(6)} ${"taken/CPU-s".padStart(12)} ${"µs CPU each".padStart(12)} ${"reader CPU s".padStart(12)}  knock after`,
  );
  for (const r of results)
    console.log(
      `${r.label.padEnd(30)} ${Math.round(r.sent / seconds)
        .toString()
        .padStart(9)} ${Math.round(r.taken / seconds)
        .toString()
        .padStart(
          9,
        )} ${r.dropped.toString().padStart(9)} ${r.cpuSecs.toFixed(2).padStart(6)} ${Math.round(
        r.taken / r.cpuSecs,
      )
        .toString()
        .padStart(
          12,
        )} ${((1e6 * r.cpuSecs) / r.taken).toFixed(2).padStart(12)} ${r.readerCpuSecs.toFixed(2).padStart(12)}  ${r.honoured ? "opened" : "NOT opened"}`,
    );
});
