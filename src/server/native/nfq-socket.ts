/**
 * A netfilter netlink socket (AF_NETLINK, NETLINK_NETFILTER) through libc via koffi, for the
 * NFQUEUE reader (listen/nfq-reader-main.ts): open, bind a queue (with the kernel's acks checked),
 * receive blocking with a timeout, send verdicts. Messages are built and read in
 * listen/nfq-netlink.ts. Linux, little-endian, LP64 only (struct timeval of two longs).
 */
import { arch, endianness, platform } from "node:os";
import { errnoText } from "../../errno.js";
import { EnvironmentError } from "../../errors.js";
import {
  NETLINK_NETFILTER,
  NF_DROP,
  batchVerdictRequest,
  bindRequest,
  decodeMessages,
  paramsRequest,
  type NetlinkMessage,
} from "../listen/nfq-netlink.js";
import {
  IOVEC_SIZE,
  MMSGHDR_SIZE,
  MMSG_LEN,
  MSG_FLAGS,
  MSG_IOV,
  MSG_IOVLEN,
  MSG_TRUNC,
  MSG_WAITFORONE,
  loadLibc,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVTIMEO,
  type Libc,
} from "../listen/recvmmsg.js";
import { ownCredentials } from "../privsep/credentials.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_NETLINK = 270;
const NETLINK_NO_ENOBUFS = 5;
export const EAGAIN = 11;
const EINTR = 4;
const ENOBUFS = 105;
const EPERM = 1;
const EBUSY = 16;
const EINVAL = 22;
const EPROTONOSUPPORT = 93;
/** Receive buffer: a burst of queued packets waits here, not in the kernel's drop path. */
const RCVBUF = 4 << 20;

/**
 * libc as the recvmmsg listener binds it (listen/recvmmsg.ts: the same calls, and the struct
 * layouts the batched receive below relies on, checked there), or why not here.
 */
function bindLibc(): Libc | string {
  if (platform() !== "linux" || endianness() !== "LE" || !["x64", "arm64"].includes(arch()))
    return `NFQUEUE capture is built for little-endian 64-bit Linux, not ${platform()}/${arch()}`;
  return loadLibc();
}

/** sockaddr_nl of the kernel (pid 0, no groups). */
const KERNEL = Buffer.alloc(12);
KERNEL.writeUInt16LE(AF_NETLINK, 0);

function int(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return b;
}

const CAP_NET_ADMIN = 12n;

/** Does this process hold CAP_NET_ADMIN (CapEff in /proc/self/status)? */
function hasNetAdmin(): boolean {
  try {
    return ((BigInt(`0x${ownCredentials().capEff}`) >> CAP_NET_ADMIN) & 1n) === 1n;
  } catch {
    return process.geteuid?.() === 0;
  }
}

/** What the kernel's refusal to bind means, with the fix. */
function bindRefusal(queue: number, errno: number): string {
  // The kernel answers EPERM both without CAP_NET_ADMIN and for a queue bound by another socket:
  // told apart by this process's own capabilities (root in a container may lack it).
  if (errno === EPERM && !hasNetAdmin())
    return `binding NFQUEUE queue ${queue} needs CAP_NET_ADMIN: run fwknopd as root, with CAP_NET_ADMIN`;
  if (errno === EPERM || errno === EBUSY)
    return `NFQUEUE queue ${queue} is held by another process (a second fwknopd?): stop it, or set another NFQ_QUEUE_NUMBER`;
  if (errno === EINVAL || errno === EPROTONOSUPPORT)
    return `the kernel has no nfnetlink_queue (${errnoText(errno)}): modprobe nfnetlink_queue`;
  return `binding NFQUEUE queue ${queue} failed: ${errnoText(errno)}`;
}

/** Datagrams per recvmmsg call, and room for each: a queued packet's message is ~1,700 bytes. */
export const RECV_BATCH = 64;
const SLOT = 4096;

/**
 * The memory recvmmsg fills, made once: RECV_BATCH mmsghdr (struct layouts as recvmmsg.ts
 * checks them), each with one iovec onto its own SLOT; no address, no control data.
 */
class Batch {
  private readonly ptr: unknown;
  readonly bytes: Buffer;
  private readonly slots: number;

  constructor(private readonly c: Libc) {
    const iovs = RECV_BATCH * MMSGHDR_SIZE;
    this.slots = iovs + RECV_BATCH * IOVEC_SIZE;
    const size = this.slots + RECV_BATCH * SLOT;
    this.ptr = c.koffi.alloc("uint8_t", size);
    this.bytes = Buffer.from(c.koffi.view(this.ptr, size));
    this.bytes.fill(0);
    const base = c.koffi.address(this.ptr);
    for (let i = 0; i < RECV_BATCH; i++) {
      const h = i * MMSGHDR_SIZE;
      const iov = iovs + i * IOVEC_SIZE;
      this.bytes.writeBigUInt64LE(base + BigInt(iov), h + MSG_IOV);
      this.bytes.writeBigUInt64LE(1n, h + MSG_IOVLEN);
      this.bytes.writeBigUInt64LE(base + BigInt(this.slots + i * SLOT), iov);
      this.bytes.writeBigUInt64LE(BigInt(SLOT), iov + 8);
    }
  }

