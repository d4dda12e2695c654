/**
 * A small helper process that lives inside one test namespace and does network work on request,
 * so a probe costs a message instead of starting a process (~50 ms). JSON lines on stdin/stdout:
 *   {"id":1,"op":"connect","host":"198.18.0.1","port":1234,"timeoutMs":500} -> {"id":1,"ok":true}
 *   {"id":2,"op":"udp","host":"198.18.0.1","port":62201,"data":"<base64>"}   -> {"id":2,"ok":true}
 *   {"id":3,"op":"udpMany","host":"198.18.0.1","port":62201,"data":["<b64>",...],"repeat":10}
 *                                                                  -> {"id":3,"ok":true,"sent":N}
 *   {"id":4,"op":"listen","port":1234}                                       -> {"id":4,"ok":true}
 *   {"id":5,"op":"connect",...,"read":true}           -> {"id":5,"ok":true,"data":"<first line>"}
 *   {"id":6,"op":"udpListen","port":62201}                                   -> {"id":6,"ok":true}
 *   {"id":7,"op":"udpTake","port":62201,"timeoutMs":1000}    -> {"id":7,"ok":true,"list":["<b64>"]}
 *     (what arrived since the last udpTake, waiting up to timeoutMs for the first; at most 1000 kept)
 *   {"id":8,"op":"echoService","port":2222,"banner":"...","lines":1}         -> {"id":8,"ok":true}
 *     (a TCP service that sends the banner, if any, then echoes; it ends when the client does, or
 *     after echoing `lines` lines when that is given)
 * The service's banner names the peer it saw ("... peer=198.18.0.2"), so a NAT test can tell
 * whether the source address was translated. {"op":"listen",...,"echo":true} keeps connections
 * open and echoing; that and the ops for clients sharing one address (hold, echo, release, poll,
 * pollStop, udpRate) are in ns-agent-tenant.ts.
 * A first line {"id":0,"ok":true} says it is ready. It exits when its stdin closes (the test ended
 * or died), so it cannot outlive the test process.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, createServer, isIPv6, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { banner, closeTenantOps, echoConnection, tenantOp } from "./ns-agent-tenant.js";

interface Request {
  id: number;
  op: "connect" | "udp" | "udpMany" | "listen" | "udpListen" | "udpTake" | "echoService";
  /** listen: keep each connection open and send back what arrives (after the banner). */
  echo?: boolean;
  host?: string;
  port: number;
  timeoutMs?: number;
  data?: string | string[];
  /** udpMany: send the whole list this many times (bounded below). */
  repeat?: number;
  /** udp: send from this local address (a fresh socket bound to it). */
  from?: string;
  /** connect: succeed only once the first line has arrived, and return it. */
  read?: boolean;
  /** echo: sent first on each connection. */
  banner?: string;
  /** echo: end the connection after echoing this many lines. */
  lines?: number;
}

/** Upper bound on datagrams per udpMany request, so a bad request cannot run forever. */
const MAX_BATCH = 5_000_000;

