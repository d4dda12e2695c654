/**
 * UDP server (server/udp_server.c): one socket, nothing is ever sent back. Dual-stack when IPv6 is
 * on. Like C's UDP mode, the destination address is not known per datagram (recorded as 0.0.0.0).
 */
import { createSocket } from "node:dgram";
import { plainAddress, type Listener, type OnPayload } from "./types.js";

export async function listenUdp(
  port: number,
  ipv6: boolean,
  onPayload: OnPayload,
): Promise<Listener> {
  const sock = createSocket({ type: ipv6 ? "udp6" : "udp4", ipv6Only: false });
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
