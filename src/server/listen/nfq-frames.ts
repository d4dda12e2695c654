/**
 * The NFQUEUE reader's stream to the parser (nfq-reader-main.ts -> nfq.ts): each queued packet
 * as a 4-byte big-endian length and that many bytes of the network-layer packet. Pure. The
 * reader is ours and runs as root, yet its stream is read as if it could lie: a length of 0 or
 * above MAX_FRAME stops the stream (it cannot be resynchronised) instead of growing a buffer.
 */

/** IPv4 with the largest header (60) + UDP header (8) + the largest SPA payload (1500). */
export const COPY_RANGE = 1500 + 60 + 8;
export const MAX_FRAME = COPY_RANGE;
const LEN_BYTES = 4;

/** Frames for these packets, in one buffer (one write). */
export function encodeFrames(packets: readonly Buffer[]): Buffer {
  let size = 0;
  for (const p of packets) size += LEN_BYTES + Math.min(p.length, MAX_FRAME);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const p of packets) {
    const n = Math.min(p.length, MAX_FRAME);
    out.writeUInt32BE(n, o);
    p.copy(out, o + LEN_BYTES, 0, n);
    o += LEN_BYTES + n;
  }
  return out;
}

/** Feed bytes as they come; each complete frame is handed on. Holds at most one partial frame. */
export class FrameStream {
  private pending: Buffer = Buffer.alloc(0);
  /** Why the stream stopped (a bad length), or null. */
  failed: string | null = null;

  constructor(private readonly onFrame: (packet: Buffer) => void) {}

  feed(chunk: Buffer): void {
    if (this.failed !== null) return;
    let b = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let p = 0;
    while (b.length - p >= LEN_BYTES) {
      const n = b.readUInt32BE(p);
      if (n === 0 || n > MAX_FRAME) {
        this.failed = `frame length ${n} (allowed 1..${MAX_FRAME})`;
        this.pending = Buffer.alloc(0);
        return;
      }
      if (b.length - p < LEN_BYTES + n) break;
      this.onFrame(b.subarray(p + LEN_BYTES, p + LEN_BYTES + n));
      p += LEN_BYTES + n;
    }
    // A copy: the rest must not pin the whole chunk it came in.
    b = b.subarray(p);
    this.pending = b.length > 0 ? Buffer.from(b) : Buffer.alloc(0);
  }
}
