/**
 * The benches' helper inside the client namespace (the e2e agent's protocol, other operations):
 * timing happens here, next to the sockets, so a probe does not pay a round trip to the bench.
 * JSON lines on stdin/stdout; {"id":0,"ok":true} says it is ready; it exits when stdin closes.
 *
 *   {"id":1,"op":"latency","host":H,"port":P,"spaPort":S,"items":[{"from":A,"wire":B64}],"timeoutMs":T}
 *       for each item in turn: send the SPA from A, then connect from A again and again (each
 *       refused attempt is one SYN/RST round trip) until one succeeds; -> "ms": [ms | null, ...]
 *   {"id":2,"op":"grants","host":H,"port":P,"spaPort":S,"items":[...],"rate":R,"deadlineMs":D,
 *    "concurrency":K}
 *       send item i at i/R seconds from its own address while K workers connect from every address
 *       sent and not yet open, round robin, until all are open or D ms after the last send;
 *       -> "sentMs": [...], "openMs": [ms | null, ...] (both from the first send), "attempts": N
 * Every loop is bounded by its item count and its time limit.
 */
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { createInterface } from "node:readline";

interface Item {
  from: string;
  wire: string;
}

interface Request {
  id: number;
  op: "latency" | "grants";
  host: string;
  port: number;
  spaPort: number;
  items: Item[];
  timeoutMs?: number;
  rate?: number;
  deadlineMs?: number;
  concurrency?: number;
}

const MAX_ITEMS = 100_000;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

const reply = (id: number, ok: boolean, extra: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ id, ok, ...extra })}\n`);
};

/** Send one datagram from `from`; resolves with the time just before the send. */
function sendFrom(from: string, host: string, port: number, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", (e) => {
      s.close();
      reject(e);
    });
    s.bind({ address: from }, () => {
      const t = nowMs();
      s.send(data, port, host, (err) => {
        s.close();
        if (err) reject(err);
        else resolve(t);
      });
    });
  });
}

/** One TCP connect from `from`: true if it was accepted within `timeoutMs`. */
function tryConnect(host: string, port: number, from: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, localAddress: from });
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => {
      finish(false);
    }, timeoutMs);
    sock.once("connect", () => {
      finish(true);
    });
    sock.once("error", () => {
      finish(false);
    });
  });
}

async function latency(r: Request): Promise<void> {
  const limit = r.timeoutMs ?? 3000;
  const out: Array<number | null> = [];
  for (const it of r.items) {
    const t0 = await sendFrom(it.from, r.host, r.spaPort, Buffer.from(it.wire, "base64"));
    let got: number | null = null;
    while (nowMs() - t0 < limit) {
      if (await tryConnect(r.host, r.port, it.from, 200)) {
        got = nowMs() - t0;
        break;
      }
    }
    out.push(got);
  }
  reply(r.id, true, { ms: out });
}

async function grants(r: Request): Promise<void> {
  const n = r.items.length;
  const rate = r.rate ?? 1000;
  const deadlineMs = r.deadlineMs ?? 10_000;
  const sentMs: Array<number | null> = new Array<number | null>(n).fill(null);
  const openMs: Array<number | null> = new Array<number | null>(n).fill(null);
  const queue: number[] = [];
  let attempts = 0;
  let open = 0;
  let lastSend = Infinity;
  let unsent = 0;
  const t0 = nowMs();
  const datagrams = r.items.map((it) => Buffer.from(it.wire, "base64"));

  const sender = (async () => {
    let next = 0;
    const inFlight: Array<Promise<void>> = [];
    while (next < n) {
      const due = Math.min(n, Math.floor(((nowMs() - t0) / 1000) * rate) + 1);
      for (; next < due; next++) {
        const i = next;
        const it = r.items[i];
        const d = datagrams[i];
        if (it === undefined || d === undefined) continue;
        inFlight.push(
          sendFrom(it.from, r.host, r.spaPort, d).then(
            (t) => {
              sentMs[i] = t - t0;
              queue.push(i);
            },
            () => {
              unsent++;
            },
          ),
        );
      }
      await new Promise((res) => setTimeout(res, 1));
    }
    await Promise.all(inFlight);
    lastSend = nowMs();
  })();

  const worker = async (): Promise<void> => {
    for (;;) {
      const now = nowMs();
      if (now > lastSend + deadlineMs || (lastSend !== Infinity && open + unsent >= n)) return;
      const i = queue.shift();
      if (i === undefined) {
        await new Promise((res) => setTimeout(res, 1));
        continue;
      }
      const it = r.items[i];
      if (it === undefined) continue;
      attempts++;
      if (await tryConnect(r.host, r.port, it.from, 300)) {
        openMs[i] = nowMs() - t0;
        open++;
      } else queue.push(i);
    }
  };
  const workers = Array.from({ length: r.concurrency ?? 32 }, () => worker());
  await sender;
  await Promise.all(workers);
  reply(r.id, true, { sentMs, openMs, attempts });
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let r: Request;
  try {
    r = JSON.parse(line) as Request;
  } catch {
    return;
  }
  if (!Array.isArray(r.items) || r.items.length > MAX_ITEMS) {
    reply(r.id, false, { error: "items missing or too many" });
    return;
  }
  // The op comes from JSON: anything else is refused.
  const op: string = r.op;
  if (op !== "latency" && op !== "grants") {
    reply(r.id, false, { error: `unknown op ${op}` });
    return;
  }
  (op === "latency" ? latency(r) : grants(r)).catch((e: unknown) => {
    reply(r.id, false, { error: e instanceof Error ? e.message : String(e) });
  });
});
rl.on("close", () => process.exit(0));
reply(0, true);
