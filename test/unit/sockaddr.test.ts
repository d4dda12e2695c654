/**
 * Source address text from raw sockaddrs (listen/sockaddr.ts) matches what Node's dgram reports
 * (libuv's inet_ntop, via net.SocketAddress) after plainAddress, for any address.
 */
import assert from "node:assert/strict";
import { SocketAddress } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  AF_INET,
  AF_INET6,
  ipv4Text,
  sockaddrAddress,
  sockaddrIpv4,
  sockaddrPort,
} from "../../src/server/listen/sockaddr.js";
import { plainAddress } from "../../src/server/listen/types.js";

function in6(addr: Uint8Array, port = 0, scope = 0): DataView {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  b.set(addr, 8);
  b.writeUInt32LE(scope, 24);
  return new DataView(b.buffer, b.byteOffset, b.length);
}

/** Node's own text for the address: parsed from the uncompressed form, printed by libuv. */
function nodeText(addr: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((addr[i] ?? 0) * 256 + (addr[i + 1] ?? 0)).toString(16));
  return plainAddress(new SocketAddress({ address: groups.join(":"), family: "ipv6" }).address);
}

const noName = (): string => assert.fail("interface name asked for");

/** Addresses rich in zero groups, where the "::" and IPv4-tail rules bite. */
const address6 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .map((g) => {
    const b = new Uint8Array(16);
    g.forEach((x, i) => {
      b[2 * i] = x >> 8;
      b[2 * i + 1] = x & 0xff;
    });
    return b;
  })
  .filter((b) => !((b[0] ?? 0) === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80));

describe("sockaddr text", () => {
  it("IPv4 sockaddr_in: dotted quad and port", () => {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(62201, 2);
    b.set([198, 18, 0, 255], 4);
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    assert.equal(sockaddrAddress(v, 0, noName), "198.18.0.255");
    assert.equal(sockaddrPort(v, 0), 62201);
  });

  it("known IPv6 forms", () => {
    const cases: [string, string][] = [
      ["0:0:0:0:0:ffff:c612:2", "198.18.0.2"],
      ["0:0:0:0:0:0:c612:2", "::198.18.0.2"],
      ["0:0:0:0:0:0:0:1", "::1"],
      ["0:0:0:0:0:0:0:0", "::"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["0:0:0:0:0:ffff:0:0", "0.0.0.0"],
    ];
    for (const [full, want] of cases) {
      const bytes = Buffer.alloc(16);
      full.split(":").forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), 2 * i));
      assert.equal(sockaddrAddress(in6(bytes), 0, noName), want, full);
    }
  });

  it("any IPv6 address reads as Node reads it", () => {
    fc.assert(
      fc.property(address6, fc.integer({ min: 0, max: 0xffff }), (addr, port) => {
        const v = in6(addr, port, 7);
        assert.equal(sockaddrAddress(v, 0, noName), nodeText(addr));
        assert.equal(sockaddrPort(v, 0), port);
      }),
      { numRuns: 2000 },
    );
  });

  it("the IPv4 shortcut agrees with the full text, and is -1 for other IPv6", () => {
    fc.assert(
      fc.property(address6, fc.uint8Array({ minLength: 4, maxLength: 4 }), (addr, quad) => {
        const v6 = in6(addr);
        const n6 = sockaddrIpv4(v6, 0);
        if (n6 < 0) assert.ok(!/^\d+\.\d+\.\d+\.\d+$/.test(sockaddrAddress(v6, 0, noName)));
        else assert.equal(ipv4Text(n6), sockaddrAddress(v6, 0, noName));
        const mapped = Buffer.alloc(16);
        mapped.writeUInt16BE(0xffff, 10);
        mapped.set(quad, 12);
        assert.equal(ipv4Text(sockaddrIpv4(in6(mapped), 0)), [...quad].join("."));
        const b = Buffer.alloc(16);
        b.writeUInt16LE(AF_INET, 0);
        b.set(quad, 4);
        const v4 = new DataView(b.buffer, b.byteOffset, b.length);
        assert.equal(ipv4Text(sockaddrIpv4(v4, 0)), sockaddrAddress(v4, 0, noName));
      }),
      { numRuns: 2000 },
    );
  });

  it("link-local addresses carry their interface, as rinfo.address does", () => {
    const addr = Buffer.alloc(16);
    addr.writeUInt16BE(0xfe80, 0);
    addr.writeUInt16BE(1, 14);
    assert.equal(
      sockaddrAddress(in6(addr, 1, 3), 0, (i) => `if${i}`),
      "fe80::1%if3",
    );
    assert.equal(sockaddrAddress(in6(addr, 1, 0), 0, noName), "fe80::1");
  });
});
