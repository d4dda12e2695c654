/**
 * libc's recvmmsg(2) through koffi, for udp-batch.ts: the bindings, the LP64 struct layouts
 * (hard-coded for the hot path, checked against koffi's own offsetof/sizeof at load, so a
 * mismatch is a reason to fall back, never a wrong read), the socket set-up, and the one memory
 * region the kernel fills.
 *
 * Linux on x86_64 and aarch64 only. Anywhere else, or without koffi or libc, loadLibc returns why.
 */
import { arch, endianness, platform } from "node:os";
import type { KoffiFunc } from "koffi";
import { errnoText } from "../../errno.js";
import { EnvironmentError, messageOf } from "../../errors.js";
import { loadKoffi, type Koffi } from "../native/koffi.js";
import { AF_INET, AF_INET6, SOCKADDR_IN6_LEN, SOCKADDR_IN_LEN } from "./sockaddr.js";

/** Datagrams per recvmmsg call. */
export const BATCH = 64;
/** Room for one datagram: more than 1500, so that an over-long one still reads as over-long. */
export const PAYLOAD_BYTES = 1536;
const RECV_BUFFER_BYTES = 8 << 20;
/** How long close() may wait for the blocked call to come back (SO_RCVTIMEO). */
const RECV_TIMEOUT_MS = 200;

// <sys/socket.h>, <netinet/in.h>, <asm-generic/errno*.h>: the same on x86_64 and aarch64 Linux.
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
// SO_RCVTIMEO_OLD, which is SO_RCVTIMEO where long is 64 bits: a struct timeval of two longs.
export const SO_RCVTIMEO = 20;
// SO_TIMESTAMPNS_OLD (asm-generic/socket.h): a struct timespec of two 64-bit longs per datagram,
// the kernel's receive time on CLOCK_REALTIME, in a control message of this type.
const SO_TIMESTAMPNS = 35;
export const SCM_TIMESTAMPNS = SO_TIMESTAMPNS;
export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
// <linux/in.h>, <linux/in6.h>: the address each datagram was sent to, in a control message:
// IP_PKTINFO (struct in_pktinfo: ifindex, spec_dst, addr; the header's destination at 8) and
// IPV6_RECVPKTINFO, which brings IPV6_PKTINFO (struct in6_pktinfo: addr, ifindex at 16), also for
// IPv4 datagrams on a dual-stack socket, as a mapped address (net/ipv6/datagram.c).
export const IP_PKTINFO = 8;
export const IN_PKTINFO_ADDR = 8;
const IPV6_RECVPKTINFO = 49;
export const IPV6_PKTINFO = 50;
export const IN6_PKTINFO_IFINDEX = 16;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_WAITFORONE = 0x10000;
export const EAGAIN = 11;
export const EINTR = 4;

// LP64 layouts of struct msghdr (56 bytes), struct mmsghdr (64) and struct iovec (16), as the
// kernel reads them (include/linux/socket.h: user_msghdr, mmsghdr); checked with koffi at load.
const MSG_NAME = 0;
export const MSG_NAMELEN = 8;
export const MSG_IOV = 16;
export const MSG_IOVLEN = 24;
const MSG_CONTROL = 32;
export const MSG_CONTROLLEN = 40;
export const MSG_FLAGS = 48;
export const MMSG_LEN = 56;
export const MMSGHDR_SIZE = 64;
export const IOVEC_SIZE = 16;
/** One sockaddr_in6 per message, 8-byte aligned. */
export const NAME_SLOT = 32;
/**
 * Room for two control messages: CMSG_SPACE(sizeof(struct timespec)) = 32 (a 16-byte cmsghdr:
 * cmsg_len, cmsg_level, cmsg_type, then the timespec) and CMSG_SPACE(sizeof(struct in6_pktinfo))
 * = 40 (in_pktinfo needs 32).
 */
export const CONTROL_SLOT = 72;
export const CMSG_HEADER = 16;
export const CMSG_LEVEL = 8;
export const CMSG_TYPE = 12;
export const CMSG_DATA = 16;

const IOVS = BATCH * MMSGHDR_SIZE;
export const NAMES = IOVS + BATCH * IOVEC_SIZE;
export const PAYLOADS = NAMES + BATCH * NAME_SLOT;
export const CONTROLS = PAYLOADS + BATCH * PAYLOAD_BYTES;
const REGION_BYTES = CONTROLS + BATCH * CONTROL_SLOT;

export type Pointer = unknown;

