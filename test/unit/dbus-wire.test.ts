/**
 * The D-Bus marshalling used for firewalld (src/server/firewall/dbus-encode.ts and
 * dbus-decode.ts): our method calls read back field for field, bus addresses parsed as the spec
 * writes them, and arbitrary bytes never hang the reader or escape as anything but an Error.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  completeType,
  decodeMessage,
  messageLength,
} from "../../src/server/firewall/dbus-decode.js";
import { encodeCall, int32 } from "../../src/server/firewall/dbus-encode.js";
import { MessageType } from "../../src/server/firewall/dbus-wire.js";
import { unixSocketOf } from "../../src/server/firewall/firewalld-dbus.js";

const call = {
  serial: 7,
  destination: "org.fedoraproject.FirewallD1",
  path: "/org/fedoraproject/FirewallD1",
  iface: "org.fedoraproject.FirewallD1.direct",
  member: "passthrough",
  args: ["ipv4", ["-t", "filter", "-A", "FWKNOP_INPUT", "-s", "198.18.0.2", "-j", "ACCEPT"]],
};

describe("D-Bus wire", () => {
  it("frames a method call: fixed header, 8-aligned body, lengths that add up", () => {
    const b = encodeCall(call);
    assert.equal(b[0], 0x6c);
    assert.equal(b[1], MessageType.METHOD_CALL);
    assert.equal(b[3], 1);
    assert.equal(messageLength(b), b.length);
    const fieldsLen = b.readUInt32LE(12);
    const bodyAt = Math.ceil((16 + fieldsLen) / 8) * 8;
    assert.equal(b.readUInt32LE(4), b.length - bodyAt);
    // The body: "ipv4" as a string, then the array of 8 strings.
    assert.equal(b.readUInt32LE(bodyAt), 4);
    assert.equal(b.toString("latin1", bodyAt + 4, bodyAt + 9), "ipv4\0");
    const m = decodeMessage(b);
    assert.equal(m.type, MessageType.METHOD_CALL);
    assert.equal(m.serial, 7);
    assert.equal(m.text, "ipv4");
  });

  it("encodes UTF-8 and refuses a NUL inside a string", () => {
    const m = decodeMessage(encodeCall({ ...call, args: ["é€", []] }));
    assert.equal(m.text, "é€");
    assert.throws(() => encodeCall({ ...call, args: ["a\0b"] }), /NUL/);
  });

  it("waits for 16 bytes, refuses a bad endianness byte and oversized lengths", () => {
    const b = encodeCall(call);
    assert.equal(messageLength(b.subarray(0, 15)), null);
    const bad = Buffer.from(b);
    bad[0] = 0x41;
    assert.throws(() => messageLength(bad), /endianness/);
    const huge = Buffer.from(b);
    huge.writeUInt32LE(0xfffffff0, 4);
    assert.throws(() => messageLength(huge), /message of \d+ bytes/);
  });

  it("arbitrary bytes give a reply or an Error, nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 300 }), (raw) => {
        const b = Buffer.from(raw);
        b[0] = 0x6c;
        try {
          const n = messageLength(b);
          if (n !== null && n <= b.length) decodeMessage(b.subarray(0, n));
        } catch (e) {
          assert.ok(e instanceof Error);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("takes the first unix socket of a bus address, %-escapes undone", () => {
    assert.equal(
      unixSocketOf("unix:path=/var/run/dbus/system_bus_socket"),
      "/var/run/dbus/system_bus_socket",
    );
    assert.equal(unixSocketOf("tcp:host=x,port=1;unix:path=/tmp/a%20b,guid=1"), "/tmp/a b");
    assert.equal(unixSocketOf("unix:abstract=/tmp/dbus-x"), "\0/tmp/dbus-x");
    assert.equal(unixSocketOf("tcp:host=localhost,port=1"), null);
  });
});

/**
 * A METHOD_RETURN as a bus would send it (little-endian), with a body marshalled here by hand for
 * the types firewalld answers with, so the reader is checked against bytes it did not write.
 */
function reply(signature: string, body: (w: TestWriter) => void): Buffer {
  const b = new TestWriter();
  body(b);
  const fields = new TestWriter();
  fields.bytes([5, 1, 0x75, 0]); // REPLY_SERIAL, "u"
  fields.u32(7);
  fields.bytes([8, 1, 0x67, 0, signature.length, ...Buffer.from(signature, "latin1"), 0]);
  const head = new TestWriter();
  head.bytes([0x6c, MessageType.METHOD_RETURN, 0, 1]);
  head.u32(b.buf.length);
  head.u32(3);
  head.u32(fields.buf.length);
  head.bytes([...fields.buf]);
  head.pad(8);
  return Buffer.concat([head.buf, b.buf]);
}