  /** Up to RECV_BATCH datagrams, waiting for the first (SO_RCVTIMEO); a count or -errno. */
  receive(fd: number): number {
    const n = this.c.recvmmsg(fd, this.ptr, RECV_BATCH, MSG_WAITFORONE, null);
    return n >= 0 ? n : -this.c.koffi.errno();
  }

  /** The i-th datagram of the last receive (null if it did not fit its slot). */
  datagram(i: number): Buffer | null {
    const h = i * MMSGHDR_SIZE;
    if ((this.bytes.readInt32LE(h + MSG_FLAGS) & MSG_TRUNC) !== 0) return null;
    const len = this.bytes.readUInt32LE(h + MMSG_LEN);
    const at = this.slots + i * SLOT;
    return this.bytes.subarray(at, at + Math.min(len, SLOT));
  }

  free(): void {
    this.c.koffi.free(this.ptr);
  }
}

export class NfqSocket {
  private batch: Batch | null = null;

  private seq = 1;

  private constructor(
    private readonly c: Libc,
    private readonly fd: number,
    readonly queue: number,
  ) {}

  /** Open, bind `queue`, set the copy range and queue length; an EnvironmentError says why not. */
  static open(o: {
    queue: number;
    copyRange: number;
    maxLen: number;
    timeoutUs: number;
  }): NfqSocket {
    const c = bindLibc();
    if (typeof c === "string") throw new EnvironmentError(c);
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) throw new EnvironmentError(bindRefusal(o.queue, c.koffi.errno()));
    const s = new NfqSocket(c, fd, o.queue);
    try {
      const local = Buffer.alloc(12);
      local.writeUInt16LE(AF_NETLINK, 0);
      if (c.bind(fd, local, 12) !== 0)
        throw new EnvironmentError(`netlink bind failed: ${errnoText(c.koffi.errno())}`);
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(BigInt(Math.floor(o.timeoutUs / 1e6)), 0);
      tv.writeBigInt64LE(BigInt(o.timeoutUs % 1e6), 8);
      c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
      c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int(RCVBUF), 4);
      // A full receive buffer drops packets (they are never verdicted ACCEPT): no error for it.
      c.setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, int(1), 4);
      s.request(bindRequest(o.queue, s.seq++));
      s.request(paramsRequest(o.queue, s.seq++, o.copyRange, o.maxLen));
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /** Send one request and wait for its ack; packets arriving meanwhile are not expected yet. */
  private request(msg: Buffer): void {
    const seq = msg.readUInt32LE(8);
    this.send(msg);
    const buf = Buffer.alloc(8192);
    for (let tries = 0; tries < 16; tries++) {
      const got = this.recv(buf, 0);
      if (typeof got === "number") {
        if (got === EAGAIN) continue;
        throw new EnvironmentError(`netlink receive failed: ${errnoText(got)}`);
      }
      const ms = decodeMessages(got);
      if (typeof ms === "string") throw new EnvironmentError(`netlink answer: ${ms}`);
      // A packet queued between our requests is dropped here: nothing reads it yet.
      for (const m of ms)
        if (m.kind === "packet") this.send(batchVerdictRequest(this.queue, m.id, NF_DROP));
      const ack = ms.find((m) => m.kind === "ack" && m.seq === seq);
      if (ack?.kind === "ack") {
        if (ack.errno !== 0) throw new EnvironmentError(bindRefusal(this.queue, ack.errno));
        return;
      }
    }
    throw new EnvironmentError(
      `no answer from the kernel to NFQUEUE set-up of queue ${this.queue}`,
    );
  }

  send(msg: Buffer): void {
    for (;;) {
      if (this.c.sendto(this.fd, msg, msg.length, 0, KERNEL, 12) >= 0) return;
      const e = this.c.koffi.errno();
      if (e !== EINTR) throw new EnvironmentError(`netlink send failed: ${errnoText(e)}`);
    }
  }

  /** One datagram into `buf` (a view of it), or an errno: EAGAIN on timeout or nothing waiting. */
  recv(buf: Buffer, flags: number): Buffer | number {
    const n = this.c.recv(this.fd, buf, buf.length, flags);
    if (n >= 0) return buf.subarray(0, n);
    const e = this.c.koffi.errno();
    // ENOBUFS: the kernel could not deliver some (dropped) packets; EINTR: a signal.
    return e === EINTR || e === ENOBUFS ? EAGAIN : e;
  }

  /**
   * Up to RECV_BATCH datagrams in one call (recvmmsg, waiting for the first up to the timeout):
   * each handed to `each`; returns how many, or an errno (EAGAIN: none came).
   */
  receiveBatch(each: (datagram: Buffer) => void): number | { errno: number } {
    this.batch ??= new Batch(this.c);
    const n = this.batch.receive(this.fd);
    if (n < 0) {
      const e = -n;
      return { errno: e === EINTR || e === ENOBUFS ? EAGAIN : e };
    }
    for (let i = 0; i < n; i++) {
      const d = this.batch.datagram(i);
      if (d !== null) each(d);
    }
    return n;
  }

  close(): void {
    this.batch?.free();
    this.c.close(this.fd);
  }
}

export type { NetlinkMessage };
