/**
 * A small helper process that lives inside one test namespace and does network work on request,
 * so a probe costs a message instead of starting a process (~50 ms). JSON lines on stdin/stdout:
 *   {"id":1,"op":"connect","host":"198.18.0.1","port":1234,"timeoutMs":500} -> {"id":1,"ok":true}
 *   {"id":2,"op":"udp","host":"198.18.0.1","port":62201,"data":"<base64>"}   -> {"id":2,"ok":true}
 *   {"id":3,"op":"listen","port":1234}                                       -> {"id":3,"ok":true}
 * It exits when its stdin closes (the test ended or died).
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, createServer, isIPv6 } from "node:net";
import { createInterface } from "node:readline";

interface Request {
  id: number;
  op: "connect" | "udp" | "listen";
  host?: string;
  port: number;
  timeoutMs?: number;
  data?: string;
  /** udp: send from this local address (a fresh socket bound to it). */
  from?: string;
}

const reply = (id: number, ok: boolean, error?: string): void => {
  process.stdout.write(
    `${JSON.stringify({ id, ok, ...(error !== undefined ? { error } : {}) })}\n`,
  );
};

const udp: Record<4 | 6, UdpSocket | null> = { 4: null, 6: null };
const servers: ReturnType<typeof createServer>[] = [];

function tcpConnect(r: Request): void {
  const sock = connect({ host: r.host ?? "", port: r.port });
  const timer = setTimeout(() => {
    sock.destroy();
    reply(r.id, false, "timeout");
  }, r.timeoutMs ?? 500);
  sock.once("connect", () => {
    clearTimeout(timer);
    sock.destroy();
    reply(r.id, true);
  });
  sock.once("error", (e) => {
    clearTimeout(timer);
    reply(r.id, false, e.message);
  });
}

function udpSend(r: Request): void {
  const fam = isIPv6(r.host ?? "") ? 6 : 4;
  if (r.from !== undefined) {
    const once = createSocket(fam === 6 ? "udp6" : "udp4");
    once.bind({ address: r.from }, () => {
      once.send(Buffer.from(r.data ?? "", "base64"), r.port, r.host, (err) => {
        once.close();
        reply(r.id, err === null, err?.message);
      });
    });
    return;
  }
  const sock = (udp[fam] ??= createSocket(fam === 6 ? "udp6" : "udp4"));
  sock.send(Buffer.from(r.data ?? "", "base64"), r.port, r.host, (err) => {
    reply(r.id, err === null, err?.message);
  });
}

function listen(r: Request): void {
  const srv = createServer((c) => {
    c.end("SSH-2.0-fwknop-ts-test\r\n");
    c.on("error", () => undefined);
  });
  srv.once("error", (e) => {
    reply(r.id, false, e.message);
  });
  srv.listen({ port: r.port, host: "::", ipv6Only: false }, () => {
    servers.push(srv);
    reply(r.id, true);
  });
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let r: Request;
  try {
    r = JSON.parse(line) as Request;
  } catch {
    return;
  }
  if (r.op === "connect") tcpConnect(r);
  else if (r.op === "udp") udpSend(r);
  else listen(r);
});
rl.on("close", () => {
  for (const s of servers) s.close();
  udp[4]?.close();
  udp[6]?.close();
  process.exit(0);
});
process.stdout.write(`${JSON.stringify({ id: 0, ok: true })}\n`);
