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

/**
 * Frames gathered in one buffer for one write, each packet copied once (from the receive
 * buffer, which the next receive overwrites). Holds at most `capacity` bytes: `fits` says whether
 * one more packet does.
 */
export class FrameWriter {
  private readonly buf: Buffer;
  private used = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  fits(packetLength: number): boolean {
    return this.used + LEN_BYTES + Math.min(packetLength, MAX_FRAME) <= this.buf.length;
  }

  /** Append one frame (the packet cut to MAX_FRAME); the caller has asked `fits`. */
  add(packet: Buffer): void {
    const n = Math.min(packet.length, MAX_FRAME);
    this.buf.writeUInt32BE(n, this.used);
    packet.copy(this.buf, this.used + LEN_BYTES, 0, n);
    this.used += LEN_BYTES + n;
  }

  /** What was gathered (a view, valid until the next add), and start again. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.used);
    this.used = 0;
    return out;
  }
}

/** Frames for these packets, in one buffer (one write). */
export function encodeFrames(packets: readonly Buffer[]): Buffer {
  let size = 0;
  for (const p of packets) size += LEN_BYTES + Math.min(p.length, MAX_FRAME);
  const w = new FrameWriter(size);
  for (const p of packets) w.add(p);
  return w.take();
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
