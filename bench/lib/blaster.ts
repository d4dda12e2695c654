/**
 * Junk generator, run inside the client namespace (the e2e agent manages ~70k datagrams/s; a
 * connected socket sending without callbacks manages ~200k/s on one core here). One argument,
 * JSON: {"host","port","rate" (datagrams/s, 0 = as fast as possible),"seconds","file"} where file
 * holds one base64 payload a line. Prints {"sent":N,"seconds":S} and exits; bounded by `seconds`
 * (at most 600).
 */
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";

interface Job {
  host: string;
  port: number;
  rate: number;
  seconds: number;
  file: string;
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
const payloads = readFileSync(job.file, "latin1")
  .split("\n")
  .filter((l) => l !== "")
  .map((l) => Buffer.from(l, "base64"));
if (payloads.length === 0) throw new Error("blaster: no payloads");
const seconds = Math.min(600, Math.max(0.1, job.seconds));
const sock = createSocket("udp4");
// Sends fail with ECONNREFUSED once an ICMP error came back (no listener): keep going.
sock.on("error", () => undefined);

sock.connect(job.port, job.host, () => {
  const t0 = process.hrtime.bigint();
  const endNs = t0 + BigInt(Math.round(seconds * 1e9));
  let sent = 0;
  const tick = (): void => {
    const now = process.hrtime.bigint();
    if (now >= endNs) {
      const s = Number(now - t0) / 1e9;
      process.stdout.write(`${JSON.stringify({ sent, seconds: s })}\n`);
      sock.close();
      return;
    }
    const due = job.rate > 0 ? Math.floor((Number(now - t0) / 1e9) * job.rate) - sent : 256;
    for (let i = 0; i < Math.min(due, 512); i++) {
      sock.send(payloads[sent % payloads.length] ?? Buffer.alloc(0));
      sent++;
    }
    if (due <= 0 && job.rate > 0) setTimeout(tick, 1);
    else setImmediate(tick);
  };
  tick();
});
