/**
 * fwknopd's log lines: levels and the verbosity threshold, syslog priorities through a fake
 * `logger` (argv and each line's `<N>`), the journal's prefixes, LOG_FORMAT json, the levels of
 * configuration warnings and of refusals (C's), and the expiry schedule that logs each grant's end
 * on every backend.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { WriterChild } from "../../src/exec.js";
import type { FirewallBackend, Grant } from "../../src/server/firewall/types.js";
import { ExpiryQueue } from "../../src/server/grants/expiry-queue.js";
import { GrantTable } from "../../src/server/grants/grant-table.js";
import { configWarningLevel } from "../../src/server/log-config.js";
import { stderrIsJournal } from "../../src/server/log-format.js";
import { createLogger, type Logger, type LoggerOptions } from "../../src/server/log.js";
import { processSpa } from "../../src/server/pipeline.js";
import type { PacketLogFields } from "../../src/server/pipeline/types.js";
import { makeSpaPacket, type SpaKeys } from "../../src/spa/index.js";
import { NOW, pipelineStanza, spaFields } from "../fixtures/pipeline.js";

/** A `logger` child that records its argv and what it is sent. */
class FakeLoggerProcess extends EventEmitter {
  readonly stdin = new PassThrough();
  written = "";
  ended = false;
  constructor(readonly argv: readonly string[]) {
    super();
    this.stdin.on("data", (c: Buffer) => (this.written += c.toString()));
    this.stdin.on("finish", () => (this.ended = true));
  }
}

interface Rig {
  logger: Logger;
  stderr: string[];
  spawned: FakeLoggerProcess[];
}

