/**
 * TCP server (ENABLE_TCP_SERVER / TCPSERV_PORT). C's TCP server only completes the handshake and
 * relies on pcap to see the data; this one reads the SPA data (or an HTTP request carrying it) from
 * the connection itself. Hostile peers are bounded: at most 1501 bytes read, 2 s per connection,
 * and a cap on connections open at once.
 */
import { createServer, type Socket } from "node:net";
import { plainAddress, type Listener, type OnPayload } from "./types.js";

const MAX_BYTES = 1501;
const IDLE_MS = 2000;
const MAX_CONNECTIONS = 256;

/** One connection: read up to MAX_BYTES, an HTTP request's end, the peer's close or IDLE_MS. */
function readConnection(c: Socket, port: number, done: () => void, onPayload: OnPayload): void {
  // Read at accept: a socket destroyed before anything asked reports no addresses (node caches
  // them only on a first read), and the packet is handed on after the destroy.
  const from = { ip: plainAddress(c.remoteAddress ?? ""), port: c.remotePort ?? 0 };
  const to = plainAddress(c.localAddress ?? "0.0.0.0");
  const chunks: Buffer[] = [];
  let size = 0;
  let handed = false;
  const finish = (): void => {
    if (handed) return;
    handed = true;
    done();
    c.destroy();
    if (size === 0) return;
    onPayload({
      data: Buffer.concat(chunks).subarray(0, MAX_BYTES).toString("latin1"),
      srcIp: from.ip,
      srcPort: from.port,
      dstIp: to,
      dstPort: port,
      transport: "tcp",
    });
  };
  c.setTimeout(IDLE_MS, finish);
  c.on("data", (d: Buffer) => {
    chunks.push(d);
    size += d.length;
    // An HTTP request is complete at its blank line; raw SPA data at the peer's close.
    if (size >= MAX_BYTES || Buffer.concat(chunks).includes("\r\n\r\n")) finish();
  });
  c.on("end", finish);
  c.on("error", finish);
}

export async function listenTcp(
  port: number,
  ipv6: boolean,
  onPayload: OnPayload,
): Promise<Listener> {
  const open = new Set<Socket>();
  const srv = createServer((c) => {
    if (open.size >= MAX_CONNECTIONS) {
      c.destroy();
      return;
    }
    open.add(c);
    readConnection(c, port, () => open.delete(c), onPayload);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen({ port, host: ipv6 ? "::" : "0.0.0.0", ipv6Only: false }, () => {
      srv.off("error", reject);
      resolve();
    });
  });
  return {
    description: `TCP server on port ${port}${ipv6 ? " (IPv4 and IPv6)" : ""}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of open) c.destroy();
        srv.close(() => {
          resolve();
        });
      }),
  };
}
