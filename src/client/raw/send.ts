/**
 * Sending a raw-mode packet (-P udpraw, tcpraw, icmp): socket(AF_INET, SOCK_RAW, IPPROTO_RAW) with
 * IP_HDRINCL, then one sendto() of the packet packet.ts built (client/spa_comm.c:send_spa_packet
 * and its three raw senders). Node has no raw sockets, so libc is called through koffi, the FFI
 * the daemon already uses. Both are loaded only from here, and this module only when a raw mode
 * is asked for (cli/fwknop.ts), so every other knock starts as before (bench/client.ts).
 *
 * A raw socket needs root (CAP_NET_RAW). C only says "create socket:" then (its errno text is
 * lost to a missing %s); we say what needs root and what to use instead, exit 1, send nothing.
 * IPv4 only, as C: it resolves the server with AF_INET and builds IPv4 headers.
 */
import type * as KoffiModule from "koffi";
import type { KoffiFunc } from "koffi";
import { errnoText } from "../../errno.js";
import { EnvironmentError, UsageError, messageOf } from "../../errors.js";
import type { RandomBytes } from "../../spa/index.js";
import type { RawProto } from "../config.js";
import { ipFamily } from "../ip-literal.js";
import { resolveServer } from "../transport.js";
import { buildRawPacket } from "./packet.js";

// <sys/socket.h>, <netinet/in.h>: the same numbers on every Linux ABI for these.
const AF_INET = 2;
const SOCK_RAW = 3;
const IPPROTO_IP = 0;
const IPPROTO_RAW = 255;
const IP_HDRINCL = 3;
const SOCKADDR_IN_LEN = 16;

export interface RawSendRequest {
  mode: RawProto;
  host: string;
  port: number;
  sourcePort: number;
  /** -Q, or null: the kernel writes the outgoing interface's address. */
  spoofSource: string | null;
  icmpType: number;
  icmpCode: number;
}

interface RawLibc {
  koffi: typeof KoffiModule;
  socket: KoffiFunc<(domain: number, type: number, protocol: number) => number>;
  setsockopt: KoffiFunc<
    (fd: number, level: number, name: number, value: Buffer, len: number) => number
  >;
  sendto: KoffiFunc<
    (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number) => number
  >;
  close: KoffiFunc<(fd: number) => number>;
}

const instead = "use -P udp, tcp or http";

/** libc through koffi, or why not: koffi missing or its binary not loading for this machine. */
function loadLibc(mode: RawProto): RawLibc {
  let k: typeof KoffiModule;
  let lib: ReturnType<typeof KoffiModule.load>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    k = require("koffi") as typeof KoffiModule;
    lib = k.load("libc.so.6");
  } catch (e) {
    throw new EnvironmentError(
      `-P ${mode} needs raw sockets, which are not available here (koffi could not be loaded: ${
        messageOf(e).split("\n")[0] ?? ""
      }); ${instead}`,
    );
  }
  return {
    koffi: k,
    socket: lib.func("int socket(int, int, int)"),
    setsockopt: lib.func("int setsockopt(int, int, int, const void *, uint32_t)"),
    sendto: lib.func("long sendto(int, const void *, size_t, int, const void *, uint32_t)"),
    close: lib.func("int close(int)"),
  };
}

/** struct sockaddr_in: the family in host byte order, port and address in network byte order. */
function sockaddrIn(address: string, port: number): Buffer {
  const sa = Buffer.alloc(SOCKADDR_IN_LEN);
  Buffer.from(new Uint16Array([AF_INET]).buffer).copy(sa, 0);
  sa.writeUInt16BE(port, 2);
  address.split(".").forEach((p, i) => (sa[4 + i] = Number(p)));
  return sa;
}

/** The server's IPv4 address: an IPv4 literal, or a name's IPv4 address (C asks AF_INET only). */
async function ipv4Server(mode: RawProto, host: string): Promise<string> {
  if (ipFamily(host) === 6)
    throw new UsageError(`-P ${mode} is IPv4 only (as in C fwknop); ${instead} for ${host}`, "-P");
  const r = await resolveServer(host);
  if (r.family !== 4)
    throw new EnvironmentError(`-P ${mode}: '${host}' has no IPv4 address; ${instead}`);
  return r.address;
}

/** Builds and sends the packet; returns the bytes sent, headers included (as C reports them). */
export async function sendRaw(
  req: RawSendRequest,
  wire: string,
  random: RandomBytes,
): Promise<number> {
  const address = await ipv4Server(req.mode, req.host);
  const c = loadLibc(req.mode);
  const fd = c.socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) {
    const errno = c.koffi.errno();
    throw new EnvironmentError(
      `-P ${req.mode} builds its packet on a raw socket, which needs root (CAP_NET_RAW): ` +
        `socket: ${errnoText(errno)}. Run as root, or ${instead}; nothing was sent.`,
    );
  }
  try {
    const packet = buildRawPacket(
      {
        mode: req.mode,
        source: req.spoofSource ?? "0.0.0.0",
        destination: address,
        sourcePort: req.sourcePort,
        destinationPort: req.port,
        icmpType: req.icmpType,
        icmpCode: req.icmpCode,
        payload: Buffer.from(wire, "latin1"),
      },
      random,
    );
    // IPPROTO_RAW implies it (raw(7)); C sets it anyway, and so do we.
    const one = Buffer.alloc(4);
    one.writeInt32LE(1);
    if (c.setsockopt(fd, IPPROTO_IP, IP_HDRINCL, one, one.length) < 0)
      throw new EnvironmentError(
        `-P ${req.mode}: setsockopt IP_HDRINCL: ${errnoText(c.koffi.errno())}`,
      );
    const addr = sockaddrIn(address, req.port);
    const n = c.sendto(fd, packet, packet.length, 0, addr, addr.length);
    if (n < 0)
      throw new EnvironmentError(
        `-P ${req.mode}: sendto ${address}: ${errnoText(c.koffi.errno())}; packet not sent`,
      );
    return n;
  } finally {
    c.close(fd);
  }
}
