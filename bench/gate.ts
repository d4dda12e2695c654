/**
 * The token gate's cost (REQUIRE_CONNECT_TOKEN, issue 14): a connection through fwknopd's gate
 * (token first, then spliced to the service by the daemon) beside a direct one to the same
 * service through a plain grant, on the rig's default-drop host. Two figures each:
 *   connect  connect() to the service's first byte, median and p90 over --n connections (one
 *            fresh packet each for the gate: a token is spent once)
 *   stream   MB/s of --mb megabytes sent by the service, best of --runs
 * Node has no splice(2): the gate copies through user space (socket.pipe), which is what this
 * measures.
 *   node --import tsx bench/gate.ts [--n=30] [--mb=256] [--runs=3]
 */
import { randomBytes } from "node:crypto";
import { connectToken } from "../src/spa/index.js";
import { freshSpaWire } from "../test/fixtures/pipeline.js";
import { CLIENT_IP, SERVER_IP, createRig, type Rig } from "../test/e2e/rig.js";
import { TsFwknopd } from "../test/e2e/ts-fwknopd.js";
import {
  grid,
  header,
  median,
  numFlag,
  parseFlags,
  percentile,
  runBench,
  sleep,
} from "./lib/report.js";

const PORT = 5001;

/** The service: on each connection, `mb` megabytes at once, then the end. */
const SERVICE = (mb: number): string => `
  const chunk = Buffer.alloc(1 << 20, 97);
  require("net").createServer((s) => {
    s.on("error", () => undefined);
    let left = ${mb};
    const more = () => { while (left > 0) { left--; if (!s.write(chunk)) return void s.once("drain", more); } s.end(); };
    more();
  }).listen(${PORT});`;

/** In the client namespace: connect, send `first` (hex), read to the end; the timings. */
const CLIENT = (first: string): string => `
  const t0 = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
  const s = require("net").connect(${PORT}, ${JSON.stringify(SERVER_IP)});
  let firstMs = null, bytes = 0;
  s.on("connect", () => { if (${JSON.stringify(first)} !== "") s.write(Buffer.from(${JSON.stringify(first)}, "hex")); });
  s.on("data", (d) => { if (firstMs === null) firstMs = ms(); bytes += d.length; });
  s.on("error", (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
  s.on("end", () => { console.log(JSON.stringify({ firstMs, totalMs: ms(), bytes })); process.exit(0); });
  setTimeout(() => { console.log(JSON.stringify({ error: "timeout" })); process.exit(1); }, 120000);`;

interface Run {
  firstMs: number;
  totalMs: number;
  bytes: number;
}

async function measure(rig: Rig, first: string): Promise<Run> {
  const r = await rig.run(rig.clientNs, [process.execPath, "-e", CLIENT(first)], {
    timeoutMs: 130_000,
  });
  const out = JSON.parse(r.stdout.trim() || "{}") as {
    firstMs?: number | null;
    totalMs?: number;
    bytes?: number;
    error?: string;
  };
  if (out.error !== undefined || typeof out.firstMs !== "number")
    throw new Error(`client: ${out.error ?? r.stderr}`);
  return { firstMs: out.firstMs, totalMs: out.totalMs ?? 0, bytes: out.bytes ?? 0 };
}

runBench(async () => {
  const flags = parseFlags();
  const n = Math.max(3, Math.min(200, numFlag(flags, "n", 30)));
  const mb = Math.max(16, Math.min(2048, numFlag(flags, "mb", 256)));
  const runs = Math.max(1, Math.min(10, numFlag(flags, "runs", 3)));
  header(`bench:gate — direct grant vs token gate; ${n} connects, ${runs} x ${mb} MB`);
  const rig = await createRig({ protectedPort: PORT, deny: "debian-nftables" });
  const k = {
    plain: randomBytes(32),
    gate: randomBytes(32),
    hmac: randomBytes(64),
    hmacG: randomBytes(64),
  };
  const stanza = (key: Buffer, hmac: Buffer, extra: string): string =>
    `SOURCE ANY\nOPEN_PORTS tcp/${PORT}\nFW_ACCESS_TIMEOUT 600\n${extra}KEY_BASE64 ${key.toString("base64")}\nHMAC_KEY_BASE64 ${hmac.toString("base64")}\n`;
  const d = new TsFwknopd(
    rig,
    "ENABLE_UDP_SERVER Y;\nLOG_GRANT_CONNECTIONS N;\n",
    `${stanza(k.plain, k.hmac, "")}\n${stanza(k.gate, k.hmacG, "REQUIRE_CONNECT_TOKEN Y\n")}`,
  );
  try {
    rig.spawn(rig.serverNs, [process.execPath, "-e", SERVICE(mb)]);
    await sleep(500);
    await d.start();
    const spa = (key: Buffer, hmac: Buffer): string =>
      freshSpaWire(
        { mode: "cbc", key, hmac: { type: "sha256", key: hmac } },
        { messageType: 1, message: `${CLIENT_IP},tcp/${PORT}` },
      );
    const rows: string[][] = [];
    for (const mode of ["direct", "gate"] as const) {
      const connects: number[] = [];
      let best = 0;
      if (mode === "direct") {
        await rig.sendUdp(SERVER_IP, 62201, spa(k.plain, k.hmac));
        await sleep(300);
      }
      // Connect latency with a tiny transfer is dominated by the transfer; use the first byte.
      for (let i = 0; i < n + runs; i++) {
        let first = "";
        if (mode === "gate") {
          const wire = spa(k.gate, k.hmacG);
          await rig.sendUdp(SERVER_IP, 62201, wire);
          await sleep(50);
          first = connectToken(k.hmacG, wire, PORT).toString("hex");
        }
        const r = await measure(rig, first);
        if (i < n) connects.push(r.firstMs);
        else best = Math.max(best, r.bytes / 1e6 / ((r.totalMs - r.firstMs) / 1000));
      }
      rows.push([
        mode === "direct" ? "direct (plain grant)" : "through the token gate",
        median(connects).toFixed(2),
        percentile(connects, 90).toFixed(2),
        best.toFixed(0),
      ]);
    }
    grid(
      "Connect to first byte (ms) and stream (MB/s, loopback-speed veth)",
      ["path", "connect p50 ms", "connect p90 ms", "stream MB/s (best)"],
      rows,
    );
  } finally {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  }
});
