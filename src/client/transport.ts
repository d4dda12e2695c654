/**
 * Sending the wire text (client/spa_comm.c). The payload on every transport is the ASCII wire
 * string with no terminator. UDP is one datagram; TCP is connect, write, close; HTTP is a GET whose
 * path is the wire with '+' -> '-' and '/' -> '_' (client/spa_comm.c:send_spa_packet_http).
 */
import { createSocket } from "node:dgram";
import { EnvironmentError, messageOf } from "../errors.js";
import { ipFamily } from "./ip-literal.js";

export interface SendTarget {
  host: string;
  port: number;
  sourcePort: number | null;
}

/** IPv4 first like the C client, IPv6 where that is all the name has (our extension). */
export async function resolveServer(
  host: string,
  what = "SPA server",
): Promise<{ address: string; family: 4 | 6 }> {
  const lit = ipFamily(host);
  if (lit !== 0) return { address: host, family: lit };
  try {
    // Required here, not imported: most knocks name an address, every module costs start-up
    // time, and the bundle bin/fwknop runs has no loader for import() (scripts/build-client.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { lookup } = require("node:dns/promises") as typeof import("node:dns/promises");
    const all = await lookup(host, { all: true });
    const pick = all.find((a) => a.family === 4) ?? all[0];
    if (pick === undefined) throw new EnvironmentError("no address");
    return { address: pick.address, family: pick.family === 6 ? 6 : 4 };
  } catch (e) {
    throw new EnvironmentError(`Unable to resolve ${what} '${host}': ${messageOf(e)}`);
  }
}

/**
 * dgram's name lookup, for a socket that only ever sees IP literals (the server's address is
 * resolved first, the bind address is the wildcard): without it the socket loads node:dns, a
 * millisecond of a knock (bench/client.ts).
 */
function literalLookup(
  address: string,
  _options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = ipFamily(address);
  if (family === 0) callback(new EnvironmentError(`not an IP address: '${address}'`), "", 0);
  else callback(null, address, family);
}

export async function sendUdp(wire: string, t: SendTarget): Promise<number> {
  const { address, family } = await resolveServer(t.host);
  const sock = createSocket({ type: family === 6 ? "udp6" : "udp4", lookup: literalLookup });
  try {
    if (t.sourcePort !== null) {
      const port = t.sourcePort;
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(port, () => {
          sock.off("error", reject);
          resolve();
        });
      });
    }
    const payload = Buffer.from(wire, "latin1");
    await new Promise<void>((resolve, reject) => {
      sock.send(payload, t.port, address, (err) => {
        if (err)
          reject(new EnvironmentError(`send to ${address}:${t.port} failed: ${err.message}`));
        else resolve();
      });
    });
    return payload.length;
  } finally {
    sock.close();
  }
}

async function sendStream(payload: string, t: SendTarget, timeoutMs: number): Promise<number> {
  const { address } = await resolveServer(t.host);
  // Required here, not imported, for the reasons in resolveServer: most knocks go by UDP.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { connect } = require("node:net") as typeof import("node:net");
  return new Promise<number>((resolve, reject) => {
    const sock = connect({
      host: address,
      port: t.port,
      ...(t.sourcePort !== null ? { localPort: t.sourcePort } : {}),
    });
    sock.setTimeout(timeoutMs, () => {
      sock.destroy(new Error("timed out"));
    });
    sock.once("error", (err) => {
      reject(new EnvironmentError(`connect to ${address}:${t.port} failed: ${err.message}`));
    });
    sock.once("connect", () => {
      sock.end(payload, "latin1", () => {
        resolve(Buffer.byteLength(payload, "latin1"));
      });
    });
  });
}

export function sendTcp(wire: string, t: SendTarget): Promise<number> {
  return sendStream(wire, t, 5000);
}

/**
 * The request C's send_spa_packet_http writes. Through a proxy the request line carries the
 * absolute URL and, as in C, Host names the proxy.
 */
export function httpRequestFor(
  wire: string,
  host: string,
  userAgent: string,
  proxyHost: string | null = null,
): string {
  const path = wire.replace(/\+/g, "-").replace(/\//g, "_");
  const target = proxyHost === null ? `/${path}` : `http://${host}/${path}`;
  return (
    `GET ${target} HTTP/1.1\r\nUser-Agent: ${userAgent}\r\nAccept: */*\r\n` +
    `Host: ${proxyHost ?? host}\r\nConnection: close\r\n\r\n`
  );
}

/** -P http, directly or through -H host[:port] (the SPA port when no port is given, as C). */
export function sendHttp(
  wire: string,
  t: SendTarget,
  userAgent: string,
  proxy: string | null = null,
): Promise<number> {
  if (proxy === null) return sendStream(httpRequestFor(wire, t.host, userAgent), t, 5000);
  const m = /^(\[[^\]]+\]|[^:]+)(?::([0-9]{1,5}))?$/.exec(proxy);
  const proxyHost = (m?.[1] ?? proxy).replace(/^\[|\]$/g, "");
  const port = m?.[2] !== undefined ? Number(m[2]) : t.port;
  if (m === null || port < 1 || port > 65535)
    throw new EnvironmentError(`-H: invalid proxy '${proxy}' (use host or host:port)`);
  return sendStream(
    httpRequestFor(wire, t.host, userAgent, proxyHost),
    { ...t, host: proxyHost, port },
    5000,
  );
}