function rig(over: Partial<LoggerOptions> = {}, exists = true): Rig {
  const stderr: string[] = [];
  const spawned: FakeLoggerProcess[] = [];
  const logger = createLogger({
    stderr: true,
    syslog: true,
    verbosity: 0,
    write: (s) => stderr.push(s),
    journal: { stream: undefined, stderr: null },
    now: () => new Date("2026-05-01T10:00:00.000Z"),
    syslogDeps: {
      exists: (p) => exists && p === "/usr/bin/logger",
      spawn: (file, args) => {
        const c = new FakeLoggerProcess([file, ...args]);
        spawned.push(c);
        return c as unknown as WriterChild;
      },
    },
    ...over,
  });
  return { logger, stderr, spawned };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("fwknopd log", () => {
  it("writes each line at its level, up to LOG_INFO plus one level per -v", () => {
    const quiet = rig();
    quiet.logger.log("info", "shown");
    quiet.logger.log("debug", "hidden");
    assert.deepEqual(quiet.stderr, ["shown\n"]);
    const verbose = rig({ verbosity: 1 });
    verbose.logger.log("debug", "now shown");
    assert.deepEqual(verbose.stderr, ["now shown\n"]);
  });

  it("sends syslog each line's own priority, with the configured ident and facility", async () => {
    const r = rig();
    r.logger.configure({ identity: "spa-gw", facility: "LOG_LOCAL0", format: "text" });
    r.logger.log("info", "a grant");
    r.logger.log("warning", "a replay");
    r.logger.log("err", "a failure\non two lines");
    await flush();
    assert.equal(r.spawned.length, 1);
    const child = r.spawned[0];
    assert.ok(child !== undefined);
    assert.deepEqual(child.argv, [
      "/usr/bin/logger",
      "-t",
      "spa-gw",
      `--id=${process.pid}`,
      "--prio-prefix",
      "-S",
      "8192",
    ]);
    // local0 = 16: 16*8+6, +4, +3; a line break would end the line for logger.
    assert.equal(child.written, "<134>a grant\n<132>a replay\n<131>a failure on two lines\n");
  });

  it("starts logger again when the reloaded configuration changes ident or facility", async () => {
    const r = rig();
    r.logger.log("info", "before");
    r.logger.configure({ identity: "fwknopd", facility: "LOG_DAEMON", format: "text" });
    r.logger.log("info", "same settings");
    r.logger.configure({ identity: "fwknopd", facility: "LOG_LOCAL7", format: "text" });
    r.logger.log("notice", "after");
    await flush();
    assert.equal(r.spawned.length, 2);
    const [first, second] = r.spawned;
    assert.ok(first !== undefined && second !== undefined);
    assert.equal(first.written, "<30>before\n<30>same settings\n");
    assert.ok(first.ended, "the first logger's stdin was closed");
    assert.equal(second.written, "<189>after\n");
    r.logger.close();
    await flush();
    assert.ok(second.ended);
  });

  it("says once on stderr when there is no logger program", () => {
    const r = rig({}, false);
    r.logger.log("info", "one");
    r.logger.log("info", "two");
    assert.equal(r.spawned.length, 0);
    assert.equal(r.stderr.filter((l) => l.includes("no syslog")).length, 1);
    assert.match(r.stderr.join(""), /\/usr\/bin\/logger nor \/bin\/logger/);
    assert.ok(r.stderr.includes("one\n") && r.stderr.includes("two\n"));
  });

  it("prefixes stderr lines with the severity only when stderr is the journal's stream", () => {
    const st = { dev: 22n, ino: 123456n };
    const j = rig({ syslog: false, journal: { stream: "22:123456", stderr: st } });
    j.logger.log("warning", "w");
    j.logger.log("info", "i");
    assert.deepEqual(j.stderr, ["<4>w\n", "<6>i\n"]);
    const other = rig({ syslog: false, journal: { stream: "22:999", stderr: st } });
    other.logger.log("warning", "w");
    assert.deepEqual(other.stderr, ["w\n"]);
    assert.equal(stderrIsJournal("22:123456", st), true);
    assert.equal(stderrIsJournal(undefined, st), false);
    assert.equal(stderrIsJournal("22:123456", null), false);
    assert.equal(stderrIsJournal("garbage", st), false);
  });

  it("LOG_FORMAT json: one object a line, to stderr and syslog alike", async () => {
    const r = rig();
    r.logger.configure({ identity: "fwknopd", facility: "LOG_DAEMON", format: "json" });
    r.logger.event(
      "info",
      "grant_added",
      { user: "alice", stanza: 1, src: "198.18.0.2", proto: "tcp", port: 22, expires: NOW },
      "Added access ...",
    );
    r.logger.log("warning", 'a "quoted"\nline');
    await flush();
    const lines = r.stderr.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines[0], {
      ts: "2026-05-01T10:00:00.000Z",
      level: "info",
      event: "grant_added",
      user: "alice",
      stanza: 1,
      src: "198.18.0.2",
      proto: "tcp",
      port: 22,
      expires: NOW,
      msg: "Added access ...",
    });
    assert.equal(lines[1]?.event, "message");
    assert.equal(lines[1].msg, 'a "quoted"\nline');
    const sent = r.spawned[0]?.written.split("\n") ?? [];
    assert.equal(sent[0], `<30>${r.stderr[0]?.trimEnd() ?? ""}`);
    assert.equal(sent[1], `<28>${r.stderr[1]?.trimEnd() ?? ""}`);
  });
});

/**
 * A child node with stderr on a file, logging 20,000 lines while it makes young-generation garbage
 * as a junk flood does: the native memory of Buffers left behind (process.memoryUsage's
 * arrayBuffers) must not grow with the lines.
 */
const LINES_CHILD = `
const { createLogger } = require(${JSON.stringify(join(__dirname, "..", "..", "dist", "src", "server", "log.js"))});
const log = createLogger({ stderr: true, syslog: false, verbosity: 0 });
const before = process.memoryUsage().arrayBuffers;
let n = 0;
// One line a turn of the event loop, as packets come.
const turn = () => {
  const garbage = [];
  for (let i = 0; i < 3000; i++) garbage.push({ i, s: "x" + i });
  if (garbage.length === 0) throw new Error();
  log.log("info", "[198.18.0.2] (stanza #1) Non-corresponding HMAC for this stanza " + n);
  if (++n < 20000) setImmediate(turn);
  else process.stdout.write(String(process.memoryUsage().arrayBuffers - before));
};
turn();
`;

