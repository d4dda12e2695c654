/**
 * The raw modes (-P udpraw, tcpraw, icmp; -Q; --icmp-type/--icmp-code): the pure packet builder
 * field by field against client/spa_comm.c, its checksums checked by a second, independent sum
 * and by a textbook vector, the packets read back by the daemon's own frame decoder, and the
 * options' checks (client/config_init.c:validate_options) through the client's main().
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import {
  buildRawPacket,
  internetChecksum,
  type RawPacketSpec,
} from "../../src/client/raw/packet.js";
import { decodeFrame } from "../../src/server/listen/pcap-parse.js";
import { runClientInProcess } from "../fixtures/client-run.js";

const REPO = join(__dirname, "..", "..");
const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "fwknop-raw-"));
  made.push(d);
  return d;
};

/** A second checksum, written differently: 32-bit words summed as numbers, folded at the end. */
function sum16(bytes: Uint8Array): number {
  const b = Buffer.from(bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.alloc(1)]));
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s >> 16 !== 0) s = (s >>> 16) + (s & 0xffff);
  return s;
}
/** A region whose checksum field is right sums to 0xffff (RFC 1071 section 1). */
const verifies = (bytes: Uint8Array): boolean => sum16(bytes) === 0xffff;

/** RNG that hands out the given bytes in turn (the IP ID first, then the ICMP echo ID). */
function scripted(...bytes: number[]): (n: number) => Uint8Array {
  let i = 0;
  return (n) => Uint8Array.from({ length: n }, () => bytes[i++] ?? 0);
}

const spec = (over: Partial<RawPacketSpec>): RawPacketSpec => ({
  mode: "udpraw",
  source: "0.0.0.0",
  destination: "198.18.0.1",
  sourcePort: 40000,
  destinationPort: 62201,
  icmpType: 0,
  icmpCode: 0,
  payload: Buffer.from("SPA-wire-text+/="),
  ...over,
});

describe("internetChecksum", () => {
  it("gives the textbook IPv4 header checksum (0xb861)", () => {
    const hdr = Buffer.from("450000730000400040110000c0a80001c0a800c7", "hex");
    assert.equal(internetChecksum(hdr), 0xb861);
  });

  it("agrees with a second implementation on any bytes, odd lengths too", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const c = internetChecksum(bytes);
        const withSum = Buffer.concat([Buffer.from(bytes), Buffer.alloc(bytes.length % 2)]);
        const full = Buffer.concat([withSum, Buffer.from([c >> 8, c & 0xff])]);
        return verifies(full);
      }),
    );
  });
});

