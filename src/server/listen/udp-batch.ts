/**
 * UDP server with the contract of udp.ts, taking datagrams from the kernel in batches. Node's
 * dgram pays one recvmsg and one JS callback per datagram, which caps a junk flood at ~158k
 * datagrams per CPU-second before any HMAC is computed. Here recvmmsg(2) runs through koffi:
 * blocking on a libuv pool thread while the queue is empty, so one callback serves up to BATCH
 * datagrams, and without blocking from the main thread while datagrams keep coming (see
 * BatchReceiver).
 *
 * While the queue is empty, the blocking call holds one libuv pool thread (UV_THREADPOOL_SIZE, 4
 * by default), RECV_TIMEOUT_MS (recvmmsg.ts) at a time; fs, dns.lookup and async crypto share the
 * others.
 *
 * Linux on x86_64 and aarch64 only (layouts checked in recvmmsg.ts, which holds the koffi side).
 * Anywhere else, or without koffi or libc, listenUdpBatch returns why, and the daemon uses udp.ts.
 */
import {
  BATCH,
  controlData,
  CONTROL_SLOT,
  EAGAIN,
  EINTR,
  IN6_PKTINFO_IFINDEX,
  IN_PKTINFO_ADDR,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_PKTINFO,
  IP_PKTINFO,
  MMSGHDR_SIZE,
  MMSG_LEN,
  MSG_DONTWAIT,
  MSG_CONTROLLEN,
  MSG_FLAGS,
  MSG_NAMELEN,
  MSG_TRUNC,
  MSG_WAITFORONE,
  NAMES,
  NAME_SLOT,
  PAYLOADS,
  PAYLOAD_BYTES,
  Region,
  SCM_TIMESTAMPNS,
  askDestinations,
  SOL_SOCKET,
  loadLibc,
  openSocket,
  type Libc,
} from "./recvmmsg.js";
import {
  SOCKADDR_IN6_LEN,
  SOCKADDR_IN_LEN,
  in6Address,
  in6Ipv4,
  ipv4Text,
  sockaddrAddress,
  sockaddrIpv4,
  sockaddrPort,
} from "./sockaddr.js";
import { BEHIND_MS, SourceShare } from "./source-share.js";
import type { Listener, OnPayload } from "./types.js";
import { messageOf } from "../../errors.js";

/** What udp.ts hands on at most: 1501 bytes of anything longer, which the pipeline refuses. */
const MAX_DATA = 1500;
/** Non-blocking batches taken in a row before the event loop gets a turn. */
const MAX_SYNC_DRAINS = 8;
/** While datagrams flow, how long the queue is left to fill between non-blocking calls. */
const POLL_MS = 1;
/** Pause after an unexpected receive error, so a broken socket cannot spin the loop. */
const ERROR_BACKOFF_MS = 100;
/**
 * A datagram that waited longer than this in the socket's queue is dropped unread. A knock is
 * honoured within a second or not at all (issue 16): when SPA comes faster than the stanzas can
 * be tried (thousands of SOURCE ANY stanzas under a junk flood), the 8 MB queue would otherwise
 * hold tens of seconds of work, and every knock would wait behind all of it. Dropping the stale
 * part of the queue costs no HMAC, so the daemon catches up with what arrived last.
 */
export const STALE_MS = 500;
/**
 * Work per batch: fewer datagrams are asked for when each costs more (many stanzas), so that one
 * batch keeps the event loop for about this long, and grants, the broker and timers get turns.
 */
const TURN_MS = 20;

/**
 * Datagrams dropped unread in one batch: `stale` waited over STALE_MS, `shed` came from an
 * address over its share while the daemon was behind (source-share.ts).
 */
