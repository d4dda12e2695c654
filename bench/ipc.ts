/**
 * The privilege-separation hop alone (issue 15: at most ~0.2 ms at p50): a grant request of the
 * shape the packet parser sends (server/privsep/protocol.ts), through Node's IPC channel with
 * the serialisation fwknopd uses (JSON), from a child process to its parent and back. Half the
 * round trip is the one-way hop a grant pays. Paced, not a throughput test: one request at a
 * time, 1 ms apart, as knocks arrive. v8 serialisation ("advanced") is shown for comparison.
 *   node --import tsx bench/ipc.ts [--n=5000]
 */
import { fork } from "node:child_process";
import { header, numFlag, parseFlags, percentile, runBench, sleep } from "./lib/report.js";

const REQUEST = {
  t: "grant",
  at: 0,
  digest: "A".repeat(43),
  innerDigest: null,
  spaTime: 1_800_000_000,
  meta: { proto: 17, srcIp: "198.18.0.2", srcPort: 40000, dstIp: "198.18.0.1", dstPort: 62201 },
  stanza: 1,
  user: "alice",
  address: "198.18.0.2",
  ports: [{ proto: "tcp", port: 22 }],
  timeout: 30,
};

if (process.argv.includes("--echo")) {
  process.on("message", (m) => {
    process.send?.(m);
  });
  process.on("disconnect", () => process.exit(0));
} else
  runBench(async () => {
    const n = Math.min(100_000, numFlag(parseFlags(), "n", 5000));
    header(`bench:ipc — one grant request to a child and back over Node's IPC, ${n} times`);
    for (const serialization of ["json", "advanced"] as const) {
      const child = fork(__filename, ["--echo"], {
        serialization,
        execArgv: process.execArgv,
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      const rtt: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          child.once("message", () => {
            resolve();
          });
          child.send(REQUEST);
        });
        rtt.push(performance.now() - t0);
        await sleep(1);
      }
      child.disconnect();
      const p = (q: number): string => (percentile(rtt, q) / 2).toFixed(3);
      console.log(
        `${serialization.padEnd(9)} one way (half the round trip): p50 ${p(50)} ms  p90 ${p(90)} ms  p99 ${p(99)} ms${serialization === "json" ? "   <- what fwknopd uses" : ""}`,
      );
    }
  });
