/**
 * Replies off the D-Bus wire (METHOD_RETURN, ERROR): the header fields we need and the body's
 * values of the basic types, strings, variants, arrays, structs and dict entries (D-Bus
 * Specification, "Marshaling (Wire Format)"). Every length is checked against the message before
 * it is used; anything malformed is an Error. Constants: dbus-wire.ts.
 */
import { Field, MAX_MESSAGE_BYTES } from "./dbus-wire.js";

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
  const values = new BodyReader(b, at, le).values(bodySig);
  const first = values[0];
  return {
    type,
    serial,
    replySerial,
    errorName,
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
    if (this.at + n > this.b.length) throw new Error("D-Bus: truncated body");
  }

  private align(n: number): void {
    this.at += (n - (this.at % n)) % n;
    if (this.at > this.b.length) throw new Error("D-Bus: truncated body");
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

  /** One complete type (`t` is exactly one, as completeType cut it). */
  private value(t: string, depth: number): Value {
    if (depth > MAX_DEPTH) throw new Error("D-Bus: values nested too deep");
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
          throw new Error(`D-Bus: variant of signature '${inner}'`);
        return this.value(inner, depth + 1);
      }
      case "a": {
        const n = this.u32();
        const elem = t.slice(1);
        this.align(ALIGN[elem[0] ?? ""] ?? 1);
        const end = this.at + n;
        if (end > b.length) throw new Error("D-Bus: truncated array");
        const out: Value[] = [];
        while (this.at < end) {
          const before = this.at;
          out.push(this.value(elem, depth + 1));
          // An element of no bytes (an empty struct) would never reach the end.
          if (this.at === before) throw new Error("D-Bus: array of empty elements");
        }
        if (this.at !== end) throw new Error("D-Bus: array length does not match its elements");
        return out;
      }
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
        throw new Error(`D-Bus: unknown type '${c}' in a body`);
    }
  }
}

/** Where the complete type starting at `sig[i]` ends (exclusive); throws on a malformed one. */
export function completeType(sig: string, i: number): number {
  let depth = 0;
  let j = i;
  for (;;) {
    const c = sig[j];
    if (c === undefined) throw new Error(`D-Bus: incomplete signature '${sig}'`);
    j++;
    if (c === "a") continue;
    if (c === "(" || c === "{") depth++;
    else if (c === ")" || c === "}") {
      if (depth === 0) throw new Error(`D-Bus: unbalanced signature '${sig}'`);
      depth--;
    } else if (!(c in ALIGN)) throw new Error(`D-Bus: unknown type '${c}' in '${sig}'`);
    if (depth === 0) return j;
    if (depth > MAX_DEPTH) throw new Error(`D-Bus: signature nested too deep '${sig}'`);
  }
}