export type OnDropped = (stale: number, shed: number) => void;

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
  /** Set while IP_PKTINFO is asked for (askDestinations): else no control data is searched. */
  readsDestinations = false;
  private lastDstIpv4 = -1;
  private lastDstIpv4Text = "";
  private readonly share = new SourceShare();
  /** Milliseconds the last batches took per datagram (a moving average). */
  private costMs = 0;
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
    private readonly onDropped: OnDropped,
  ) {}

  /** How many datagrams to take at once: see TURN_MS. */
  private vlen(): number {
    return this.costMs * BATCH <= TURN_MS ? BATCH : Math.max(1, Math.floor(TURN_MS / this.costMs));
  }

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
    this.c.recvmmsg.async(
      this.fd,
      this.region.ptr,
      this.vlen(),
      MSG_WAITFORONE,
      null,
      this.onWaited,
    );
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
        const vlen = this.vlen();
        this.deliver(n);
        next = n < vlen ? "soon" : this.takeSome();
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
      const vlen = this.vlen();
      const n = this.c.recvmmsg(this.fd, this.region.ptr, vlen, MSG_DONTWAIT, null);
      if (n < 0) {
        const errno = this.c.koffi.errno();
        return errno === EAGAIN || errno === EINTR ? "wait" : "pause";
      }
      this.deliver(n);
      if (n < vlen) return "soon";
      if (this.costMs * n * (i + 1) > TURN_MS) return "now";
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

  /**
   * Milliseconds datagram i waited in the queue, by its SO_TIMESTAMPNS receive time; 0 without
   * one. CLOCK_REALTIME, as Date.now(): a clock stepped forward drops one queue's worth once.
   */
  private waitedMs(i: number, now: number): number {
    const { view } = this.region;
    const c = controlData(view, i, SOL_SOCKET, SCM_TIMESTAMPNS, 16);
    if (c < 0) return 0;
    const secs = view.getUint32(c, true) + view.getInt32(c + 4, true) * 2 ** 32;
    return now - (secs * 1000 + view.getUint32(c + 8, true) / 1e6);
  }

  /**
   * The address datagram i was sent to, from its IP_PKTINFO or IPV6_PKTINFO control message;
   * "0.0.0.0" without one (as udp.ts, and C's UDP server, which records its bound address).
   */
  private destination(i: number): string {
    const { view } = this.region;
    let v4: number;
    const c4 = controlData(view, i, IPPROTO_IP, IP_PKTINFO, 12);
    if (c4 >= 0) v4 = view.getUint32(c4 + IN_PKTINFO_ADDR);
    else {
      const c6 = controlData(view, i, IPPROTO_IPV6, IPV6_PKTINFO, 20);
      if (c6 < 0) return "0.0.0.0";
      v4 = in6Ipv4(view, c6);
      if (v4 < 0)
        return in6Address(
          view,
          c6,
          view.getInt32(c6 + IN6_PKTINFO_IFINDEX, true),
          this.interfaceName,
        );
    }
    if (v4 !== this.lastDstIpv4) {
      this.lastDstIpv4 = v4;
      this.lastDstIpv4Text = ipv4Text(v4);
    }
    return this.lastDstIpv4Text;
  }

  private deliver(n: number): void {
    const { view, nameLen } = this.region;
    const started = performance.now();
    let stale = 0;
    let shed = 0;
    for (let i = 0; i < n && !this.stopping; i++) {
      // Checked as each is reached, not once per batch: the batch itself may take a while.
      const now = Date.now();
      const waited = this.waitedMs(i, now);
      const source = waited > STALE_MS ? 0 : this.sourceKey(NAMES + i * NAME_SLOT);
      if (waited > STALE_MS) stale++;
      else if (!this.share.admit(source, waited > BEHIND_MS, now)) shed++;
      else {
        const t = performance.now();
        this.hand(i);
        this.share.charge(source, performance.now() - t);
      }
      const h = i * MMSGHDR_SIZE;
      view.setUint32(h + MSG_NAMELEN, nameLen, true);
      view.setUint32(h + MSG_CONTROLLEN, CONTROL_SLOT, true);
    }
    if (n > 0) this.costMs = 0.7 * this.costMs + (0.3 * (performance.now() - started)) / n;
    if (stale > 0 || shed > 0) this.onDropped(stale, shed);
  }

  /** The source as SourceShare counts it: an IPv4 address as a number, else its text. */
  private sourceKey(name: number): number | string {
    const v4 = sockaddrIpv4(this.region.view, name);
    return v4 >= 0 ? v4 : this.source(name);
  }

  /** Datagram i to onPayload. */
  private hand(i: number): void {
    const { view, bytes } = this.region;
    const h = i * MMSGHDR_SIZE;
    const name = NAMES + i * NAME_SLOT;
    const start = PAYLOADS + i * PAYLOAD_BYTES;
    const len = view.getUint32(h + MMSG_LEN, true);
    // Longer than its slot, a datagram is cut to it and flagged MSG_TRUNC (recvmsg(2)); either
    // way, anything over 1500 is handed on as 1501 bytes, as udp.ts does, to be refused.
    const over = len > MAX_DATA || (view.getInt32(h + MSG_FLAGS, true) & MSG_TRUNC) !== 0;
    this.onPayload({
      data: bytes.toString("latin1", start, start + (over ? MAX_DATA + 1 : len)),
      srcIp: this.source(name),
      srcPort: sockaddrPort(view, name),
      dstIp: this.readsDestinations ? this.destination(i) : "0.0.0.0",
      dstPort: this.port,
      transport: "udp",
    });
  }
}

/** The batched listener, which can be told to read each datagram's destination (askDestinations). */
export interface UdpBatchListener extends Listener {
  /** On: dstIp is the address each datagram was sent to; off: "0.0.0.0". False if refused. */
  destinations(on: boolean): boolean;
}

/**
 * The batched UDP listener, or why it cannot be used here (then use udp.ts). Throws
 * EnvironmentError when the socket cannot be set up (the port is taken, say).
 */
export function listenUdpBatch(
  port: number,
  ipv6: boolean,
  onPayload: OnPayload,
  onDropped: OnDropped = () => undefined,
): UdpBatchListener | string {
  const c = loadLibc();
  if (typeof c === "string") return c;
  let region: Region;
  try {
    region = new Region(c.koffi, ipv6 ? SOCKADDR_IN6_LEN : SOCKADDR_IN_LEN);
  } catch (e) {
    return `no memory for recvmmsg through koffi (${messageOf(e).split("\n")[0]})`;
  }
  let fd: number;
  try {
    fd = openSocket(c, port, ipv6);
  } catch (e) {
    region.free();
    throw e;
  }
  const rx = new BatchReceiver(c, fd, region, port, onPayload, onDropped);
  rx.start();
  let closed: Promise<void> | null = null;
  return {
    description: `UDP server on port ${port}${ipv6 ? " (IPv4 and IPv6)" : ""}, recvmmsg batches of ${BATCH}`,
    destinations: (on) => {
      const done = askDestinations(c, fd, ipv6, on);
      if (done) rx.readsDestinations = on;
      return done;
    },
    close: () =>
      (closed ??= (async () => {
        rx.stop();
        await rx.stopped;
        c.close(fd);
        region.free();
      })()),
  };
}
