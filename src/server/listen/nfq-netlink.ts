/**
 * The nfnetlink_queue protocol (NFQUEUE), as much of it as fwknopd needs, built and read as
 * bytes: the configuration requests (bind a queue, copy mode and range, queue length), batch and
 * single verdicts, and the messages the kernel sends (queued packets, acks and errors). Pure: no
 * socket here (nfq-socket.ts sends and receives). Layouts: linux/netlink.h, linux/netfilter/
 * nfnetlink.h, linux/netfilter/nfnetlink_queue.h. Netlink headers and attribute headers are in
 * host byte order (little-endian on the x86_64 and aarch64 machines we run on: nfq-socket.ts
 * refuses others); the nfnetlink_queue payloads themselves are big-endian.
 *
 * We speak the protocol ourselves instead of linking libnetfilter_queue (what C fwknopd's
 * server/nfq_capture.c uses) because the part we need is these few messages, and koffi can
 * call socket(2)/recv(2) from libc, which is always there; libnetfilter-queue1 is not installed
 * by default on Debian.
 */

export const NETLINK_NETFILTER = 12;
const NLMSG_HDRLEN = 16;
const NFGENMSG_LEN = 4;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NFNL_SUBSYS_QUEUE = 3;
const NFQNL_MSG_PACKET = 0;
const NFQNL_MSG_VERDICT = 1;
const NFQNL_MSG_CONFIG = 2;
const NFQNL_MSG_VERDICT_BATCH = 3;
const NFQA_CFG_CMD = 1;
const NFQA_CFG_PARAMS = 2;
const NFQA_CFG_QUEUE_MAXLEN = 3;
const NFQNL_CFG_CMD_BIND = 1;
const NFQNL_COPY_PACKET = 2;
const NFQA_PACKET_HDR = 1;
const NFQA_VERDICT_HDR = 2;
const NFQA_PAYLOAD = 10;
const NFQA_CAP_LEN = 13;
/** The attribute type without NLA_F_NESTED and NLA_F_NET_BYTEORDER. */
const NLA_TYPE_MASK = 0x3fff;

export const NF_DROP = 0;
export const NF_ACCEPT = 1;
/** NF_INET_LOCAL_IN: the input hook, where our queue rule sits. */
export const HOOK_LOCAL_IN = 1;

