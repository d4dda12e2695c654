/**
 * The recvmmsg listener on loopback (127.0.0.1 and ::1 only; no firewall, no namespace): what
 * arrives, in what order, how over-long datagrams come out, closing, and a taken port.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { arch, platform } from "node:os";
import { after, describe, it } from "node:test";
import { EnvironmentError } from "../../src/errors.js";
import {
  STALE_MS,
  listenUdpBatch,
  type UdpBatchListener,
} from "../../src/server/listen/udp-batch.js";
import type { Datagram, Listener } from "../../src/server/listen/types.js";
import { processSpa } from "../../src/server/pipeline.js";
import { Refusal } from "../../src/server/refusals.js";
import { pipelineStanza, NOW } from "../fixtures/pipeline.js";
import { randomBytes } from "node:crypto";

// Where the fast path is meant to work it must load; elsewhere the daemon falls back to dgram.
const supported = platform() === "linux" && (arch() === "x64" || arch() === "arm64");

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const sockets: Socket[] = [];
const listeners: Listener[] = [];
after(async () => {
  for (const l of listeners) await l.close();
  for (const s of sockets) s.close();
});

/** A UDP port nobody holds right now, on both families. */
async function freePort(): Promise<number> {
  const s = createSocket({ type: "udp6", ipv6Only: false });
  await new Promise<void>((r) => s.bind(0, "::", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(r));
  return port;
}

async function client(type: "udp4" | "udp6", address: string): Promise<Socket> {
  const s = createSocket(type);
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, address, r));
  return s;
}

function send(s: Socket, data: Buffer | string, port: number, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.send(data, port, to, (e) => {
      if (e === null) resolve();
      else reject(e);
    });
  });
}

function listen(
  port: number,
  ipv6: boolean,
  got: Datagram[],
  destinations = false,
): UdpBatchListener {
  const l = listenUdpBatch(port, ipv6, (d) => got.push(d));
  if (typeof l === "string") throw new Error(`batched listener unavailable: ${l}`);
  assert.equal(l.destinations(destinations), true);
  listeners.push(l);
  return l;
}

/** Until `got` has n datagrams, for at most `ms`. */
async function until(got: Datagram[], n: number, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (got.length < n && Date.now() < end) await sleep(5);
}

