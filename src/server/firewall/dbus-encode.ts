/**
 * A D-Bus METHOD_CALL whose arguments are strings, arrays of strings and int32s, little-endian
 * (D-Bus Specification, "Marshaling (Wire Format)", "Message Format"). Constants: dbus-wire.ts.
 */
import { Field, MessageType } from "./dbus-wire.js";
import { InternalError } from "../../errors.js";

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

  int32(v: number): void {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff)
      throw new InternalError(`${v} is not a D-Bus int32`);
    this.align(4);
    this.room(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }

  /** STRING and OBJECT_PATH: uint32 byte length, UTF-8, a NUL. */
  string(s: string): void {
    const b = Buffer.from(s, "utf8");
    if (b.includes(0)) throw new InternalError("NUL in a D-Bus string");
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

/** An INT32 argument (a JS number alone would not say which integer type the callee wants). */
export interface Int32 {
  readonly int32: number;
}
export const int32 = (n: number): Int32 => ({ int32: n });

export type Arg = string | readonly string[] | Int32;

const signatureOf = (a: Arg): string => (typeof a === "string" ? "s" : "int32" in a ? "i" : "as");

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
  const signature = c.args.map(signatureOf).join("");
  const body = new Writer();
  for (const a of c.args) {
    if (typeof a === "string") body.string(a);
    else if ("int32" in a) body.int32(a.int32);
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
