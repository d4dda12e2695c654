/**
 * The D-Bus marshalling used for firewalld (src/server/firewall/dbus-wire.ts): our method calls
 * read back field for field, bus addresses parsed as the spec writes them, and arbitrary bytes
 * never hang the reader or escape as anything but an Error.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeMessage,
  encodeCall,
  MessageType,
  messageLength,
} from "../../src/server/firewall/dbus-wire.js";
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
