/**
 * The namespace agent's operations for clients that share one address (nat-rig.ts, co-tenant.ts):
 * a service whose connections stay open and echo, a connection held open across a grant, a
 * bounded poller that tries a port every millisecond, and a rate-paced UDP sender. ns-agent.ts
 * routes the requests here; every loop ends by its own count or time bound.
 *
 *   {"op":"listen","port":P,"echo":true}   banner line, then every line sent comes back; open
 *   {"op":"hold","name":N,"host":H,"port":P,"retryMs":R[,"first":HEX]}
 *       connect again and again (a new attempt every 5 ms, each given 300 ms) until one gets the
 *       banner or R ms have passed; keeps that connection as N   -> "data": banner, "at": epoch ms
 *   {"op":"echo","name":N,"timeoutMs":T}   send a line on N, wait for it to come back -> ok
 *   {"op":"release","name":N}              close N
 *   {"op":"poll","name":N,"host":H,"port":P,"intervalMs":1,"timeoutMs":100,"maxMs":M}
 *       start a connect attempt every intervalMs (at most 256 in flight, for at most M ms,
 *       M <= 120,000) and count those that got the banner                         -> ok at once
 *   {"op":"pollStop","name":N}             stop, let the attempts in flight end -> "poll": {...}
 *   {"op":"udpRate","host":H,"port":P,"data":["<b64>",...],"rate":R,"seconds":S}
 *       the payloads in turn, R a second (<= 1,000,000) for S seconds (<= 60)       -> "sent": N
 * Times are epoch milliseconds with fractions (performance.timeOrigin + performance.now()), so
 * they compare across the agents and the test process.
 */
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";

export interface TenantRequest {
  id: number;
  op: string;
  name?: string;
  host?: string;
  port: number;
  timeoutMs?: number;
  retryMs?: number;
  intervalMs?: number;
  maxMs?: number;
  data?: string | string[];
  rate?: number;
  seconds?: number;
  /** hold: bytes (hex) written first on each attempt, e.g. a connect token. */
  first?: string;
}

/** What a poller saw (the reply to pollStop). */
export interface PollResult {
  startedAt: number;
  stoppedAt: number;
  attempts: number;
  /** When each attempt that got the banner was accepted (its TCP handshake completed). */
  reached: number[];
  /** The peer addresses the service named in those banners. */
  peers: string[];
  refused: number;
  timedOut: number;
  /** Ticks that found 256 attempts in flight and started none. */
  skipped: number;
}

export type Reply = (id: number, ok: boolean, extra?: Record<string, unknown>) => void;

export const epochMs = (): number => performance.timeOrigin + performance.now();
const MAX_IN_FLIGHT = 256;
const MAX_POLL_MS = 120_000;
const MAX_RATE = 1_000_000;
const MAX_SECONDS = 60;

/** The banner the services send: it names the peer they saw. */
export const banner = (peer: string | undefined): string =>
  `SSH-2.0-fwknop-ts-test peer=${(peer ?? "?").replace(/^::ffff:/, "")}\r\n`;

/** A service connection that stays open and sends every line back. */
export function echoConnection(c: Socket): void {
  c.write(banner(c.remoteAddress));
  c.on("data", (d: Buffer) => c.write(d));
  c.on("error", () => undefined);
}

/**
 * One connect that succeeds once the banner line has arrived: resolves with the socket (left
 * open), the banner and when the handshake completed; or null on refusal, error or timeout.
 */