class TestWriter {
  buf = Buffer.alloc(0);
  bytes(a: readonly number[]): void {
    this.buf = Buffer.concat([this.buf, Buffer.from(a)]);
  }
  pad(n: number): void {
    while (this.buf.length % n !== 0) this.bytes([0]);
  }
  u32(v: number): void {
    this.pad(4);
    const x = Buffer.alloc(4);
    x.writeUInt32LE(v);
    this.bytes([...x]);
  }
  str(s: string): void {
    const x = Buffer.from(s, "utf8");
    this.u32(x.length);
    this.bytes([...x, 0]);
  }
  /** An array whose elements are aligned to `align`; its length excludes that padding. */
  array(align: number, body: () => void): void {
    this.u32(0);
    const at = this.buf.length - 4;
    this.pad(align);
    const start = this.buf.length;
    body();
    this.buf.writeUInt32LE(this.buf.length - start, at);
  }
}

describe("D-Bus wire: arguments and replies firewalld's rich rules need", () => {
  it("an int32 argument: signature 'ssi', two's complement, read back", () => {
    const b = encodeCall({ ...call, args: ["public", 'rule family="ipv4" accept', int32(-30)] });
    assert.ok(b.includes(Buffer.from("\x03ssi\x00", "latin1")));
    const m = decodeMessage(b);
    assert.deepEqual(m.values, ["public", 'rule family="ipv4" accept', -30]);
    assert.equal(m.text, "public");
    assert.throws(() => encodeCall({ ...call, args: [int32(2 ** 31)] }), /not a D-Bus int32/);
    assert.throws(() => encodeCall({ ...call, args: [int32(1.5)] }), /not a D-Bus int32/);
  });

  it("reads back any strings, arrays of strings and int32s it wrote", () => {
    const arg = fc.oneof(
      fc.string().filter((s) => !s.includes("\0")),
      fc.array(
        fc.string().filter((s) => !s.includes("\0")),
        { maxLength: 5 },
      ),
      fc.integer({ min: -0x80000000, max: 0x7fffffff }).map(int32),
    );
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 6 }), (args) => {
        const m = decodeMessage(encodeCall({ ...call, args }));
        assert.deepEqual(
          m.values,
          args.map((a) => (typeof a === "object" && "int32" in a ? a.int32 : a)),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("replies: 'as' (getRichRules), 'b' (queryRichRule), 'v' (Properties.Get)", () => {
    const rules = ['rule priority="-32201" family="ipv4" accept', 'rule family="ipv6" drop'];
    const as = decodeMessage(
      reply("as", (w) => {
        w.array(4, () => {
          for (const r of rules) w.str(r);
        });
      }),
    );
    assert.equal(as.type, MessageType.METHOD_RETURN);
    assert.equal(as.replySerial, 7);
    assert.deepEqual(as.values, [rules]);
    assert.equal(as.text, null);
    for (const v of [0, 1])
      assert.deepEqual(
        decodeMessage(
          reply("b", (w) => {
            w.u32(v);
          }),
        ).values,
        [v === 1],
      );
    const variant = decodeMessage(
      reply("v", (w) => {
        w.bytes([1, 0x73, 0]);
        w.str("nftables");
      }),
    );
    assert.deepEqual(variant.values, ["nftables"]);
    // A variant's string is the text: Properties.Get answers read like plain string replies.
    assert.equal(variant.text, "nftables");
  });

  it("replies: getActiveZones' a{sa{sas}}, dict entries as [key, value]", () => {
    const m = decodeMessage(
      reply("a{sa{sas}}", (w) => {
        w.array(8, () => {
          w.pad(8);
          w.str("public");
          w.array(8, () => {
            w.pad(8);
            w.str("interfaces");
            w.array(4, () => {
              w.str("veth0");
            });
            w.pad(8);
            w.str("sources");
            w.array(4, () => {
              w.str("198.18.0.0/15");
              w.str("ipset:x");
            });
          });
        });
      }),
    );
    assert.deepEqual(m.values, [
      [
        [
          "public",
          [
            ["interfaces", ["veth0"]],
            ["sources", ["198.18.0.0/15", "ipset:x"]],
          ],
        ],
      ],
    ]);
  });

  it("complete types: where each ends, and malformed signatures refused", () => {
    assert.equal(completeType("sas", 0), 1);
    assert.equal(completeType("sas", 1), 3);
    assert.equal(completeType("a{sa{sas}}i", 0), 10);
    assert.equal(completeType("(ii)", 0), 4);
    for (const bad of ["a", "a{s", "(ii", ")", "z", "a}"])
      assert.throws(() => completeType(bad, 0), /D-Bus/);
  });

  it("a valid header over arbitrary body bytes gives values or an Error, nothing else", () => {
    const sigs = [
      "s",
      "as",
      "b",
      "v",
      "a{sa{sas}}",
      "(ii)",
      "ay",
      "a()",
      "aav",
      "x",
      "d",
      "g",
      "o",
    ];
    fc.assert(
      fc.property(fc.constantFrom(...sigs), fc.uint8Array({ maxLength: 120 }), (sig, raw) => {
        const msg = reply(sig, (w) => {
          w.bytes([...raw]);
        });
        try {
          decodeMessage(msg);
        } catch (e) {
          assert.ok(e instanceof Error);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