describe("stderr on a file", () => {
  it("holds no Buffer per line: a flood's log lines do not pile up in the old generation", () => {
    const dir = mkdtempSync(join(tmpdir(), "fwknopd-log-"));
    try {
      const fd = openSync(join(dir, "stderr"), "w");
      const r = spawnSync(process.execPath, ["--max-semi-space-size=1", "-e", LINES_CHILD], {
        stdio: ["ignore", "pipe", fd],
        encoding: "utf8",
        timeout: 60_000,
      });
      closeSync(fd);
      assert.equal(r.status, 0, r.stderr);
      const lines = readFileSync(join(dir, "stderr"), "utf8").split("\n").length - 1;
      assert.equal(lines, 20000);
      // Through process.stderr each line was a Buffer from Node's 8 KB pool: ~1.5 MB held here.
      assert.ok(Number(r.stdout) < 256 * 1024, `array buffers grew by ${r.stdout} bytes`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("levels as C logs them", () => {
  it("configuration warnings", () => {
    assert.equal(
      configWarningLevel("a.conf:3: Ignoring unknown configuration parameter: 'X'"),
      "err",
    );
    assert.equal(configWarningLevel("b.conf:4: Ignoring unknown access parameter: 'Y'"), "err");
    assert.equal(
      configWarningLevel(
        "b.conf:1: stanza #1: Warning: REQUIRE_SOURCE_ADDRESS not enabled for this stanza",
      ),
      "info",
    );
    assert.equal(
      configWarningLevel(
        "[-] file: /etc/fwknop/access.conf permissions should only be user read/write",
      ),
      "warning",
    );
    assert.equal(
      configWarningLevel("a.conf:9: ENABLE_X_FORWARDED_FOR is accepted but has no effect (...)"),
      "warning",
    );
  });

  it("refusals: an HMAC mismatch at info, a wrong user at warning, with the fields", () => {
    const keys: SpaKeys = {
      mode: "cbc",
      key: randomBytes(32),
      hmac: { type: "sha256", key: randomBytes(64) },
    };
    const other: SpaKeys = { ...keys, hmac: { type: "sha256", key: randomBytes(64) } };
    const wire = (k: SpaKeys): string =>
      makeSpaPacket(spaFields(), "sha256", k, (n) => randomBytes(n)).wire;
    const run = (data: string, over = {}): { line: string; about: PacketLogFields }[] => {
      const out: { line: string; about: PacketLogFields }[] = [];
      processSpa(
        { data, srcIp: "198.18.0.2", srcPort: 4000, dstIp: "0.0.0.0", dstPort: 62201 },
        [pipelineStanza(1, keys, over)],
        { packetAging: true, maxPacketAge: 120, testMode: false },
        () => false,
        NOW,
        (line, about) => out.push({ line, about }),
      );
      return out;
    };
    const bad = run(wire(other));
    assert.equal(bad.length, 1);
    assert.match(bad[0]?.line ?? "", /Non-corresponding HMAC for this stanza/);
    assert.deepEqual(bad[0]?.about, {
      level: "info",
      event: "spa_rejected",
      src: "198.18.0.2",
      stanza: 1,
      user: undefined,
      reason: "hmac_mismatch",
    });
    const user = run(wire(keys), { requireUsername: "bob" });
    assert.match(user[0]?.line ?? "", /does not match required username: bob/);
    assert.equal(user[0]?.about.level, "warning");
    assert.equal(user[0].about.user, "alice");
    assert.equal(user[0].about.reason, "username");
  });
});

describe("expiry schedule", () => {
  it("takes entries in time order and drops replaced ones", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.nat(20))), (adds) => {
        const live = new Map<string, number>();
        const q = new ExpiryQueue((d) => live.get(d.key) === d.at);
        for (const [at, k] of adds) {
          live.set(`k${k}`, at);
          q.push(at, `k${k}`);
        }
        const taken = q.takeDue(25).map((d) => d.at);
        assert.deepEqual(
          taken,
          [...taken].sort((a, b) => a - b),
        );
        const want = [...live.values()].filter((at) => at <= 25).sort((a, b) => a - b);
        // A key re-added with the same time is taken twice; the owner skips the second.
        assert.deepEqual([...new Set(taken)], [...new Set(want)]);
        assert.ok(taken.every((at) => at <= 25));
      }),
    );
  });

  it("stays bounded by the live grants when grants are replaced again and again", () => {
    const live = new Map<string, number>();
    const q = new ExpiryQueue((d) => live.get(d.key) === d.at);
    for (let i = 0; i < 100_000; i++) {
      const key = `k${i % 10}`;
      live.set(key, 1000 + i);
      q.push(1000 + i, key);
      q.compact(live.size, () => [...live].map(([k, at]) => ({ key: k, at })));
    }
    assert.ok(q.size <= 2 * live.size + 64 + 1, `heap of ${q.size} for ${live.size} grants`);
    assert.equal(q.peek()?.at, 1000 + 99_990);
  });
});

class Fw implements FirewallBackend {
  readonly name: "nftables" | "iptables";
  readonly revoked: string[] = [];
  constructor(readonly expiresItself: boolean) {
    this.name = expiresItself ? "nftables" : "iptables";
  }
  init(): Promise<void> {
    return Promise.resolve();
  }
  grant(): Promise<void> {
    return Promise.resolve();
  }
  revoke(grants: readonly Grant[]): Promise<void> {
    this.revoked.push(...grants.map((g) => g.address));
    return Promise.resolve();
  }
  list(): Promise<Grant[]> {
    return Promise.resolve([]);
  }
  listText(): Promise<string> {
    return Promise.resolve("");
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const grant = (address: string, expiresAt: number): Grant => ({
  stanza: 2,
  user: "alice",
  address,
  family: 4,
  proto: "tcp",
  port: 22,
  expiresAt,
  destination: null,
});

describe("grant table: one line when a grant expires, on every backend", () => {
  for (const itself of [true, false])
    it(
      itself
        ? "nftables: the kernel removes it, the daemon logs it"
        : "iptables: removed and logged",
      async () => {
        let now = NOW;
        const lines: string[] = [];
        const fw = new Fw(itself);
        const t = new GrantTable(
          fw,
          () => now,
          (level, event, f, text) => {
            lines.push(
              `${level} ${event} ${f.src ?? ""}:${f.port ?? ""} ${f.expires ?? ""}: ${text}`,
            );
          },
        );
        await t.add([grant("198.18.0.2", NOW + 10), grant("198.18.0.3", NOW + 20)]);
        now = NOW + 10;
        await t.expire();
        now = NOW + 15;
        await t.expire();
        assert.deepEqual(lines, [
          `info grant_expired 198.18.0.2:22 ${NOW + 10}: Removed expired access for 198.18.0.2 tcp/22 (stanza #2, user 'alice') with expire time of ${NOW + 10}${itself ? " (removed by nftables itself)" : ""}`,
        ]);
        assert.deepEqual(fw.revoked, itself ? [] : ["198.18.0.2"]);
        assert.deepEqual(
          t.list().map((g) => g.address),
          ["198.18.0.3"],
        );
        t.stop();
      },
    );

  it("a grant renewed before its time expires once, at the new time", async () => {
    let now = NOW;
    const lines: string[] = [];
    const t = new GrantTable(
      new Fw(true),
      () => now,
      (_l, _e, _f, text) => lines.push(text),
    );
    await t.add([grant("198.18.0.2", NOW + 10)]);
    now = NOW + 5;
    await t.add([grant("198.18.0.2", NOW + 35)]);
    now = NOW + 10;
    await t.expire();
    assert.deepEqual(lines, []);
    now = NOW + 35;
    await t.expire();
    assert.equal(lines.length, 1);
    assert.match(lines.join("\n"), new RegExp(`with expire time of ${NOW + 35}`));
    t.stop();
  });

  it("its one timer fires at the expiry time", async () => {
    const lines: string[] = [];
    const start = Math.floor(Date.now() / 1000);
    const t = new GrantTable(
      new Fw(true),
      () => Math.floor(Date.now() / 1000),
      (_l, _e, _f, text) => lines.push(text),
    );
    await t.add([grant("198.18.0.2", start + 1)]);
    const deadline = Date.now() + 3000;
    while (lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(lines.length, 1, "logged within 2 s of the expiry time");
    assert.ok(Date.now() / 1000 >= start + 1);
    t.stop();
  });
});
