/**
 * Replies off the D-Bus wire (METHOD_RETURN, ERROR): the header fields we need and the body's
 * values of the basic types, strings, variants, arrays, structs and dict entries (D-Bus
 * Specification, "Marshaling (Wire Format)"). Every length is checked against the message before
 * it is used; anything malformed is an Error. Constants: dbus-wire.ts.
 */
import { Field, MAX_MESSAGE_BYTES } from "./dbus-wire.js";
import { PeerError } from "../../errors.js";

/**
 * A decoded body value: basic types as numbers (BOOLEAN as boolean; 64-bit ones as numbers, exact
 * up to 2^53), strings, signatures and object paths as strings, variants as their content,
 * arrays, structs and dict entries as arrays.
 */
export type Value = string | number | boolean | Value[];

export interface Reply {
  /** A MessageType value (others are possible on the wire). */
  type: number;
  serial: number;
  replySerial: number | null;
  errorName: string | null;
  /** The body's first value when it is a string (a variant holding one too), else null. */
  text: string | null;
  /** The body, value by value, as its signature says. */
  values: Value[];
}

/** Bytes the message at the start of `b` takes, once its fixed header is there; null before. */
export function messageLength(b: Buffer): number | null {
  if (b.length < 16) return null;
  const le = b[0] === 0x6c;
  if (!le && b[0] !== 0x42) throw new PeerError("D-Bus: bad endianness byte");
  const bodyLen = le ? b.readUInt32LE(4) : b.readUInt32BE(4);
  const fieldsLen = le ? b.readUInt32LE(12) : b.readUInt32BE(12);
  const headerLen = 16 + fieldsLen + ((8 - ((16 + fieldsLen) % 8)) % 8);
  const total = headerLen + bodyLen;
  if (total > MAX_MESSAGE_BYTES) throw new PeerError(`D-Bus: message of ${total} bytes`);
  return total;
}

/** The header fields a reply is matched and read by: its serial, error name, body signature. */
interface HeaderFields {
  replySerial: number | null;
  errorName: string | null;
  signature: string;
}

/** The header's field array, a(yv) at offset 12 (D-Bus Specification, "Message Format"). */
function headerFields(b: Buffer, le: boolean): HeaderFields {
  const out: HeaderFields = { replySerial: null, errorName: null, signature: "" };
  const [list] = new BodyReader(b, 12, le).values("a(yv)");
  for (const field of Array.isArray(list) ? list : []) {
    if (!Array.isArray(field)) continue;
    const [code, value] = field;
    if (code === Field.REPLY_SERIAL && typeof value === "number") out.replySerial = value;
    else if (code === Field.ERROR_NAME && typeof value === "string") out.errorName = value;
    else if (code === Field.SIGNATURE && typeof value === "string") out.signature = value;
  }
  return out;
}

/** Parse one whole message (length as messageLength said). Throws on malformed input. */
export function decodeMessage(b: Buffer): Reply {
  if (b.length < 16) throw new PeerError("D-Bus: truncated message");
  const le = b[0] === 0x6c;
  const u32 = (at: number): number => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const h = headerFields(b, le);
  const end = 16 + u32(12);
  const values = new BodyReader(b, end + ((8 - (end % 8)) % 8), le).values(h.signature);
  const first = values[0];
  return {
    type: b[1] ?? 0,
    serial: u32(8),
    replySerial: h.replySerial,
    errorName: h.errorName,
    text: typeof first === "string" ? first : null,
    values,
  };
}

/** Alignment of each type code (D-Bus Specification, "Summary of types"). */
const ALIGN: Readonly<Record<string, number>> = {
  y: 1,
  b: 4,
  n: 2,
  q: 2,
  i: 4,
  u: 4,
  x: 8,
  t: 8,
  d: 8,
  h: 4,
  s: 4,
  o: 4,
  g: 1,
  v: 1,
  a: 4,
  "(": 8,
  "{": 8,
};

type Read = (b: Buffer, at: number) => number;

/** Fixed-size types: size, little- and big-endian reader (64-bit integers exact up to 2^53). */
const FIXED: Readonly<Record<string, readonly [number, Read, Read]>> = {
  y: [1, (b, at) => b.readUInt8(at), (b, at) => b.readUInt8(at)],
  b: [4, (b, at) => b.readUInt32LE(at), (b, at) => b.readUInt32BE(at)],
  n: [2, (b, at) => b.readInt16LE(at), (b, at) => b.readInt16BE(at)],
  q: [2, (b, at) => b.readUInt16LE(at), (b, at) => b.readUInt16BE(at)],
  i: [4, (b, at) => b.readInt32LE(at), (b, at) => b.readInt32BE(at)],
  u: [4, (b, at) => b.readUInt32LE(at), (b, at) => b.readUInt32BE(at)],
  h: [4, (b, at) => b.readUInt32LE(at), (b, at) => b.readUInt32BE(at)],
  x: [8, (b, at) => Number(b.readBigInt64LE(at)), (b, at) => Number(b.readBigInt64BE(at))],
  t: [8, (b, at) => Number(b.readBigUInt64LE(at)), (b, at) => Number(b.readBigUInt64BE(at))],
  d: [8, (b, at) => b.readDoubleLE(at), (b, at) => b.readDoubleBE(at)],
};

