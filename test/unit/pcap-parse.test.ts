/** The pcap reader: hand-built frames decode; arbitrary bytes never throw. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  PcapStreamParser,
  decodeFrame,
  type CapturedFrame,
} from "../../src/server/listen/pcap-parse.js";

function ipv4Udp(payload: Buffer): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[9] = 17;
  Buffer.from([198, 18, 0, 2]).copy(ip, 12);
  Buffer.from([198, 18, 0, 1]).copy(ip, 16);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(62201, 2);
  return Buffer.concat([eth, ip, udp, payload]);
}

function savefile(frames: Buffer[]): Buffer {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(65535, 16);
  hdr.writeUInt32LE(1, 20);
  const recs = frames.map((f) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([hdr, ...recs]);
}

describe("pcap parsing", () => {
  it("decodes an Ethernet/IPv4/UDP frame, fed in arbitrary chunks", () => {
    const payload = Buffer.from("A".repeat(200));
    const file = savefile([ipv4Udp(payload), ipv4Udp(payload)]);
    const got: CapturedFrame[] = [];
    const p = new PcapStreamParser((f) => got.push(f));
    for (let i = 0; i < file.length; i += 7) p.feed(file.subarray(i, i + 7));
    assert.equal(got.length, 2);
    const d = decodeFrame(got[0] ?? { linktype: 0, data: Buffer.alloc(0) });
    assert.deepEqual(d && { ...d, payload: d.payload.toString() }, {
      srcIp: "198.18.0.2",
      dstIp: "198.18.0.1",
      srcPort: 40000,
      dstPort: 62201,
      proto: "udp",
      payload: payload.toString(),
    });
  });

  it("writes IPv6 addresses in RFC 5952 form", () => {
    const raw = Buffer.alloc(48);
    raw[0] = 0x60;
    raw[6] = 17;
    Buffer.from("fd0005fa000000000000000000000002", "hex").copy(raw, 8);
    Buffer.from("20010db8000000010000000000000001", "hex").copy(raw, 24);
    const d = decodeFrame({ linktype: 101, data: raw });
    assert.ok(d !== null);
    assert.equal(d.srcIp, "fd00:5fa::2");
    assert.equal(d.dstIp, "2001:db8:0:1::1");
  });

  it("never throws on arbitrary bytes, as a stream or as a frame", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(0, 1, 101, 108, 113, 276),
        (bytes, lt) => {
          const b = Buffer.from(bytes);
          new PcapStreamParser(() => undefined).feed(
            Buffer.concat([savefile([]).subarray(0, 24), b]),
          );
          decodeFrame({ linktype: lt, data: b });
        },
      ),
      { numRuns: 5000 },
    );
  });
});
