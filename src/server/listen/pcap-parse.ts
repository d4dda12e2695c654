/**
 * pcap (libpcap savefile) parsing for SPA capture: an incremental reader for a live stream
 * (`tcpdump -U -w -`) or a file (--pcap-file), and the decoding of one captured frame down to the
 * UDP/TCP/ICMP payload (server/process_packet.c, which handles IPv4 only; IPv6 is ours).
 * Everything is bounds-checked: a malformed capture yields no packet, never an exception.
 */
const LINKTYPE_NULL = 0;
const LINKTYPE_EN10MB = 1;
export const LINKTYPE_RAW = 101;
const LINKTYPE_LOOP = 108;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;

export interface CapturedFrame {
  linktype: number;
  data: Buffer;
}

export interface DecodedFrame {
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  proto: "udp" | "tcp" | "icmp";
  payload: Buffer;
}

/** Feed bytes; frames come out as soon as they are complete. */
export class PcapStreamParser {
  private buf: Buffer = Buffer.alloc(0);
  private le = true;
  private linktype = -1;
  private snaplen = 65535;
  failed: string | null = null;

  constructor(private readonly onFrame: (f: CapturedFrame) => void) {}

  feed(chunk: Buffer): void {
    if (this.failed !== null) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.linktype < 0) {
      if (this.buf.length < 24) return;
      const magic = this.buf.readUInt32LE(0);
      if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.le = true;
      else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) this.le = false;
      else {
        this.failed = "not a pcap capture (bad magic)";
        return;
      }
      this.snaplen = this.u32(16);
      this.linktype = this.u32(20) & 0xffff;
      this.buf = this.buf.subarray(24);
    }
    while (this.buf.length >= 16) {
      const caplen = this.u32(8);
      if (caplen > Math.max(this.snaplen, 262144)) {
        this.failed = `corrupt record (caplen ${caplen})`;
        return;
      }
      if (this.buf.length < 16 + caplen) return;
      this.onFrame({
        linktype: this.linktype,
        data: Buffer.from(this.buf.subarray(16, 16 + caplen)),
      });
      this.buf = this.buf.subarray(16 + caplen);
    }
  }

  private u32(off: number): number {
    return this.le ? this.buf.readUInt32LE(off) : this.buf.readUInt32BE(off);
  }
}

function ip4(b: Buffer, off: number): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

/** RFC 5952 text: lower-case hex, the longest run of two or more zero groups as "::". */
function ip6(b: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(off + i));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** Offset of the network header and its ethertype-like kind, per link type. */
function networkStart(f: CapturedFrame): { off: number; kind: "ipv4" | "ipv6" | null } | null {
  const d = f.data;
  let off: number;
  let type: number;
  switch (f.linktype) {
    case LINKTYPE_EN10MB:
      if (d.length < 14) return null;
      off = 14;
      type = d.readUInt16BE(12);
      if (type === 0x8100 && d.length >= 18) {
        type = d.readUInt16BE(16);
        off = 18;
      }
      break;
    case LINKTYPE_LINUX_SLL:
      if (d.length < 16) return null;
      off = 16;
      type = d.readUInt16BE(14);
      break;
    case LINKTYPE_LINUX_SLL2:
      if (d.length < 20) return null;
      off = 20;
      type = d.readUInt16BE(0);
      break;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP:
      if (d.length < 4) return null;
      off = 4;
      type = (d[4] ?? 0) >> 4 === 6 ? 0x86dd : 0x0800;
      break;
    case LINKTYPE_RAW:
      off = 0;
      type = (d[0] ?? 0) >> 4 === 6 ? 0x86dd : 0x0800;
      break;
    default:
      return null;
  }
  return { off, kind: type === 0x0800 ? "ipv4" : type === 0x86dd ? "ipv6" : null };
}

export function decodeFrame(f: CapturedFrame): DecodedFrame | null {
  const start = networkStart(f);
  if (start === null || start.kind === null) return null;
  const d = f.data;
  let p = start.off;
  let proto: number;
  let srcIp: string;
  let dstIp: string;
  if (start.kind === "ipv4") {
    if (d.length < p + 20 || (d[p] ?? 0) >> 4 !== 4) return null;
    // C masks the header length with 0x15 (process_packet.c), dropping 24- and 28-byte headers;
    // the proper 0x0f mask is used here.
    const ihl = ((d[p] ?? 0) & 0x0f) * 4;
    if (ihl < 20 || d.length < p + ihl) return null;
    proto = d[p + 9] ?? 0;
    srcIp = ip4(d, p + 12);
    dstIp = ip4(d, p + 16);
    p += ihl;
  } else {
    if (d.length < p + 40 || (d[p] ?? 0) >> 4 !== 6) return null;
    proto = d[p + 6] ?? 0;
    srcIp = ip6(d, p + 8);
    dstIp = ip6(d, p + 24);
    p += 40;
  }
  if (proto === 17) {
    if (d.length < p + 8) return null;
    return {
      srcIp,
      dstIp,
      srcPort: d.readUInt16BE(p),
      dstPort: d.readUInt16BE(p + 2),
      proto: "udp",
      payload: d.subarray(p + 8),
    };
  }
  if (proto === 6) {
    if (d.length < p + 20) return null;
    const doff = ((d[p + 12] ?? 0) >> 4) * 4;
    if (doff < 20 || d.length < p + doff) return null;
    return {
      srcIp,
      dstIp,
      srcPort: d.readUInt16BE(p),
      dstPort: d.readUInt16BE(p + 2),
      proto: "tcp",
      payload: d.subarray(p + doff),
    };
  }
  if (proto === 1 || proto === 58) {
    if (d.length < p + 8) return null;
    return { srcIp, dstIp, srcPort: 0, dstPort: 0, proto: "icmp", payload: d.subarray(p + 8) };
  }
  return null;
}