const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute: its header and value, padded to 4 bytes. */
function attr(type: number, value: Buffer): Buffer {
  const b = Buffer.alloc(align4(4 + value.length));
  b.writeUInt16LE(4 + value.length, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  return b;
}

/** nlmsghdr + nfgenmsg (family AF_UNSPEC, version 0, the queue number) + attributes. */
function message(msgType: number, flags: number, seq: number, queue: number, attrs: Buffer[]) {
  const body = Buffer.concat(attrs);
  const b = Buffer.alloc(NLMSG_HDRLEN + NFGENMSG_LEN + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE((NFNL_SUBSYS_QUEUE << 8) | msgType, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  b.writeUInt32LE(0, 12);
  b.writeUInt8(0, 16);
  b.writeUInt8(0, 17);
  b.writeUInt16BE(queue, 18);
  body.copy(b, NLMSG_HDRLEN + NFGENMSG_LEN);
  return b;
}

/** Bind this socket to `queue` (NFQNL_CFG_CMD_BIND), with an ack asked for. */
export function bindRequest(queue: number, seq: number): Buffer {
  const cmd = Buffer.alloc(4);
  cmd.writeUInt8(NFQNL_CFG_CMD_BIND, 0);
  // pf is unused by kernels since 3.8; libnetfilter_queue sends AF_UNSPEC too.
  return message(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, queue, [
    attr(NFQA_CFG_CMD, cmd),
  ]);
}

/** Copy whole packets, at most `copyRange` bytes of each, and queue at most `maxLen` packets. */
export function paramsRequest(
  queue: number,
  seq: number,
  copyRange: number,
  maxLen: number,
): Buffer {
  const params = Buffer.alloc(5);
  params.writeUInt32BE(copyRange, 0);
  params.writeUInt8(NFQNL_COPY_PACKET, 4);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(maxLen, 0);
  return message(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, queue, [
    attr(NFQA_CFG_PARAMS, params),
    attr(NFQA_CFG_QUEUE_MAXLEN, len),
  ]);
}

function verdictHdr(verdict: number, id: number): Buffer {
  const v = Buffer.alloc(8);
  v.writeUInt32BE(verdict, 0);
  v.writeUInt32BE(id >>> 0, 4);
  return attr(NFQA_VERDICT_HDR, v);
}

/** One verdict for one packet. */
export function verdictRequest(queue: number, id: number, verdict: number): Buffer {
  return message(NFQNL_MSG_VERDICT, NLM_F_REQUEST, 0, queue, [verdictHdr(verdict, id)]);
}

/** One verdict for every packet of the queue whose id is at most `id` (NFQNL_MSG_VERDICT_BATCH). */
export function batchVerdictRequest(queue: number, id: number, verdict: number): Buffer {
  return message(NFQNL_MSG_VERDICT_BATCH, NLM_F_REQUEST, 0, queue, [verdictHdr(verdict, id)]);
}

export interface QueuedPacket {
  kind: "packet";
  queue: number;
  id: number;
  hook: number;
  /** The network-layer packet (IPv4 or IPv6 header first), at most the copy range. */
  payload: Buffer;
  /** The packet was longer than what was copied (NFQA_CAP_LEN present and larger). */
  truncated: boolean;
}

/** An ack (errno 0) or error answer to one of our requests. */
export interface NetlinkAck {
  kind: "ack";
  seq: number;
  /** 0 for an ack; else a positive errno. */
  errno: number;
}

export type NetlinkMessage = QueuedPacket | NetlinkAck;

/**
 * One queued-packet message: its attributes read in place (the first of each type we use), no
 * copy and no map, as this runs for every packet.
 */
function packetOf(b: Buffer, start: number, end: number): QueuedPacket | null {
  let p = start + NLMSG_HDRLEN + NFGENMSG_LEN;
  if (p > end) return null;
  let hdr = -1;
  let payload: Buffer | null = null;
  let cap = -1;
  while (p + 4 <= end) {
    const len = b.readUInt16LE(p);
    if (len < 4 || p + len > end) return null;
    const type = b.readUInt16LE(p + 2) & NLA_TYPE_MASK;
    if (type === NFQA_PACKET_HDR && hdr < 0 && len >= 4 + 7) hdr = p + 4;
    else if (type === NFQA_PAYLOAD && payload === null) payload = b.subarray(p + 4, p + len);
    else if (type === NFQA_CAP_LEN && cap < 0 && len >= 8) cap = b.readUInt32BE(p + 4);
    p += align4(len);
  }
  if (hdr < 0) return null;
  const data = payload ?? b.subarray(0, 0);
  return {
    kind: "packet",
    queue: b.readUInt16BE(start + NLMSG_HDRLEN + 2),
    id: b.readUInt32BE(hdr),
    hook: b.readUInt8(hdr + 6),
    payload: data,
    truncated: cap > data.length,
  };
}

/**
 * Every message of one datagram from the kernel, in order; anything else (NLMSG_DONE, other
 * subsystems' types) skipped. Returns the reason instead when the datagram is not well formed:
 * a length running past its end, or too short a header. Never throws.
 */
export function decodeMessages(b: Buffer): NetlinkMessage[] | string {
  const out: NetlinkMessage[] = [];
  let p = 0;
  while (p + NLMSG_HDRLEN <= b.length) {
    const len = b.readUInt32LE(p);
    if (len < NLMSG_HDRLEN || p + len > b.length) return `netlink message length ${len} at ${p}`;
    const type = b.readUInt16LE(p + 4);
    if (type === NLMSG_ERROR) {
      if (len < NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) return `short netlink error at ${p}`;
      const errno = -b.readInt32LE(p + NLMSG_HDRLEN);
      out.push({ kind: "ack", seq: b.readUInt32LE(p + NLMSG_HDRLEN + 4 + 8), errno });
    } else if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
      const pkt = packetOf(b, p, p + len);
      if (pkt === null) return `malformed queued packet at ${p}`;
      out.push(pkt);
    } else if (type === NLMSG_DONE) break;
    p += align4(len);
  }
  return out;
}