/** The spec's limit on nested containers (32 arrays and 32 structs deep at most). */
const MAX_DEPTH = 64;

/** Reads a message body by its signature; every offset is checked against the buffer. */
class BodyReader {
  constructor(
    private readonly b: Buffer,
    private at: number,
    private readonly le: boolean,
  ) {}

  values(signature: string): Value[] {
    const out: Value[] = [];
    let i = 0;
    while (i < signature.length) {
      const end = completeType(signature, i);
      out.push(this.value(signature.slice(i, end), 0));
      i = end;
    }
    return out;
  }

  private need(n: number): void {
    if (this.at + n > this.b.length) throw new PeerError("D-Bus: truncated body");
  }

  private align(n: number): void {
    this.at += (n - (this.at % n)) % n;
    if (this.at > this.b.length) throw new PeerError("D-Bus: truncated body");
  }

  private u32(): number {
    this.align(4);
    this.need(4);
    const v = this.le ? this.b.readUInt32LE(this.at) : this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  private sig(): string {
    this.need(1);
    const n = this.b[this.at] ?? 0;
    this.need(n + 2);
    const s = this.b.toString("latin1", this.at + 1, this.at + 1 + n);
    this.at += n + 2;
    return s;
  }

  /** An array of `elem`, its byte length first; every element must move the reader on. */
  private array(elem: string, depth: number): Value[] {
    const n = this.u32();
    this.align(ALIGN[elem[0] ?? ""] ?? 1);
    const end = this.at + n;
    if (end > this.b.length) throw new PeerError("D-Bus: truncated array");
    const out: Value[] = [];
    while (this.at < end) {
      const before = this.at;
      out.push(this.value(elem, depth + 1));
      // An element of no bytes (an empty struct) would never reach the end.
      if (this.at === before) throw new PeerError("D-Bus: array of empty elements");
    }
    if (this.at !== end) throw new PeerError("D-Bus: array length does not match its elements");
    return out;
  }

  /** One complete type (`t` is exactly one, as completeType cut it). */
  private value(t: string, depth: number): Value {
    if (depth > MAX_DEPTH) throw new PeerError("D-Bus: values nested too deep");
    const b = this.b;
    const c = t[0] ?? "";
    this.align(ALIGN[c] ?? 1);
    const fixed = FIXED[c];
    if (fixed !== undefined) {
      const [size, readLE, readBE] = fixed;
      this.need(size);
      const v = (this.le ? readLE : readBE)(b, this.at);
      this.at += size;
      return c === "b" ? v !== 0 : v;
    }
    switch (c) {
      case "s":
      case "o": {
        const n = this.u32();
        this.need(n + 1);
        const s = b.toString("utf8", this.at, this.at + n);
        this.at += n + 1;
        return s;
      }
      case "g":
        return this.sig();
      case "v": {
        const inner = this.sig();
        if (inner === "" || completeType(inner, 0) !== inner.length)
          throw new PeerError(`D-Bus: variant of signature '${inner}'`);
        return this.value(inner, depth + 1);
      }
      case "a":
        return this.array(t.slice(1), depth);
      case "(":
      case "{": {
        const out: Value[] = [];
        let i = 1;
        while (i < t.length - 1) {
          const e = completeType(t, i);
          out.push(this.value(t.slice(i, e), depth + 1));
          i = e;
        }
        return out;
      }
      default:
        throw new PeerError(`D-Bus: unknown type '${c}' in a body`);
    }
  }
}

/** Where the complete type starting at `sig[i]` ends (exclusive); throws on a malformed one. */
export function completeType(sig: string, i: number): number {
  let depth = 0;
  let j = i;
  for (;;) {
    const c = sig[j];
    if (c === undefined) throw new PeerError(`D-Bus: incomplete signature '${sig}'`);
    j++;
    if (c === "a") continue;
    if (c === "(" || c === "{") depth++;
    else if (c === ")" || c === "}") {
      if (depth === 0) throw new PeerError(`D-Bus: unbalanced signature '${sig}'`);
      depth--;
    } else if (!(c in ALIGN)) throw new PeerError(`D-Bus: unknown type '${c}' in '${sig}'`);
    if (depth === 0) return j;
    if (depth > MAX_DEPTH) throw new PeerError(`D-Bus: signature nested too deep '${sig}'`);
  }
}