const reply = (id: number, ok: boolean, extra: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ id, ok, ...extra })}\n`);
};
const fail = (id: number, e: unknown): void => {
  reply(id, false, { error: e instanceof Error ? e.message : String(e) });
};

const udp: Record<4 | 6, UdpSocket | null> = { 4: null, 6: null };
const servers: ReturnType<typeof createServer>[] = [];

function udpSocket(host: string): UdpSocket {
  const fam = isIPv6(host) ? 6 : 4;
  return (udp[fam] ??= createSocket(fam === 6 ? "udp6" : "udp4"));
}

function tcpConnect(r: Request): void {
  const sock = connect({ host: r.host ?? "", port: r.port });
  let done = false;
  const finish = (ok: boolean, error?: string): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    sock.destroy();
    reply(r.id, ok, error !== undefined ? { error } : {});
  };
  const timer = setTimeout(() => {
    finish(false, "timeout");
  }, r.timeoutMs ?? 500);
  let data = "";
  sock.once("connect", () => {
    if (r.read !== true) finish(true);
  });
  sock.on("data", (chunk: Buffer) => {
    data += chunk.toString("latin1");
    const nl = data.indexOf("\n");
    if (nl >= 0) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      reply(r.id, true, { data: data.slice(0, nl).trim() });
    }
  });
  sock.once("error", (e) => {
    finish(false, e.message);
  });
}

function udpSend(r: Request): void {
  const host = r.host ?? "";
  const data = Buffer.from(typeof r.data === "string" ? r.data : "", "base64");
  if (r.from !== undefined) {
    const once = createSocket(isIPv6(host) ? "udp6" : "udp4");
    once.once("error", (e) => {
      once.close();
      fail(r.id, e);
    });
    once.bind({ address: r.from }, () => {
      once.send(data, r.port, host, (err) => {
        once.close();
        if (err) fail(r.id, err);
        else reply(r.id, true);
      });
    });
    return;
  }
  udpSocket(host).send(data, r.port, host, (err) => {
    if (err) fail(r.id, err);
    else reply(r.id, true);
  });
}

/** Many datagrams through one socket; replies once every send has completed. */
function udpMany(r: Request): void {
  const host = r.host ?? "";
  const list = (Array.isArray(r.data) ? r.data : []).map((d) => Buffer.from(d, "base64"));
  const total = list.length * Math.max(1, Math.floor(r.repeat ?? 1));
  if (list.length === 0 || total > MAX_BATCH) {
    reply(r.id, false, { error: `batch of ${total} datagrams is empty or too large` });
    return;
  }
  const sock = udpSocket(host);
  let pending = total;
  let sent = 0;
  let firstError: string | undefined;
  const onSent = (err: Error | null): void => {
    if (err) firstError ??= err.message;
    else sent++;
    if (--pending === 0)
      reply(r.id, firstError === undefined, {
        sent,
        ...(firstError !== undefined ? { error: firstError } : {}),
      });
  };
  for (let i = 0; i < total; i++)
    sock.send(list[i % list.length] ?? Buffer.alloc(0), r.port, host, onSent);
}

function listen(r: Request): void {
  serveTcp(r, (c) => {
    if (r.echo === true) {
      echoConnection(c);
      return;
    }
    c.end(banner(c.remoteAddress));
  });
}

function echo(r: Request): void {
  serveTcp(r, (c) => {
    if (r.banner !== undefined) c.write(r.banner);
    if (r.lines === undefined) {
      c.pipe(c);
      return;
    }
    let left = r.lines;
    c.on("data", (chunk: Buffer) => {
      let end = 0;
      while (left > 0 && end < chunk.length) {
        const nl = chunk.indexOf(0x0a, end);
        if (nl < 0) break;
        end = nl + 1;
        left--;
      }
      if (left > 0) c.write(chunk);
      else c.end(chunk.subarray(0, end));
    });
  });
}

function serveTcp(r: Request, onConnection: (c: Socket) => void): void {
  const srv = createServer((c) => {
    c.on("error", () => undefined);
    onConnection(c);
  });
  srv.once("error", (e) => {
    fail(r.id, e);
  });
  srv.listen({ port: r.port, host: "::", ipv6Only: false }, () => {
    servers.push(srv);
    reply(r.id, true);
  });
}

/** udpListen ports: what arrived, and whoever waits in udpTake. */
const inbox = new Map<number, { got: Buffer[]; wake: (() => void) | null; sock: UdpSocket }>();
const INBOX_MAX = 1000;

function udpListen(r: Request): void {
  if (inbox.has(r.port)) {
    reply(r.id, true);
    return;
  }
  const sock = createSocket({ type: "udp6", ipv6Only: false });
  const box = { got: [] as Buffer[], wake: null as (() => void) | null, sock };
  sock.on("message", (msg) => {
    if (box.got.length < INBOX_MAX) box.got.push(msg);
    box.wake?.();
  });
  sock.once("error", (e) => {
    fail(r.id, e);
  });
  sock.bind({ port: r.port, address: "::" }, () => {
    inbox.set(r.port, box);
    reply(r.id, true);
  });
}

function udpTake(r: Request): void {
  const box = inbox.get(r.port);
  if (box === undefined) {
    reply(r.id, false, { error: `no udpListen on ${r.port}` });
    return;
  }
  const take = (): void => {
    box.wake = null;
    clearTimeout(timer);
    reply(r.id, true, { list: box.got.splice(0).map((b) => b.toString("base64")) });
  };
  const timer = setTimeout(take, box.got.length > 0 ? 0 : (r.timeoutMs ?? 1000));
  box.wake = take;
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let r: Request;
  try {
    r = JSON.parse(line) as Request;
  } catch {
    return;
  }
  try {
    switch (r.op) {
      case "connect":
        tcpConnect(r);
        break;
      case "udp":
        udpSend(r);
        break;
      case "udpMany":
        udpMany(r);
        break;
      case "listen":
        listen(r);
        break;
      case "udpListen":
        udpListen(r);
        break;
      case "udpTake":
        udpTake(r);
        break;
      case "echoService":
        echo(r);
        break;
      default:
        if (!tenantOp({ ...r, op: String(r.op) }, reply))
          reply(r.id, false, { error: `unknown op ${String(r.op)}` });
    }
  } catch (e) {
    fail(r.id, e);
  }
});
rl.on("close", () => {
  closeTenantOps();
  for (const s of servers) s.close();
  for (const b of inbox.values()) b.sock.close();
  udp[4]?.close();
  udp[6]?.close();
  process.exit(0);
});
reply(0, true);
