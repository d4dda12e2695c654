/**
 * NFQUEUE capture's pure parts: the nfnetlink_queue messages we build and read (against the
 * kernel's layouts), the reader's frame stream (split anywhere, hostile lengths), the queue rule
 * for each backend (C's iptables arguments, the nft script, the fallback), and the variables.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseFwknopdConf } from "../../src/config/fwknopd-conf.js";
import { ConfigError } from "../../src/errors.js";
import type { Exec } from "../../src/exec.js";
import {
  IptQueueRule,
  NftQueueRule,
  iptQueueRule,
  nftInstallScript,
  type NfqRuleSpec,
} from "../../src/server/firewall/nfq-rule.js";
import {
  COPY_RANGE,
  FrameStream,
  MAX_FRAME,
  encodeFrames,
} from "../../src/server/listen/nfq-frames.js";
import {
  batchVerdictRequest,
  bindRequest,
  decodeMessages,
  paramsRequest,
  verdictRequest,
} from "../../src/server/listen/nfq-netlink.js";
import { loadConfig } from "../../src/server/load-config.js";
import { defaultServerArgs } from "../../src/server/options.js";
import { ipUdp, netlinkAck, queuedPacket } from "../fixtures/nfq.js";

const dir = mkdtempSync(join(tmpdir(), "nfq-unit-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const file = (text: string): string => {
  const p = join(dir, `f${++n}.conf`);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};

describe("nfnetlink_queue requests", () => {
  it("bind: nlmsghdr (length, NFNL_SUBSYS_QUEUE<<8|CONFIG, REQUEST|ACK, seq), queue big-endian, NFQA_CFG_CMD BIND", () => {
    const m = bindRequest(7, 42);
    assert.equal(m.readUInt32LE(0), m.length);
    assert.equal(m.length, 16 + 4 + 8);
    assert.equal(m.readUInt16LE(4), 0x0302);
    assert.equal(m.readUInt16LE(6), 1 | 4);
    assert.equal(m.readUInt32LE(8), 42);
    assert.equal(m.readUInt16BE(18), 7);
    assert.deepEqual([...m.subarray(20)], [8, 0, 1, 0, 1, 0, 0, 0]);
  });

  it("params: copy range and COPY_PACKET, then the queue length, both big-endian", () => {
    const m = paramsRequest(1, 2, COPY_RANGE, 1024);
    assert.equal(m.readUInt32LE(0), m.length);
    // NFQA_CFG_PARAMS: len 9 (padded to 12), type 2, copy_range, mode 2.
    assert.equal(m.readUInt16LE(20), 9);
    assert.equal(m.readUInt16LE(22), 2);
    assert.equal(m.readUInt32BE(24), 1568);
    assert.equal(m.readUInt8(28), 2);
    // NFQA_CFG_QUEUE_MAXLEN at the next 4-byte boundary.
    assert.equal(m.readUInt16LE(32), 8);
    assert.equal(m.readUInt16LE(34), 3);
    assert.equal(m.readUInt32BE(36), 1024);
    assert.equal(m.length, 40);
  });

  it("verdicts: NFQA_VERDICT_HDR (verdict, id) in a VERDICT or VERDICT_BATCH message, no ack", () => {
    const one = verdictRequest(3, 0xfffffffe, 1);
    assert.equal(one.readUInt16LE(4), 0x0301);
    assert.equal(one.readUInt16LE(6), 1);
    assert.equal(one.readUInt16BE(18), 3);
    assert.equal(one.readUInt32BE(24), 1);
    assert.equal(one.readUInt32BE(28), 0xfffffffe);
    const batch = batchVerdictRequest(3, 99, 0);
    assert.equal(batch.readUInt16LE(4), 0x0303);
    assert.equal(batch.readUInt32BE(24), 0);
    assert.equal(batch.readUInt32BE(28), 99);
  });
});

describe("nfnetlink_queue messages from the kernel", () => {
  const pkt = ipUdp(Buffer.alloc(200, 0x41));

  it("a queued packet: id, hook, queue and the packet itself", () => {
    const ms = decodeMessages(queuedPacket({ id: 5, hook: 1, queue: 9 }, pkt));
    assert.ok(Array.isArray(ms));
    assert.equal(ms.length, 1);
    const m = ms[0];
    assert.ok(m?.kind === "packet");
    assert.equal(m.id, 5);
    assert.equal(m.hook, 1);
    assert.equal(m.queue, 9);
    assert.equal(m.truncated, false);
    assert.deepEqual(m.payload, pkt);
  });

  it("NFQA_CAP_LEN above the copied length marks the packet truncated", () => {
    const ms = decodeMessages(queuedPacket({ id: 1, capLen: 3000 }, pkt));
    assert.ok(Array.isArray(ms) && ms[0]?.kind === "packet");
    assert.equal(ms[0].truncated, true);
  });

  it("several messages in one datagram, acks and errors with their request's seq", () => {
    const b = Buffer.concat([
      netlinkAck(1, 0),
      queuedPacket({ id: 2 }, pkt),
      netlinkAck(2, 1),
      queuedPacket({ id: 3, hook: 2 }, pkt),
    ]);
    const ms = decodeMessages(b);
    assert.ok(Array.isArray(ms));
    assert.deepEqual(
      ms.map((m) => (m.kind === "ack" ? `ack ${m.seq} ${m.errno}` : `pkt ${m.id} ${m.hook}`)),
      ["ack 1 0", "pkt 2 1", "ack 2 1", "pkt 3 2"],
    );
  });

  it("every truncation of a datagram is refused or read in part, never thrown", () => {
    const b = Buffer.concat([queuedPacket({ id: 2 }, pkt), netlinkAck(7, 16)]);
    for (let len = 0; len < b.length; len++) {
      const r = decodeMessages(b.subarray(0, len));
      if (typeof r !== "string") assert.ok(r.length <= 1, `at ${len}`);
    }
  });

  it("hostile lengths: a message or attribute running past the end is a reason", () => {
    const b = queuedPacket({ id: 2 }, pkt);
    const long = Buffer.from(b);
    long.writeUInt32LE(b.length + 4, 0);
    assert.equal(typeof decodeMessages(long), "string");
    const badAttr = Buffer.from(b);
    badAttr.writeUInt16LE(0xffff, 20);
    assert.equal(typeof decodeMessages(badAttr), "string");
    const tiny = Buffer.from(b);
    tiny.writeUInt32LE(3, 0);
    assert.equal(typeof decodeMessages(tiny), "string");
  });

  it("random bytes never throw", () => {
    for (let i = 0; i < 2000; i++) decodeMessages(randomBytes(i % 300));
  });
});

describe("the reader's frame stream", () => {
  const packets = [ipUdp(Buffer.alloc(300, 1)), ipUdp(Buffer.alloc(150, 2)), Buffer.alloc(1, 9)];

  it("frames come out whole however the pipe splits the bytes", () => {
    const wire = encodeFrames(packets);
    for (let cut = 0; cut <= wire.length; cut += 7) {
      const got: Buffer[] = [];
      const s = new FrameStream((p) => got.push(Buffer.from(p)));
      s.feed(wire.subarray(0, cut));
      s.feed(wire.subarray(cut));
      assert.equal(s.failed, null);
      assert.deepEqual(got, packets, `cut at ${cut}`);
    }
    const got: Buffer[] = [];
    const s = new FrameStream((p) => got.push(Buffer.from(p)));
    for (const byte of wire) s.feed(Buffer.from([byte]));
    assert.deepEqual(got, packets);
  });

  it("a length of 0 or over MAX_FRAME stops the stream; nothing after it is read", () => {
    for (const bad of [0, MAX_FRAME + 1, 0xffffffff]) {
      const got: Buffer[] = [];
      const s = new FrameStream((p) => got.push(p));
      const h = Buffer.alloc(4);
      h.writeUInt32BE(bad, 0);
      s.feed(Buffer.concat([encodeFrames(packets.slice(0, 1)), h, encodeFrames(packets)]));
      assert.match(s.failed ?? "", /frame length/);
      assert.equal(got.length, 1);
      s.feed(encodeFrames(packets));
      assert.equal(got.length, 1);
    }
  });

  it("an over-long packet is cut to MAX_FRAME by the writer", () => {
    const got: Buffer[] = [];
    new FrameStream((p) => got.push(p)).feed(encodeFrames([Buffer.alloc(5000)]));
    assert.equal(got[0]?.length, MAX_FRAME);
  });
});

describe("the queue rule", () => {
  const spec: NfqRuleSpec = {
    queue: 1,
    port: 62201,
    table: "mangle",
    chain: "FWKNOP_NFQ",
    intf: "",
  };

  it("iptables: C's IPT_NFQ_ADD_ARGS, with -i for NFQ_INTERFACE", () => {
    assert.deepEqual(
      iptQueueRule(spec).join(" "),
      "-p udp -m udp --dport 62201 -j NFQUEUE --queue-num 1",
    );
    assert.deepEqual(
      iptQueueRule({ ...spec, intf: "eth0", queue: 4 }).join(" "),
      "-i eth0 -p udp -m udp --dport 62201 -j NFQUEUE --queue-num 4",
    );
  });

  it("iptables: chain, jump at INPUT 1, rule; removal takes the jump, flushes and deletes", async () => {
    const calls: string[] = [];
    const r = new IptQueueRule(
      spec,
      (args) => {
        calls.push(args.join(" "));
        // -L (chain absent), -C (no jump), then the rest succeed; the second -D finds no jump.
        const fails =
          /^-t mangle -[LC] /.test(args.join(" ")) ||
          calls.filter((c) => c.includes("-D INPUT")).length > 1;
        return Promise.resolve({ code: fails ? 1 : 0, stderr: "" });
      },
      "iptables",
    );
    await r.install();
    assert.deepEqual(calls, [
      "-t mangle -L FWKNOP_NFQ -n",
      "-t mangle -N FWKNOP_NFQ",
      "-t mangle -C INPUT -j FWKNOP_NFQ",
      "-t mangle -I INPUT 1 -j FWKNOP_NFQ",
      "-t mangle -A FWKNOP_NFQ -p udp -m udp --dport 62201 -j NFQUEUE --queue-num 1",
    ]);
    calls.length = 0;
    await r.remove();
    assert.deepEqual(calls, [
      "-t mangle -D INPUT -j FWKNOP_NFQ",
      "-t mangle -D INPUT -j FWKNOP_NFQ",
      "-t mangle -F FWKNOP_NFQ",
      "-t mangle -X FWKNOP_NFQ",
    ]);
  });

  it("iptables: a failing step names ENABLE_NFQ_CAPTURE and the fix", async () => {
    const r = new IptQueueRule(
      spec,
      () => Promise.resolve({ code: 1, stderr: "No chain/target/match by that name." }),
      "iptables",
    );
    await assert.rejects(
      r.install(),
      /ENABLE_NFQ_CAPTURE: iptables -t mangle -N FWKNOP_NFQ failed: .*set ENABLE_NFQ_CAPTURE N/,
    );
  });

  it("nftables: a base chain at NFQ_TABLE's priority, the interface quoted", () => {
    assert.deepEqual(nftInstallScript({ ...spec, intf: "eth0" }, "inet", "fwknopd"), [
      "add table inet fwknopd",
      "add chain inet fwknopd FWKNOP_NFQ { type filter hook input priority mangle; policy accept; }",
      "flush chain inet fwknopd FWKNOP_NFQ",
      'add rule inet fwknopd FWKNOP_NFQ iifname "eth0" udp dport 62201 counter queue num 1',
    ]);
  });

  it("nftables: a kernel without the queue expression falls back to iptables-nft", async () => {
    const calls: string[] = [];
    const exec: Exec = (f, args, o) => {
      calls.push(
        `${f} ${args.join(" ")}${o?.input !== undefined ? ` <<${o.input.trim().split("\n").length} lines` : ""}`,
      );
      if (f === "nft")
        return Promise.resolve({
          code: 1,
          stdout: "",
          stderr: "Error: Could not process rule: No such file or directory",
        });
      const code = /-[LC] /.test(args.join(" ")) ? 1 : 0;
      return Promise.resolve({ code, stdout: "", stderr: "" });
    };
    const r = new NftQueueRule(
      spec,
      ["nft"],
      { family: "inet", table: "fwknopd" },
      exec,
      "/usr/sbin/iptables-nft",
    );
    await r.install();
    assert.equal(calls[0], "nft -f - <<4 lines");
    assert.ok(
      calls.includes(
        "/usr/sbin/iptables-nft -w -t mangle -A FWKNOP_NFQ -p udp -m udp --dport 62201 -j NFQUEUE --queue-num 1",
      ),
      calls.join("\n"),
    );
    assert.match(r.description, /iptables-nft/);
    calls.length = 0;
    await r.remove();
    assert.ok(
      calls.every((c) => c.startsWith("/usr/sbin/iptables-nft")),
      calls.join("\n"),
    );
  });

  it("nftables: removing (--fw-flush) also finds an iptables-nft form, looking with nft first", async () => {
    for (const present of [true, false]) {
      const calls: string[] = [];
      const exec: Exec = (f, args) => {
        calls.push(`${f} ${args.join(" ")}`);
        const code = f === "nft" && args[0] === "list" ? (present ? 0 : 1) : f === "nft" ? 1 : 0;
        const stderr = code === 0 ? "" : "Error: No such file or directory";
        return Promise.resolve({ code, stdout: "", stderr });
      };
      const ipt = "/usr/sbin/iptables-nft";
      const where = { family: "inet", table: "fwknopd" };
      await new NftQueueRule(spec, ["nft"], where, exec, ipt).remove();
      assert.equal(calls[1], "nft list chain ip mangle FWKNOP_NFQ");
      assert.equal(calls.includes(`${ipt} -w -t mangle -X FWKNOP_NFQ`), present, calls.join("\n"));
    }
  });

  it("nftables: other errors, or no iptables-nft, fail naming ENABLE_NFQ_CAPTURE", async () => {
    const exec: Exec = () =>
      Promise.resolve({
        code: 1,
        stdout: "",
        stderr: "Error: Could not process rule: No such file or directory",
      });
    const r = new NftQueueRule(spec, ["nft"], { family: "inet", table: "fwknopd" }, exec, null);
    await assert.rejects(
      r.install(),
      /ENABLE_NFQ_CAPTURE: .*set ENABLE_NFQ_CAPTURE N, or load the kernel's NFQUEUE support \(nft_queue\)/,
    );
  });
});

describe("the NFQ variables", () => {
  function refuses(text: string, detail: RegExp): void {
    const p = file(text);
    assert.throws(
      () => parseFwknopdConf({ main: p, overrides: [] }),
      (e: unknown) =>
        e instanceof ConfigError && e.file === p && e.line === 2 && detail.test(e.message),
    );
  }

  it("NFQ_TABLE, NFQ_CHAIN and NFQ_INTERFACE are checked (they go into nft and iptables rules)", () => {
    refuses(
      "ENABLE_NFQ_CAPTURE Y\nNFQ_TABLE nat\n",
      /NFQ_TABLE 'nat': expected raw, mangle, filter or security/,
    );
    refuses(
      'ENABLE_NFQ_CAPTURE Y\nNFQ_INTERFACE eth0"; drop\n',
      /NFQ_INTERFACE .*not an interface name/,
    );
    refuses("ENABLE_NFQ_CAPTURE Y\nNFQ_CHAIN a/b\n", /NFQ_CHAIN/);
    refuses("ENABLE_NFQ_CAPTURE Y\nNFQ_QUEUE_NUMBER 65536\n", /out of range/);
  });

  it("ENABLE_NFQ_CAPTURE Y is the only way in, as in C: no UDP server, TCP server or pcap", () => {
    const conf = file(
      "ENABLE_NFQ_CAPTURE Y\nENABLE_UDP_SERVER Y\nENABLE_TCP_SERVER Y\nNFQ_QUEUE_NUMBER 3\nNFQ_PORT 4444\nNFQ_INTERFACE eth1\nNFQ_LOOP_SLEEP 100000\n",
    );
    const access = file(`SOURCE ANY\nKEY_BASE64 ${Buffer.alloc(32, 1).toString("base64")}\n`);
    const d = loadConfig({ ...defaultServerArgs(), configFile: conf, accessFile: access }).daemon;
    assert.equal(d.udp.enabled, false);
    assert.equal(d.tcp.enabled, false);
    assert.equal(d.pcap.enabled, false);
    assert.deepEqual(d.nfq, {
      queue: 3,
      port: 4444,
      loopSleepUs: 100000,
      rule: { queue: 3, port: 4444, table: "mangle", chain: "FWKNOP_NFQ", intf: "eth1" },
    });
    const off = file("ENABLE_UDP_SERVER Y\n");
    const d2 = loadConfig({ ...defaultServerArgs(), configFile: off, accessFile: access }).daemon;
    assert.equal(d2.nfq, null);
    assert.equal(d2.udp.enabled, true);
  });
});
