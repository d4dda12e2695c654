/**
 * UDP server with the contract of udp.ts, taking datagrams from the kernel in batches. Node's
 * dgram pays one recvmsg and one JS callback per datagram, which caps a junk flood at ~158k
 * datagrams per CPU-second before any HMAC is computed. Here recvmmsg(2) runs through koffi:
 * blocking on a libuv pool thread while the queue is empty, so one callback serves up to BATCH
 * datagrams, and without blocking from the main thread while datagrams keep coming (see
 * BatchReceiver).
 *
 * While the queue is empty, the blocking call holds one libuv pool thread (UV_THREADPOOL_SIZE, 4
 * by default), RECV_TIMEOUT_MS at a time; fs, dns.lookup and async crypto share the others.
 *
 * Linux on x86_64 and aarch64 only (checked layouts below). Anywhere else, or without koffi or
 * libc, listenUdpBatch returns why, and the daemon uses udp.ts.
 */
import { arch, endianness, platform } from "node:os";
import { getSystemErrorMap } from "node:util";
import type { KoffiFunc } from "koffi";
import { EnvironmentError } from "../../errors.js";
import { loadKoffi, type Koffi } from "../native/koffi.js";
import {
  AF_INET,
  AF_INET6,
  SOCKADDR_IN6_LEN,
  SOCKADDR_IN_LEN,
  ipv4Text,
  sockaddrAddress,
  sockaddrIpv4,
  sockaddrPort,
} from "./sockaddr.js";
import type { Listener, OnPayload } from "./types.js";

/** Datagrams per recvmmsg call. */
const BATCH = 64;
/** Room for one datagram: more than 1500, so that an over-long one still reads as over-long. */
const PAYLOAD_BYTES = 1536;
/** What udp.ts hands on at most: 1501 bytes of anything longer, which the pipeline refuses. */
const MAX_DATA = 1500;
const RECV_BUFFER_BYTES = 8 << 20;
/** How long close() may wait for the blocked call to come back (SO_RCVTIMEO). */
const RECV_TIMEOUT_MS = 200;
/** Non-blocking batches taken in a row before the event loop gets a turn. */
const MAX_SYNC_DRAINS = 8;
/** While datagrams flow, how long the queue is left to fill between non-blocking calls. */
const POLL_MS = 1;
/** Pause after an unexpected receive error, so a broken socket cannot spin the loop. */
const ERROR_BACKOFF_MS = 100;

// <sys/socket.h>, <netinet/in.h>, <asm-generic/errno*.h>: the same on x86_64 and aarch64 Linux.
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
// SO_RCVTIMEO_OLD, which is SO_RCVTIMEO where long is 64 bits: a struct timeval of two longs.
const SO_RCVTIMEO = 20;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const MSG_WAITFORONE = 0x10000;
const EAGAIN = 11;
const EINTR = 4;

// LP64 layouts of struct msghdr (56 bytes), struct mmsghdr (64) and struct iovec (16), as the
// kernel reads them (include/linux/socket.h: user_msghdr, mmsghdr); checked with koffi at load.
const MSG_NAME = 0;
const MSG_NAMELEN = 8;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_FLAGS = 48;
const MMSG_LEN = 56;
const MMSGHDR_SIZE = 64;
const IOVEC_SIZE = 16;
/** One sockaddr_in6 per message, 8-byte aligned. */
const NAME_SLOT = 32;

const IOVS = BATCH * MMSGHDR_SIZE;
const NAMES = IOVS + BATCH * IOVEC_SIZE;
const PAYLOADS = NAMES + BATCH * NAME_SLOT;
const REGION_BYTES = PAYLOADS + BATCH * PAYLOAD_BYTES;

type Pointer = unknown;

interface Libc {
  koffi: Koffi;
  socket: KoffiFunc<(domain: number, type: number, protocol: number) => number>;
  setsockopt: KoffiFunc<
    (fd: number, level: number, name: number, value: Buffer, len: number) => number
  >;
  bind: KoffiFunc<(fd: number, addr: Buffer, len: number) => number>;
  close: KoffiFunc<(fd: number) => number>;
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
    MSG_FLAGS,
    MMSG_LEN,
    MMSGHDR_SIZE,
    IOVEC_SIZE,
  ];
  return seen.every((x, i) => x === want[i])
    ? null
    : `struct msghdr/mmsghdr layout is not the LP64 one (${seen.join(",")})`;
}