export interface Libc {
  koffi: Koffi;
  socket: KoffiFunc<(domain: number, type: number, protocol: number) => number>;
  setsockopt: KoffiFunc<
    (fd: number, level: number, name: number, value: Buffer, len: number) => number
  >;
  bind: KoffiFunc<(fd: number, addr: Buffer, len: number) => number>;
  close: KoffiFunc<(fd: number) => number>;
  /** For the NFQUEUE socket (native/nfq-socket.ts): requests and verdicts, and their acks. */
  sendto: KoffiFunc<
    (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number) => number
  >;
  recv: KoffiFunc<(fd: number, buf: Buffer, len: number, flags: number) => number>;
  recvmmsg: KoffiFunc<
    (fd: number, vec: Pointer, vlen: number, flags: number, timeout: null) => number
  >;
  ifIndexToName: KoffiFunc<(index: number, name: Buffer) => Pointer>;
}

let libc: Libc | string | undefined;

/** koffi's own idea of the C layouts here: must agree with the offsets above. */
function layoutProblem(k: Koffi): string | null {
  const msghdr = k.struct({
    msg_name: "void *",
    msg_namelen: "uint32_t",
    msg_iov: "void *",
    msg_iovlen: "size_t",
    msg_control: "void *",
    msg_controllen: "size_t",
    msg_flags: "int",
  });
  const mmsghdr = k.struct({ msg_hdr: msghdr, msg_len: "uint32_t" });
  const iovec = k.struct({ iov_base: "void *", iov_len: "size_t" });
  const seen = [
    k.sizeof(msghdr),
    k.offsetof(msghdr, "msg_namelen"),
    k.offsetof(msghdr, "msg_iov"),
    k.offsetof(msghdr, "msg_iovlen"),
    k.offsetof(msghdr, "msg_control"),
    k.offsetof(msghdr, "msg_controllen"),
    k.offsetof(msghdr, "msg_flags"),
    k.offsetof(mmsghdr, "msg_len"),
    k.sizeof(mmsghdr),
    k.sizeof(iovec),
  ];
  const want = [
    56,
    MSG_NAMELEN,
    MSG_IOV,
    MSG_IOVLEN,
    MSG_CONTROL,
    MSG_CONTROLLEN,
    MSG_FLAGS,
    MMSG_LEN,
    MMSGHDR_SIZE,
    IOVEC_SIZE,
  ];
  return seen.every((x, i) => x === want[i])
    ? null
    : `struct msghdr/mmsghdr layout is not the LP64 one (${seen.join(",")})`;
}

export function loadLibc(): Libc | string {
  if (libc !== undefined) return libc;
  const here = `${platform()}/${arch()}`;
  if (!["linux/x64", "linux/arm64"].includes(here) || endianness() !== "LE") {
    libc = `recvmmsg struct layouts are not verified for ${here}`;
    return libc;
  }
  const k = loadKoffi();
  if (typeof k === "string") {
    libc = k;
    return libc;
  }
  try {
    const problem = layoutProblem(k);
    if (problem !== null) {
      libc = problem;
      return libc;
    }
    const lib = k.load("libc.so.6");
    libc = {
      koffi: k,
      socket: lib.func("int socket(int, int, int)"),
      setsockopt: lib.func("int setsockopt(int, int, int, const void *, uint32_t)"),
      bind: lib.func("int bind(int, const void *, uint32_t)"),
      close: lib.func("int close(int)"),
      sendto: lib.func("long sendto(int, const void *, size_t, int, const void *, uint32_t)"),
      recv: lib.func("long recv(int, void *, size_t, int)"),
      recvmmsg: lib.func("int recvmmsg(int, void *, unsigned int, int, void *)"),
      ifIndexToName: lib.func("void *if_indextoname(unsigned int, void *)"),
    };
  } catch (e) {
    libc = `libc could not be loaded through koffi (${messageOf(e).split("\n")[0]})`;
  }
  return libc;
}

/** "bind EADDRINUSE: address already in use :::62201", as Node words a failed listen(). */
function sysError(c: Libc, syscall: string, where: string): EnvironmentError {
  return new EnvironmentError(`${syscall} ${errnoText(c.koffi.errno())} ${where}`);
}