describe("batched UDP listener (recvmmsg)", { skip: !supported && "not a verified ABI" }, () => {
  it("loads here and says so in its description", async () => {
    const port = await freePort();
    const l = listenUdpBatch(port, true, () => undefined);
    if (typeof l === "string") assert.fail(l);
    assert.equal(
      l.description,
      `UDP server on port ${port} (IPv4 and IPv6), recvmmsg batches of 64`,
    );
    await l.close();
  });

  it("IPv4 and IPv6 clients arrive with their address, port, data and the address they were sent to", async () => {
    const port = await freePort();
    const got: Datagram[] = [];
    listen(port, true, got, true);
    const c4 = await client("udp4", "127.0.0.1");
    const c6 = await client("udp6", "::1");
    await send(c4, Buffer.from("from v4 \u00e9\u00ff", "latin1"), port, "127.0.0.1");
    await until(got, 1);
    await send(c6, Buffer.from([0x80, 0x00, 0x41]), port, "::1");
    await until(got, 2);
    // All of 127/8 is loopback on Linux: a second IPv4 source, right after the first.
    const other = await client("udp4", "127.0.0.2");
    await send(other, "second v4 source", port, "127.0.0.1");
    // Another destination (IP_PKTINFO through the dual-stack socket, as a mapped address).
    await send(c4, "first again", port, "127.0.0.3");
    await until(got, 4);
    assert.deepEqual(
      got.slice(2).map((d) => [d.srcIp, d.srcPort, d.data, d.dstIp]),
      [
        ["127.0.0.2", other.address().port, "second v4 source", "127.0.0.1"],
        ["127.0.0.1", c4.address().port, "first again", "127.0.0.3"],
      ],
    );
    assert.deepEqual(got.slice(0, 2), [
      {
        data: "from v4 \u00e9\u00ff",
        srcIp: "127.0.0.1",
        srcPort: c4.address().port,
        dstIp: "127.0.0.1",
        dstPort: port,
        transport: "udp",
      },
      {
        data: "\u0080\u0000A",
        srcIp: "::1",
        srcPort: c6.address().port,
        dstIp: "::1",
        dstPort: port,
        transport: "udp",
      },
    ]);
  });

  it("an IPv4-only listener takes IPv4, with its destination once asked for", async () => {
    const port = await freePort();
    const got: Datagram[] = [];
    const l = listen(port, false, got);
    const c4 = await client("udp4", "127.0.0.1");
    await send(c4, "v4 only", port, "127.0.0.5");
    await until(got, 1);
    assert.equal(l.destinations(true), true);
    await send(c4, "now with its destination", port, "127.0.0.5");
    await until(got, 2);
    const [d, e, ...more] = got;
    assert.equal(more.length, 0);
    assert.ok(d !== undefined && e !== undefined);
    assert.equal(d.srcIp, "127.0.0.1");
    assert.equal(d.srcPort, c4.address().port);
    assert.equal(d.data, "v4 only");
    assert.equal(d.dstIp, "0.0.0.0", "not asked for: as C's UDP server");
    assert.equal(e.dstIp, "127.0.0.5", "the destination, from IP_PKTINFO");
  });

  it("a burst of 4,000 datagrams from two clients arrives whole, in order, in batches", async () => {
    const port = await freePort();
    const got: Datagram[] = [];
    // A run is the datagrams handed over in one go, before any promise job can run.
    let runs = 0;
    let inRun = false;
    const l = listenUdpBatch(port, true, (d) => {
      got.push(d);
      if (inRun) return;
      runs++;
      inRun = true;
      queueMicrotask(() => (inRun = false));
    });
    if (typeof l === "string") assert.fail(l);
    listeners.push(l);
    const a = await client("udp4", "127.0.0.1");
    const b = await client("udp6", "::1");
    const total = 4000;
    const body = (j: number): string => `${j}:${(j % 2 === 0 ? "x" : "y").repeat(j % 300)}`;
    // Sent in waves the receive queue can hold, so none is dropped before the listener reads.
    for (let i = 0; i < total; i += 200) {
      const wave: Promise<void>[] = [];
      for (let j = i; j < i + 200; j++)
        wave.push(
          j % 2 === 0 ? send(a, body(j), port, "127.0.0.1") : send(b, body(j), port, "::1"),
        );
      await Promise.all(wave);
    }
    await until(got, total, 10_000);
    assert.equal(got.length, total);
    // Loopback queues a datagram as it is sent, so arrival order is the order of sending.
    got.forEach((d, j) => {
      assert.equal(d.data, body(j));
      assert.equal(d.srcIp, j % 2 === 0 ? "127.0.0.1" : "::1");
      assert.equal(d.srcPort, (j % 2 === 0 ? a : b).address().port);
    });
    assert.ok(runs < total / 4, `${runs} runs for ${total} datagrams`);
  });

  it("drops unread what waited over STALE_MS in the queue, and says how many", async () => {
    const port = await freePort();
    const got: string[] = [];
    let stale = 0;
    const l = listenUdpBatch(
      port,
      false,
      (d) => {
        got.push(d.data);
        // A handler that keeps the thread as a thousand stanzas under a flood would.
        if (d.data === "slow") for (const end = Date.now() + STALE_MS + 200; Date.now() < end;);
      },
      (n) => (stale += n),
    );
    if (typeof l === "string") assert.fail(l);
    listeners.push(l);
    const a = await client("udp4", "127.0.0.1");
    // Sent in one go: all are queued before the handler starts its wait.
    for (const data of ["slow", ...Array.from({ length: 20 }, (_, i) => `queued ${i}`)])
      a.send(data, port, "127.0.0.1");
    const end = Date.now() + 5000;
    while (stale + got.length < 21 && Date.now() < end) await sleep(5);
    assert.deepEqual(got, ["slow"]);
    assert.equal(stale, 20);
    await send(a, "fresh", port, "127.0.0.1");
    while (got.length < 2 && Date.now() < end) await sleep(5);
    assert.deepEqual(got, ["slow", "fresh"]);
  });

  it("over 1500 bytes comes out as over-long, and the pipeline refuses it as too large", async () => {
    const port = await freePort();
    const got: Datagram[] = [];
    listen(port, true, got);
    const c = await client("udp4", "127.0.0.1");
    // 1536 fills a buffer slot exactly; 1537 and 2000 are cut by the kernel (MSG_TRUNC).
    const sizes = [1499, 1500, 1501, 1536, 1537, 2000, 9000];
    for (const n of sizes) await send(c, Buffer.alloc(n, 0x41), port, "127.0.0.1");
    await until(got, sizes.length);
    assert.deepEqual(
      got.map((d) => d.data.length),
      [1499, 1500, 1501, 1501, 1501, 1501, 1501],
    );
    const stanza = pipelineStanza(1, {
      mode: "cbc",
      key: randomBytes(32),
      hmac: { type: "sha256", key: randomBytes(64) },
    });
    const settings = { packetAging: true, maxPacketAge: 120, testMode: false };
    for (const d of got.slice(1)) {
      const r = processSpa(
        d,
        [stanza],
        settings,
        () => false,
        NOW,
        () => undefined,
      );
      assert.equal(r.kind === "refuse" ? r.reason : r.kind, Refusal.TooLarge);
    }
  });

  it("close() returns within a second, even while blocked, and the port is free again", async () => {
    const port = await freePort();
    const got: Datagram[] = [];
    const l = listen(port, true, got);
    await sleep(50);
    const t0 = Date.now();
    await l.close();
    assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
    await l.close();
    // The port binds again, with dgram and with this listener.
    const s = createSocket({ type: "udp6", ipv6Only: false });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.bind(port, "::", resolve);
    });
    await new Promise<void>((r) => s.close(r));
    const again: Datagram[] = [];
    listen(port, true, again);
    const c = await client("udp4", "127.0.0.1");
    await send(c, "after reopen", port, "127.0.0.1");
    await until(again, 1);
    assert.equal(again[0]?.data, "after reopen");
    assert.equal(got.length, 0);
  });

  it("close() while datagrams keep coming returns at once, and nothing arrives after", async () => {
    const port = await freePort();
    const got: Datagram[] = [];
    const l = listen(port, true, got);
    // A child sends as fast as it can for at most two seconds.
    const code = `const s = require("node:dgram").createSocket("udp4");
      const end = Date.now() + 2000;
      s.connect(${port}, "127.0.0.1", function go() {
        if (Date.now() > end) return s.close();
        for (let i = 0; i < 64; i++) s.send("flowing");
        setImmediate(go);
      });
      s.on("error", () => undefined);`;
    const child = spawn(process.execPath, ["-e", code], { stdio: "ignore" });
    const exited = new Promise((r) => child.once("exit", r));
    try {
      await until(got, 2000, 5000);
      assert.ok(got.length >= 2000, `only ${got.length} arrived`);
      const t0 = Date.now();
      await l.close();
      assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
      const n = got.length;
      await sleep(100);
      assert.equal(got.length, n);
    } finally {
      child.kill();
      await exited;
    }
  });

  it("goes back to waiting on the pool once the flow stops: no polling while idle", async () => {
    const port = await freePort();
    const got: Datagram[] = [];
    listen(port, true, got);
    const c = await client("udp4", "127.0.0.1");
    for (let i = 0; i < 20; i++) {
      await Promise.all(Array.from({ length: 50 }, () => send(c, "burst", port, "127.0.0.1")));
      await sleep(2);
    }
    await until(got, 1000);
    assert.equal(got.length, 1000);
    await sleep(50);
    // Polling every millisecond would cost ~30 ms of CPU a second here; waiting costs ~2.
    const t0 = process.cpuUsage();
    await sleep(1000);
    const used = process.cpuUsage(t0);
    assert.ok(used.user + used.system < 15_000, `${used.user + used.system} us of CPU while idle`);
  });

  it("nothing more is delivered once close() is called from the handler", async () => {
    const port = await freePort();
    const seen: { calls: number; closing: Promise<void> | null } = { calls: 0, closing: null };
    const l: Listener | string = listenUdpBatch(port, true, () => {
      seen.calls++;
      seen.closing ??= (l as Listener).close();
    });
    if (typeof l === "string") assert.fail(l);
    // This thread is held up for longer than the receive timeout while a child sends 50
    // datagrams: they wait in the kernel together and come back in one batch, whose first
    // datagram closes the listener (as -C's packet limit does).
    const code = `const s = require("node:dgram").createSocket("udp4");
      setTimeout(() => {
        let left = 50;
        for (let i = 0; i < 50; i++)
          s.send("one of many", ${port}, "127.0.0.1", () => { if (--left === 0) s.close(); });
      }, 400);`;
    execFileSync(process.execPath, ["-e", code], { timeout: 10_000 });
    const end = Date.now() + 2000;
    while (seen.closing === null && Date.now() < end) await sleep(5);
    assert.ok(seen.closing !== null, "nothing arrived");
    await seen.closing;
    await sleep(50);
    assert.equal(seen.calls, 1);
  });

  it("a taken port is refused with the syscall, errno and address", async () => {
    const port = await freePort();
    const holder = createSocket({ type: "udp6", ipv6Only: false });
    sockets.push(holder);
    await new Promise<void>((r) => holder.bind(port, "::", r));
    // A listener that opened anyway is closed at the end, so a failure cannot hang the run.
    const attempt = (ipv6: boolean): unknown => {
      try {
        const l = listenUdpBatch(port, ipv6, () => undefined);
        if (typeof l !== "string") listeners.push(l);
        return l;
      } catch (e) {
        return e;
      }
    };
    assert.ok(attempt(true) instanceof EnvironmentError);
    assert.equal(
      (attempt(true) as Error).message,
      `bind EADDRINUSE: address already in use :::${port}`,
    );
    assert.equal(
      (attempt(false) as Error).message,
      `bind EADDRINUSE: address already in use 0.0.0.0:${port}`,
    );
  });
});
