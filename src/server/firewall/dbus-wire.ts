/**
 * The little of the D-Bus wire protocol that one method call needs (D-Bus Specification, "Message
 * Protocol": marshalling, message format, header fields), pure functions: build a METHOD_CALL whose
 * arguments are strings and arrays of strings, and read replies (METHOD_RETURN, ERROR) whose body
 * starts with a string. Anything else is skipped by its length, never trusted further.
 */

export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;

const enum Field {
  PATH = 1,
  INTERFACE = 2,
  MEMBER = 3,
  ERROR_NAME = 4,
  REPLY_SERIAL = 5,
  DESTINATION = 6,
  SIGNATURE = 8,
}

/** A message larger than this is refused (the spec's own limit is 128 MiB). */
export const MAX_MESSAGE_BYTES = 16 << 20;

/** Little-endian writer with D-Bus alignment (every value is aligned to its own size). */
class Writer {
  private buf = Buffer.alloc(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    this.room(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  byte(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }

  uint32(v: number): void {
    this.align(4);
    this.room(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }

  /** STRING and OBJECT_PATH: uint32 byte length, UTF-8, a NUL. */
  string(s: string): void {
    const b = Buffer.from(s, "utf8");
    if (b.includes(0)) throw new Error("internal: NUL in a D-Bus string");
    this.uint32(b.length);
    this.room(b.length + 1);
    b.copy(this.buf, this.length);
    this.length += b.length;
    this.buf[this.length++] = 0;
  }

  /** SIGNATURE: byte length, ASCII, a NUL. */
  signature(s: string): void {
    this.byte(s.length);
    this.room(s.length + 1);
    this.buf.write(s, this.length, "latin1");
    this.length += s.length;
    this.buf[this.length++] = 0;
  }

  /** ARRAY: uint32 byte length of the elements (after the padding to their alignment). */
  array(elementAlign: number, body: () => void): void {
    this.uint32(0);
    const lengthAt = this.length - 4;
    this.align(elementAlign);
    const start = this.length;
    body();
    this.buf.writeUInt32LE(this.length - start, lengthAt);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

export type Arg = string | readonly string[];

export interface Call {
  serial: number;
  destination: string;
  path: string;
  iface: string;
  member: string;
  args: readonly Arg[];
}

/** A METHOD_CALL message, little-endian. */
export function encodeCall(c: Call): Buffer {
  const signature = c.args.map((a) => (typeof a === "string" ? "s" : "as")).join("");
  const body = new Writer();
  for (const a of c.args) {
    if (typeof a === "string") body.string(a);
    else
      body.array(4, () => {
        for (const s of a) body.string(s);
      });
  }
  const h = new Writer();
  h.byte(0x6c); // 'l'
  h.byte(MessageType.METHOD_CALL);
  h.byte(0); // flags
  h.byte(1); // protocol version
  h.uint32(body.length);
  h.uint32(c.serial);
  const field = (code: number, sig: string, write: () => void): void => {
    h.align(8);
    h.byte(code);
    h.signature(sig);
    write();
  };
  h.array(8, () => {
    field(Field.PATH, "o", () => {
      h.string(c.path);
    });
    field(Field.INTERFACE, "s", () => {
      h.string(c.iface);
    });
    field(Field.MEMBER, "s", () => {
      h.string(c.member);
    });
    field(Field.DESTINATION, "s", () => {
      h.string(c.destination);
    });
    if (signature !== "")
      field(Field.SIGNATURE, "g", () => {
        h.signature(signature);
      });
  });
  h.align(8);
  return Buffer.concat([h.bytes(), body.bytes()]);
}

export interface Reply {
  /** A MessageType value (others are possible on the wire). */
  type: number;
  serial: number;
  replySerial: number | null;
  errorName: string | null;
  /** The body's first value when the body's signature starts with a string, else null. */
  text: string | null;
}

/** Bytes the message at the start of `b` takes, once its fixed header is there; null before. */
export function messageLength(b: Buffer): number | null {
  if (b.length < 16) return null;
  const le = b[0] === 0x6c;
  if (!le && b[0] !== 0x42) throw new Error("D-Bus: bad endianness byte");
  const bodyLen = le ? b.readUInt32LE(4) : b.readUInt32BE(4);
  const fieldsLen = le ? b.readUInt32LE(12) : b.readUInt32BE(12);
  const headerLen = 16 + fieldsLen + ((8 - ((16 + fieldsLen) % 8)) % 8);
  const total = headerLen + bodyLen;
  if (total > MAX_MESSAGE_BYTES) throw new Error(`D-Bus: message of ${total} bytes`);
  return total;
}

/** Parse one whole message (length as messageLength said). Throws on malformed input. */
export function decodeMessage(b: Buffer): Reply {
  const le = b[0] === 0x6c;
  const u32 = (at: number): number => {
    if (at + 4 > b.length) throw new Error("D-Bus: truncated message");
    return le ? b.readUInt32LE(at) : b.readUInt32BE(at);
  };
  const type = b[1] ?? 0;
  const serial = u32(8);
  const fieldsLen = u32(12);
  let at = 16;
  const end = 16 + fieldsLen;
  const align = (n: number): void => {
    at += (n - (at % n)) % n;
  };
  const str = (): string => {
    align(4);
    const n = u32(at);
    at += 4;
    if (at + n + 1 > b.length) throw new Error("D-Bus: truncated string");
    const s = b.toString("utf8", at, at + n);
    at += n + 1;
    return s;
  };
  const sig = (): string => {
    const n = b[at] ?? 0;
    const s = b.toString("latin1", at + 1, at + 1 + n);
    at += n + 2;
    return s;
  };
  let replySerial: number | null = null;
  let errorName: string | null = null;
  let bodySig = "";
  while (at < end) {
    align(8);
    if (at >= end) break;
    const code = b[at++];
    const vsig = sig();
    let value: string | number;
    if (vsig === "s" || vsig === "o") value = str();
    else if (vsig === "g") value = sig();
    else if (vsig === "u") {
      align(4);
      value = u32(at);
      at += 4;
    } else throw new Error(`D-Bus: header field ${String(code)} of type ${vsig}`);
    if (code === Field.REPLY_SERIAL && typeof value === "number") replySerial = value;
    else if (code === Field.ERROR_NAME && typeof value === "string") errorName = value;
    else if (code === Field.SIGNATURE && typeof value === "string") bodySig = value;
  }
  at = end;
  align(8);
  const text = bodySig.startsWith("s") ? str() : null;
  return { type, serial, replySerial, errorName, text };
}