export function openSocket(c: Libc, port: number, ipv6: boolean): number {
  const where = `${ipv6 ? "::" : "0.0.0.0"}:${port}`;
  const fd = c.socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sysError(c, "socket", where);
  try {
    const int = (value: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(value);
      return b;
    };
    const timeout = Buffer.alloc(16);
    timeout.writeBigInt64LE(BigInt(RECV_TIMEOUT_MS * 1000), 8);
    const options: [string, number, number, Buffer][] = [
      // Deep queue as udp.ts; Linux caps it at net.core.rmem_max.
      ["SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, int(RECV_BUFFER_BYTES)],
      // A blocked recvmmsg gives up with EAGAIN after this, so close() never waits for a packet.
      ["SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, timeout],
    ];
    if (ipv6) options.push(["IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY, int(0)]);
    // The receive time of each datagram, so that one that waited too long is dropped unread
    // (udp-batch.ts, STALE_MS). Without it every datagram reads as fresh.
    c.setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, int(1), 4);
    for (const [what, level, name, value] of options)
      if (c.setsockopt(fd, level, name, value, value.length) !== 0)
        throw sysError(c, `setsockopt ${what}`, where);
    const addr = Buffer.alloc(ipv6 ? SOCKADDR_IN6_LEN : SOCKADDR_IN_LEN);
    addr.writeUInt16LE(ipv6 ? AF_INET6 : AF_INET, 0);
    addr.writeUInt16BE(port, 2);
    if (c.bind(fd, addr, addr.length) !== 0) throw sysError(c, "bind", where);
    return fd;
  } catch (e) {
    c.close(fd);
    throw e;
  }
}

/**
 * Where the data of datagram i's control message of this level and type starts in the region,
 * or -1 when it has none (of at least `size` bytes). The kernel writes them one after another,
 * each at a CMSG_ALIGN (8-byte) boundary (CMSG_NXTHDR), within the msg_controllen it returned.
 */
export function controlData(
  view: DataView,
  i: number,
  level: number,
  type: number,
  size: number,
): number {
  const base = CONTROLS + i * CONTROL_SLOT;
  const end =
    base + Math.min(view.getUint32(i * MMSGHDR_SIZE + MSG_CONTROLLEN, true), CONTROL_SLOT);
  for (let c = base; c + CMSG_HEADER <= end;) {
    const len = view.getUint32(c, true);
    if (len < CMSG_HEADER || c + len > end) return -1;
    if (
      view.getInt32(c + CMSG_LEVEL, true) === level &&
      view.getInt32(c + CMSG_TYPE, true) === type &&
      len >= CMSG_HEADER + size
    )
      return c + CMSG_DATA;
    c += (len + 7) & ~7;
  }
  return -1;
}

/**
 * Whether each datagram comes with the address it was sent to (IP_PKTINFO, IPV6_RECVPKTINFO), for
 * ENABLE_DESTINATION_RULE and access.conf's DESTINATION. Off, it reads as 0.0.0.0, as in udp.ts
 * and C's UDP server. It is asked for only when something reads it, so the junk path stays as
 * it was (on a loaded 2-core VM, 100,000 datagrams cost 2.9-3.7 us each without it and 2.6-3.5
 * us with it: no difference the noise lets us see). Returns false when the kernel refused.
 */
export function askDestinations(c: Libc, fd: number, ipv6: boolean, on: boolean): boolean {
  const v = Buffer.alloc(4);
  v.writeInt32LE(on ? 1 : 0);
  return ipv6
    ? c.setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, v, 4) === 0
    : c.setsockopt(fd, IPPROTO_IP, IP_PKTINFO, v, 4) === 0;
}

/**
 * The one memory region recvmmsg fills, made once: BATCH mmsghdr, each with one iovec onto its
 * own payload slot, its own sockaddr slot and its own control slot. Only msg_namelen and
 * msg_controllen need resetting between calls (they are value-result, recvmsg(2)).
 */
export class Region {
  readonly ptr: Pointer;
  readonly view: DataView;
  readonly bytes: Buffer;

  constructor(
    private readonly k: Koffi,
    readonly nameLen: number,
  ) {
    this.ptr = k.alloc("uint8_t", REGION_BYTES);
    const memory = k.view(this.ptr, REGION_BYTES);
    this.view = new DataView(memory);
    this.bytes = Buffer.from(memory);
    this.bytes.fill(0);
    const base = k.address(this.ptr);
    const v = this.view;
    for (let i = 0; i < BATCH; i++) {
      const h = i * MMSGHDR_SIZE;
      const iov = IOVS + i * IOVEC_SIZE;
      v.setBigUint64(h + MSG_NAME, base + BigInt(NAMES + i * NAME_SLOT), true);
      v.setUint32(h + MSG_NAMELEN, nameLen, true);
      v.setBigUint64(h + MSG_IOV, base + BigInt(iov), true);
      v.setBigUint64(h + MSG_IOVLEN, 1n, true);
      v.setBigUint64(h + MSG_CONTROL, base + BigInt(CONTROLS + i * CONTROL_SLOT), true);
      v.setBigUint64(h + MSG_CONTROLLEN, BigInt(CONTROL_SLOT), true);
      v.setBigUint64(iov, base + BigInt(PAYLOADS + i * PAYLOAD_BYTES), true);
      v.setBigUint64(iov + 8, BigInt(PAYLOAD_BYTES), true);
    }
  }

  free(): void {
    this.k.free(this.ptr);
  }
}