function loadLibc(): Libc | string {
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
      recvmmsg: lib.func("int recvmmsg(int, void *, unsigned int, int, void *)"),
      ifIndexToName: lib.func("void *if_indextoname(unsigned int, void *)"),
    };
  } catch (e) {
    libc = `libc could not be loaded through koffi (${(e as Error).message.split("\n")[0]})`;
  }
  return libc;
}

/** "bind EADDRINUSE: address already in use :::62201", as Node words a failed listen(). */
function sysError(c: Libc, syscall: string, where: string): EnvironmentError {
  const errno = c.koffi.errno();
  const [name, text] = getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, "unknown error"];
  return new EnvironmentError(`${syscall} ${name}: ${text} ${where}`);
}

function openSocket(c: Libc, port: number, ipv6: boolean): number {
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
 * The one memory region recvmmsg fills, made once: BATCH mmsghdr, each with one iovec onto its
 * own payload slot and its own sockaddr slot. Only msg_namelen needs resetting between calls (it
 * is value-result, recvmsg(2)).
 */
class Region {
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
      v.setBigUint64(iov, base + BigInt(PAYLOADS + i * PAYLOAD_BYTES), true);
      v.setBigUint64(iov + 8, BigInt(PAYLOAD_BYTES), true);
    }
  }

  free(): void {
    this.k.free(this.ptr);
  }
}

/** What the receive loop does after a round: see BatchReceiver. */
type Next = "wait" | "soon" | "now" | "pause";

/**
 * The receive loop. While nothing is queued it waits in recvmmsg on a pool thread (MSG_WAITFORONE,
 * SO_RCVTIMEO). Once datagrams flow it takes them from the main thread without blocking, a full
 * batch again after the event loop has had a turn, a partial one again after POLL_MS, until a call
 * finds the queue empty. Each trip through the pool wakes two threads, which costs about 30 us of
 * CPU on the 2-vCPU VM the benches run on (as much as ten junk packets); a timer costs the main
 * thread one wakeup, and at 20,000 datagrams a second it takes ~20 per wakeup.
 */
class BatchReceiver {
  private stopping = false;
  private lastIpv4 = -1;
  private lastIpv4Text = "";
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private resolveStopped: () => void = () => undefined;
  readonly stopped = new Promise<void>((resolve) => {
    this.resolveStopped = resolve;
  });
  private readonly ifName = Buffer.alloc(16);
  private readonly interfaceName = (index: number): string => {
    this.ifName.fill(0);
    if (this.c.ifIndexToName(index, this.ifName) === null) return String(index);
    const end = this.ifName.indexOf(0);
    return this.ifName.toString("latin1", 0, end < 0 ? this.ifName.length : end);
  };

  constructor(
    private readonly c: Libc,
    private readonly fd: number,
    private readonly region: Region,
    private readonly port: number,
    private readonly onPayload: OnPayload,
  ) {}

  start(): void {
    this.wait();
  }