describe("buildRawPacket: the fields of client/spa_comm.c", () => {
  it("IPv4 header: 0x45, TOS 0, length, random ID, no fragment, TTL 255, checksum, addresses", () => {
    const p = buildRawPacket(spec({ source: "198.19.7.7" }), scripted(0xab, 0xcd));
    assert.equal(p[0], 0x45);
    assert.equal(p[1], 0);
    assert.equal(p.readUInt16BE(2), p.length);
    assert.equal(p.length, 20 + 8 + 16);
    assert.equal(p.readUInt16BE(4), 0xabcd, "ID from the injected RNG");
    assert.equal(p.readUInt16BE(6), 0, "flags and fragment offset");
    assert.equal(p[8], 255, "RAW_SPA_TTL");
    assert.equal(p[9], 17);
    assert.deepEqual([...p.subarray(12, 16)], [198, 19, 7, 7]);
    assert.deepEqual([...p.subarray(16, 20)], [198, 18, 0, 1]);
    assert.ok(verifies(p.subarray(0, 20)), "header checksum");
  });

  it("a source of 0.0.0.0 is left for the kernel to fill in, as C leaves INADDR_ANY", () => {
    const p = buildRawPacket(spec({}), scripted(1, 2));
    assert.deepEqual([...p.subarray(12, 16)], [0, 0, 0, 0]);
    assert.ok(verifies(p.subarray(0, 20)));
  });

  it("UDP: ports, length, checksum 0 (none, as C), then the wire text", () => {
    const p = buildRawPacket(spec({}), scripted(0, 0));
    assert.equal(p.readUInt16BE(20), 40000);
    assert.equal(p.readUInt16BE(22), 62201);
    assert.equal(p.readUInt16BE(24), 8 + 16);
    assert.equal(p.readUInt16BE(26), 0);
    assert.equal(p.subarray(28).toString("latin1"), "SPA-wire-text+/=");
  });

  it("TCP: ports, seq 1, ack 0, offset 5, SYN only, window 32767, checksum and urgent 0", () => {
    const p = buildRawPacket(spec({ mode: "tcpraw" }), scripted(0, 0));
    assert.equal(p[9], 6);
    assert.equal(p.length, 20 + 20 + 16);
    assert.equal(p.readUInt16BE(20), 40000);
    assert.equal(p.readUInt16BE(22), 62201);
    assert.equal(p.readUInt32BE(24), 1);
    assert.equal(p.readUInt32BE(28), 0);
    assert.equal(p[32], 0x50);
    assert.equal(p[33], 0x02);
    assert.equal(p.readUInt16BE(34), 32767);
    assert.equal(p.readUInt16BE(36), 0);
    assert.equal(p.readUInt16BE(38), 0);
    assert.equal(p.subarray(40).toString("latin1"), "SPA-wire-text+/=");
  });

  it("ICMP default (0/0, echo reply): no ID or sequence, checksum over header and payload", () => {
    const p = buildRawPacket(spec({ mode: "icmp", payload: Buffer.from("odd") }), scripted(9, 9));
    assert.equal(p[9], 1);
    assert.equal(p[20], 0);
    assert.equal(p[21], 0);
    assert.equal(p.readUInt32BE(24), 0);
    assert.ok(verifies(p.subarray(20)), "ICMP checksum, odd payload length");
    assert.equal(p.subarray(28).toString(), "odd");
  });

  it("ICMP echo request (8/0): random ID, sequence 1; other types carry neither", () => {
    const echo = buildRawPacket(spec({ mode: "icmp", icmpType: 8 }), scripted(1, 2, 0xbe, 0xef));
    assert.equal(echo.readUInt16BE(4), 0x0102);
    assert.equal(echo.readUInt16BE(24), 0xbeef);
    assert.equal(echo.readUInt16BE(26), 1);
    assert.ok(verifies(echo.subarray(20)));
    const other = buildRawPacket(
      spec({ mode: "icmp", icmpType: 8, icmpCode: 3 }),
      scripted(1, 2, 3, 4),
    );
    assert.equal(other[21], 3);
    assert.equal(other.readUInt32BE(24), 0);
    assert.ok(verifies(other.subarray(20)));
  });

  it("the daemon's frame decoder reads back addresses, ports and payload of every mode", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("udpraw" as const, "tcpraw" as const, "icmp" as const),
        fc.integer({ min: 1, max: 65535 }),
        fc.uint8Array({ minLength: 1, maxLength: 1400 }),
        fc.integer({ min: 0, max: 40 }),
        (mode, port, payload, icmpType) => {
          const p = buildRawPacket(
            spec({ mode, sourcePort: port, payload: Buffer.from(payload), icmpType }),
            scripted(7, 7, 7, 7),
          );
          const d = decodeFrame({ linktype: 101, data: p });
          assert.ok(d !== null);
          assert.equal(d.proto, mode === "udpraw" ? "udp" : mode === "tcpraw" ? "tcp" : "icmp");
          assert.equal(d.dstIp, "198.18.0.1");
          if (mode !== "icmp") assert.equal(d.srcPort, port);
          assert.deepEqual([...d.payload], [...payload]);
          assert.ok(verifies(p.subarray(0, 20)));
          if (mode === "icmp") assert.ok(verifies(p.subarray(20)));
        },
      ),
    );
  });
});

const KEY = Buffer.alloc(32, 1).toString("base64");
const knock = ["-A", "tcp/22", "-a", "198.18.0.2", "-D", "198.18.0.1"];
const keys = ["--key-base64-rijndael", KEY, "--no-save-args"];

