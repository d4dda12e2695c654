/**
 * Client start-up: wall time of bin/fwknop building an SPA packet (--test: made and printed, not
 * sent; and a real send to the rig's server) against a bare `node -e 0` and the C client, each
 * run --runs times (default 30), interleaved, inside the rig's client namespace. Goal: our
 * client <= 1.3x `node -e 0`.
 *   node --import tsx bench/client.ts [--runs=30]
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { REPO, SERVER_IP } from "../test/e2e/rig.js";
import { SPA_PORT, withBenchRig } from "./lib/bench-rig.js";
import { header, median, numFlag, parseFlags, percentile, runBench, table } from "./lib/report.js";

runBench(async () => {
  const flags = parseFlags();
  const runs = Math.min(500, numFlag(flags, "runs", 30));
  header(`bench:client — ${runs} runs each, interleaved, in the client namespace`);
  const keys = [
    "--key-base64-rijndael",
    randomBytes(32).toString("base64"),
    "--key-base64-hmac",
    randomBytes(64).toString("base64"),
    "--use-hmac",
  ];
  const spa = [
    "--no-save-args",
    "-A",
    "tcp/22",
    "-a",
    "198.18.0.2",
    "-D",
    SERVER_IP,
    "-p",
    String(SPA_PORT),
    ...keys,
  ];
  const ours = [process.execPath, join(REPO, "bin", "fwknop")];
  const commands = {
    "node -e 0": [process.execPath, "-e", "0"],
    "ours --test": [...ours, ...spa, "--test"],
    "C --test": ["/usr/bin/fwknop", ...spa, "--test"],
    "ours send": [...ours, ...spa],
    "C send": ["/usr/bin/fwknop", ...spa],
  };
  const ms = await withBenchRig(async (b) => {
    const home = b.rig.tempDir("fwkts-client-home-");
    const r = await b.rig.run(
      b.rig.clientNs,
      [
        process.execPath,
        "--import",
        "tsx",
        join(__dirname, "lib", "client-timer.ts"),
        JSON.stringify({ runs, commands, home }),
      ],
      { timeoutMs: 170_000 },
    );
    if (r.code !== 0) throw new Error(`client timer failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, number[]>;
  });
  const m = (k: string): number => median(ms[k] ?? []);
  for (const k of Object.keys(commands))
    console.log(
      `${k.padEnd(12)} median ${m(k).toFixed(1)} ms  p10 ${percentile(ms[k] ?? [], 10).toFixed(1)}  p90 ${percentile(ms[k] ?? [], 90).toFixed(1)}`,
    );
  const node = m("node -e 0");
  table("Client wall time (medians, ms); ratio = ours / C", "C fwknop", [
    { metric: "node -e 0", ours: node, ref: null },
    { metric: "fwknop --test", ours: m("ours --test"), ref: m("C --test") },
    { metric: "fwknop (sends)", ours: m("ours send"), ref: m("C send") },
    {
      metric: "ours --test / node -e 0",
      ours: m("ours --test") / node,
      ref: null,
      goal: { text: "<= 1.3", met: (x) => x <= 1.3 },
    },
    {
      metric: "ours send / node -e 0",
      ours: m("ours send") / node,
      ref: null,
      goal: { text: "<= 1.3", met: (x) => x <= 1.3 },
    },
  ]);
});