  /** No new round starts; `stopped` settles once no call is in flight. */
  stop(): void {
    this.stopping = true;
    if (this.timer === null && this.immediate === null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.resolveStopped();
  }

  private schedule(next: Next): void {
    if (this.stopping) {
      this.resolveStopped();
      return;
    }
    switch (next) {
      case "wait":
        this.wait();
        return;
      case "soon":
        this.timer = setTimeout(this.poll, POLL_MS);
        return;
      case "now":
        this.immediate = setImmediate(this.poll);
        return;
      case "pause":
        this.timer = setTimeout(this.wait, ERROR_BACKOFF_MS);
        return;
    }
  }

  private readonly wait = (): void => {
    this.timer = null;
    if (this.stopping) {
      this.resolveStopped();
      return;
    }
    this.c.recvmmsg.async(this.fd, this.region.ptr, BATCH, MSG_WAITFORONE, null, this.onWaited);
  };

  private readonly onWaited = (err: unknown, n: number): void => {
    if (err !== null && err !== undefined) {
      // koffi could not make the call at all: a bug here, not a socket condition.
      this.resolveStopped();
      throw err instanceof Error ? err : new Error("koffi: recvmmsg call failed", { cause: err });
    }
    let next: Next = "wait";
    try {
      // A failed wait is asked again from here, where its errno can be read (takeSome).
      if (n <= 0) next = this.takeSome();
      else {
        this.deliver(n);
        next = n < BATCH ? "soon" : this.takeSome();
      }
    } finally {
      this.schedule(next);
    }
  };

  private readonly poll = (): void => {
    this.timer = null;
    this.immediate = null;
    let next: Next = "wait";
    try {
      next = this.takeSome();
    } finally {
      this.schedule(next);
    }
  };

  /**
   * Up to MAX_SYNC_DRAINS batches without blocking, while each comes back full. The pool thread's
   * errno stays on that thread, so an empty queue is told from a broken socket here: EAGAIN is an
   * empty queue (or the receive timeout), EINTR a signal (never restarted when SO_RCVTIMEO is set,
   * signal(7)); anything else pauses the loop.
   */
  private takeSome(): Next {
    for (let i = 0; i < MAX_SYNC_DRAINS && !this.stopping; i++) {
      const n = this.c.recvmmsg(this.fd, this.region.ptr, BATCH, MSG_DONTWAIT, null);
      if (n < 0) {
        const errno = this.c.koffi.errno();
        return errno === EAGAIN || errno === EINTR ? "wait" : "pause";
      }
      this.deliver(n);
      if (n < BATCH) return "soon";
    }
    return "now";
  }

  /** The source text, kept for the last IPv4 source: a flood mostly comes from one address. */
  private source(name: number): string {
    const v4 = sockaddrIpv4(this.region.view, name);
    if (v4 < 0) return sockaddrAddress(this.region.view, name, this.interfaceName);
    if (v4 !== this.lastIpv4) {
      this.lastIpv4 = v4;
      this.lastIpv4Text = ipv4Text(v4);
    }
    return this.lastIpv4Text;
  }

  private deliver(n: number): void {
    const { view, bytes, nameLen } = this.region;
    for (let i = 0; i < n && !this.stopping; i++) {
      const h = i * MMSGHDR_SIZE;
      const name = NAMES + i * NAME_SLOT;
      const start = PAYLOADS + i * PAYLOAD_BYTES;
      const len = view.getUint32(h + MMSG_LEN, true);
      // Longer than its slot, a datagram is cut to it and flagged MSG_TRUNC (recvmsg(2)); either
      // way, anything over 1500 is handed on as 1501 bytes, as udp.ts does, to be refused.
      const over = len > MAX_DATA || (view.getInt32(h + MSG_FLAGS, true) & MSG_TRUNC) !== 0;
      const data = bytes.toString("latin1", start, start + (over ? MAX_DATA + 1 : len));
      const srcIp = this.source(name);
      const srcPort = sockaddrPort(view, name);
      view.setUint32(h + MSG_NAMELEN, nameLen, true);
      this.onPayload({
        data,
        srcIp,
        srcPort,
        dstIp: "0.0.0.0",
        dstPort: this.port,
        transport: "udp",
      });
    }
  }
}

/**
 * The batched UDP listener, or why it cannot be used here (then use udp.ts). Throws
 * EnvironmentError when the socket cannot be set up (the port is taken, say).
 */
export function listenUdpBatch(
  port: number,
  ipv6: boolean,
  onPayload: OnPayload,
): Listener | string {
  const c = loadLibc();
  if (typeof c === "string") return c;
  let region: Region;
  try {
    region = new Region(c.koffi, ipv6 ? SOCKADDR_IN6_LEN : SOCKADDR_IN_LEN);
  } catch (e) {
    return `no memory for recvmmsg through koffi (${(e as Error).message.split("\n")[0]})`;
  }
  let fd: number;
  try {
    fd = openSocket(c, port, ipv6);
  } catch (e) {
    region.free();
    throw e;
  }
  const rx = new BatchReceiver(c, fd, region, port, onPayload);
  rx.start();
  let closed: Promise<void> | null = null;
  return {
    description: `UDP server on port ${port}${ipv6 ? " (IPv4 and IPv6)" : ""}, recvmmsg batches of ${BATCH}`,
    close: () =>
      (closed ??= (async () => {
        rx.stop();
        await rx.stopped;
        c.close(fd);
        region.free();
      })()),
  };
}