function bannerConnect(
  host: string,
  port: number,
  timeoutMs: number,
  first: Buffer | null = null,
): {
  done: Promise<{ sock: Socket; line: string; at: number } | "refused" | null>;
  cancel(): void;
} {
  const sock = connect({ host, port });
  let cancel: () => void = () => undefined;
  const done = new Promise<{ sock: Socket; line: string; at: number } | "refused" | null>(
    (resolve) => {
      let at = 0;
      let data = "";
      let settled = false;
      const finish = (v: { sock: Socket; line: string; at: number } | "refused" | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.removeAllListeners("data");
        if (v === null || v === "refused") sock.destroy();
        resolve(v);
      };
      cancel = () => {
        finish(null);
      };
      const timer = setTimeout(() => {
        finish(null);
      }, timeoutMs);
      sock.once("connect", () => {
        at = epochMs();
        if (first !== null) sock.write(first);
      });
      sock.on("data", (chunk: Buffer) => {
        data += chunk.toString("latin1");
        const nl = data.indexOf("\n");
        if (nl >= 0) finish({ sock, line: data.slice(0, nl).trim(), at });
      });
      sock.on("error", (e: NodeJS.ErrnoException) => {
        finish(e.code === "ECONNREFUSED" ? "refused" : null);
      });
    },
  );
  return {
    done,
    cancel: () => {
      cancel();
    },
  };
}

interface Held {
  sock: Socket;
  inbox: string;
  wake: (() => void) | null;
}
const held = new Map<string, Held>();

function hold(r: TenantRequest, reply: Reply): void {
  const name = r.name ?? "";
  const deadline = epochMs() + Math.min(r.retryMs ?? 3000, 60_000);
  const tries = new Set<{ cancel(): void }>();
  let won = false;
  let attempts = 0;
  const giveUp = (): void => {
    if (!won && tries.size === 0 && epochMs() >= deadline) {
      won = true;
      reply(r.id, false, { error: "no banner in the window", attempts });
    }
  };
  const launch = (): void => {
    if (won) return;
    if (epochMs() >= deadline) {
      giveUp();
      return;
    }
    attempts++;
    const t = bannerConnect(
      r.host ?? "",
      r.port,
      300,
      r.first !== undefined ? Buffer.from(r.first, "hex") : null,
    );
    tries.add(t);
    void t.done.then((v) => {
      tries.delete(t);
      if (v === null || v === "refused") {
        giveUp();
        return;
      }
      if (won) {
        v.sock.destroy();
        return;
      }
      won = true;
      for (const other of tries) other.cancel();
      held.get(name)?.sock.destroy();
      const h: Held = { sock: v.sock, inbox: "", wake: null };
      v.sock.on("data", (d: Buffer) => {
        h.inbox += d.toString("latin1");
        h.wake?.();
      });
      v.sock.on("error", () => undefined);
      held.set(name, h);
      reply(r.id, true, { data: v.line, at: v.at, attempts });
    });
    setTimeout(launch, 5);
  };
  launch();
}

function echo(r: TenantRequest, reply: Reply): void {
  const h = held.get(r.name ?? "");
  if (h === undefined || h.sock.destroyed) {
    reply(r.id, false, { error: `no open connection ${r.name ?? ""}` });
    return;
  }
  const token = `ping-${randomBytes(6).toString("hex")}`;
  const timer = setTimeout(() => {
    h.wake = null;
    reply(r.id, false, { error: "no echo" });
  }, r.timeoutMs ?? 1000);
  h.wake = () => {
    if (!h.inbox.includes(token)) return;
    h.wake = null;
    h.inbox = "";
    clearTimeout(timer);
    reply(r.id, true);
  };
  h.sock.write(`${token}\n`);
}

function release(r: TenantRequest, reply: Reply): void {
  held.get(r.name ?? "")?.sock.destroy();
  held.delete(r.name ?? "");
  reply(r.id, true);
}

interface Poller {
  result: PollResult;
  peers: Set<string>;
  inFlight: Set<{ done: Promise<unknown>; cancel(): void }>;
  stop(): void;
  stopped: boolean;
}
const pollers = new Map<string, Poller>();