describe("fwknop's raw-mode options", () => {
  const run = (args: string[]) => runClientInProcess(tempDir(), [...knock, ...keys, ...args]);

  for (const mode of ["udpraw", "tcpraw", "icmp"]) {
    it(`-P ${mode} -T: made and self-checked, a random source port 10000-65534 as C's`, async () => {
      const r = await run(["-P", mode, "-T", "-v"]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`^ {12}protocol: ${mode}$`, "m"));
      const port = Number(/^ {9}source port: (\d+)$/m.exec(r.out)?.[1]);
      assert.ok(port >= 10000 && port <= 65534, r.out);
      assert.match(r.out, /^test mode enabled, SPA packet not actually sent\.$/m);
    });
  }

  it("-S keeps its port in the raw modes; the plain modes still leave it to the OS", async () => {
    const r = await run(["-P", "tcpraw", "-S", "4321", "-T", "-v"]);
    assert.match(r.out, /^ {9}source port: 4321$/m);
    const udp = await run(["-T", "-v"]);
    assert.match(udp.out, /^ {9}source port: <OS assigned>$/m);
  });

  const refusals: [string, string[], RegExp][] = [
    [
      "-Q without a raw mode (C's message)",
      ["-Q", "198.19.1.1"],
      /^fwknop: Must set -P <udpraw\|tcpraw\|icmp> with a spoofed source IP$/,
    ],
    [
      "-Q that is not an IPv4 address",
      ["-P", "udpraw", "--spoof-src", "fd00::1"],
      /^fwknop: Invalid spoof IP: 'fd00::1' \(-Q takes an IPv4 address\)$/,
    ],
    [
      "--icmp-type above 40 (C's message)",
      ["-P", "icmp", "--icmp-type", "41"],
      /^fwknop: --icmp-type: Invalid icmp type '41', must be in \[0-40\]$/,
    ],
    [
      "--icmp-code above 15",
      ["-P", "icmp", "--icmp-code", "16"],
      /^fwknop: --icmp-code: Invalid icmp code '16', must be in \[0-15\]$/,
    ],
    [
      "--icmp-type that is not a number",
      ["-P", "icmp", "--icmp-type", "echo"],
      /^fwknop: --icmp-type: Invalid icmp type 'echo', must be in \[0-40\]$/,
    ],
    ["an unknown -P", ["-P", "sctp"], /Unrecognized protocol: sctp/],
  ];
  for (const [name, args, re] of refusals)
    it(`refuses ${name}, exit 1`, async () => {
      const r = await run([...args, "-T"]);
      assert.equal(r.code, 1);
      assert.match(r.err.trimEnd(), re);
    });

  it("SPOOF_SOURCE_IP and SPA_SERVER_PROTO come from the rc file as C reads them", async () => {
    const home = tempDir();
    const rc = join(home, "rc");
    writeFileSync(rc, "[default]\nSPA_SERVER_PROTO udp\nSPOOF_SOURCE_IP 198.19.2.2\n", {
      mode: 0o600,
    });
    const bad = await runClientInProcess(home, [...knock, ...keys, "--rc-file", rc, "-T"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /Must set -P <udpraw\|tcpraw\|icmp> with a spoofed source IP/);
    const good = await runClientInProcess(home, [
      ...knock,
      ...keys,
      "--rc-file",
      rc,
      "-P",
      "icmp",
      "-T",
    ]);
    assert.equal(good.code, 0, good.err);
  });

  it("where koffi does not load: a clear error naming the alternatives, exit 1", async () => {
    const r = await new Promise<{ code: number; err: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          "--require",
          join(REPO, "test", "fixtures", "without-koffi.cjs"),
          join(REPO, "bin", "fwknop"),
          ...knock.map((a) => (a === "198.18.0.1" ? "127.0.0.1" : a)),
          ...keys,
          "-P",
          "udpraw",
        ],
        { env: { PATH: "/usr/bin:/bin", HOME: tempDir(), LOGNAME: "tester" } },
        (e, _out, err) => {
          resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : -1, err });
        },
      );
    });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^fwknop: -P udpraw needs raw sockets, which are not available here \(koffi could not be loaded: Cannot find module 'koffi' \(hidden by the test\)\); use -P udp, tcp or http\n$/,
    );
  });
});
