/**
 * UDP server (server/udp_server.c): one socket, nothing is ever sent back. Dual-stack when IPv6 is
 * on. Like C's UDP mode, the destination address is not known per datagram (recorded as 0.0.0.0;
 * udp-batch.ts reads it).
 */
import { createSocket } from "node:dgram";
import { plainAddress, type Listener, type OnPayload } from "./types.js";

const RECV_BUFFER_BYTES = 8 << 20;

export async function listenUdp(
  port: number,
  ipv6: boolean,
  onPayload: OnPayload,
): Promise<Listener> {
  // A deep receive queue rides out the moments the daemon is not scheduled (a packet flood on a
  // busy machine): the kernel default holds ~200 datagrams. Linux caps it at net.core.rmem_max.
  const sock = createSocket({
    type: ipv6 ? "udp6" : "udp4",
    ipv6Only: false,
    recvBufferSize: RECV_BUFFER_BYTES,
  });
  sock.on("message", (msg, rinfo) => {
    // Oversized datagrams are refused by the pipeline; cap what is converted anyway.
    const data = msg.length > 1500 ? msg.subarray(0, 1501) : msg;
    onPayload({
      data: data.toString("latin1"),
      srcIp: plainAddress(rinfo.address),
      srcPort: rinfo.port,
      dstIp: "0.0.0.0",
      dstPort: port,
      transport: "udp",
    });
  });
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.bind({ port, address: ipv6 ? "::" : "0.0.0.0" }, () => {
      sock.off("error", reject);
      resolve();
    });
  });
  sock.on("error", () => undefined);
  return {
    description: `UDP server on port ${port}${ipv6 ? " (IPv4 and IPv6)" : ""}`,
    close: () =>
      new Promise<void>((resolve) => {
        sock.close(() => {
          resolve();
        });
      }),
  };
}