function poll(r: TenantRequest, reply: Reply): void {
  const name = r.name ?? "";
  if (pollers.has(name)) {
    reply(r.id, false, { error: `poller ${name} exists` });
    return;
  }
  const interval = Math.max(0.1, r.intervalMs ?? 1);
  const timeoutMs = r.timeoutMs ?? 100;
  const t0 = epochMs();
  const end = t0 + Math.min(r.maxMs ?? 30_000, MAX_POLL_MS);
  const result: PollResult = {
    startedAt: t0,
    stoppedAt: 0,
    attempts: 0,
    reached: [],
    peers: [],
    refused: 0,
    timedOut: 0,
    skipped: 0,
  };
  let timer: NodeJS.Timeout | null = null;
  const p: Poller = {
    result,
    peers: new Set(),
    inFlight: new Set(),
    stopped: false,
    stop() {
      if (p.stopped) return;
      p.stopped = true;
      if (timer !== null) clearTimeout(timer);
      result.stoppedAt = epochMs();
    },
  };
  const tick = (): void => {
    const now = epochMs();
    if (now >= end) {
      p.stop();
      return;
    }
    const due = Math.floor((now - t0) / interval) + 1 - result.attempts - result.skipped;
    for (let i = 0; i < Math.min(due, 64); i++) {
      if (p.inFlight.size >= MAX_IN_FLIGHT) {
        result.skipped++;
        continue;
      }
      result.attempts++;
      const a = bannerConnect(r.host ?? "", r.port, timeoutMs);
      p.inFlight.add(a);
      void a.done.then((v) => {
        p.inFlight.delete(a);
        if (v === "refused") result.refused++;
        else if (v === null) result.timedOut++;
        else {
          v.sock.destroy();
          result.reached.push(v.at);
          const peer = /peer=(\S+)/.exec(v.line)?.[1];
          if (peer !== undefined) p.peers.add(peer);
        }
      });
    }
    timer = setTimeout(tick, Math.min(1, interval));
  };
  pollers.set(name, p);
  tick();
  reply(r.id, true, { at: t0 });
}

function pollStop(r: TenantRequest, reply: Reply): void {
  const p = pollers.get(r.name ?? "");
  if (p === undefined) {
    reply(r.id, false, { error: `no poller ${r.name ?? ""}` });
    return;
  }
  pollers.delete(r.name ?? "");
  p.stop();
  void Promise.all([...p.inFlight].map((a) => a.done)).then(() => {
    p.result.peers = [...p.peers];
    reply(r.id, true, { poll: p.result });
  });
}

function udpRate(r: TenantRequest, reply: Reply): void {
  const list = (Array.isArray(r.data) ? r.data : []).map((d) => Buffer.from(d, "base64"));
  const rate = Math.min(MAX_RATE, Math.max(1, r.rate ?? 1000));
  const seconds = Math.min(MAX_SECONDS, Math.max(0.01, r.seconds ?? 1));
  if (list.length === 0) {
    reply(r.id, false, { error: "udpRate: no payloads" });
    return;
  }
  const sock = createSocket("udp4");
  // Sends fail with ECONNREFUSED once an ICMP error came back (no listener): keep going.
  sock.on("error", () => undefined);
  sock.connect(r.port, r.host ?? "", () => {
    const t0 = epochMs();
    let sent = 0;
    const tick = (): void => {
      const elapsed = epochMs() - t0;
      if (elapsed >= seconds * 1000) {
        sock.close();
        reply(r.id, true, { sent, ms: elapsed });
        return;
      }
      const behind = Math.floor((elapsed / 1000) * rate) - sent;
      const due = Math.min(behind, 512);
      for (let i = 0; i < due; i++) sock.send(list[sent++ % list.length] ?? Buffer.alloc(0));
      if (behind > due) setImmediate(tick);
      else setTimeout(tick, 1);
    };
    tick();
  });
}

const OPS: Readonly<Record<string, (r: TenantRequest, reply: Reply) => void>> = {
  hold,
  echo,
  release,
  poll,
  pollStop,
  udpRate,
};

/** Handles the ops above; false when `r.op` is none of them. */
export function tenantOp(r: TenantRequest, reply: Reply): boolean {
  const op = Object.hasOwn(OPS, r.op) ? OPS[r.op] : undefined;
  if (op === undefined) return false;
  op(r, reply);
  return true;
}

/** At exit: close held connections, stop pollers. */
export function closeTenantOps(): void {
  for (const h of held.values()) h.sock.destroy();
  for (const p of pollers.values()) p.stop();
}
