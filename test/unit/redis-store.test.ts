/**
 * REPLAY_STORE redis without a Redis: the variables (errors with file:line, the URL file's
 * permissions), the claim's expiry derived from the packet's timestamp, the claim against a fake
 * connection (won, lost, unavailable, slow, too many waiting), the reconciliation, and the journal
 * folded into live grants. The real redis-server is in test/e2e/fwknopd-redis.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseFwknopdConf } from "../../src/config/fwknopd-conf.js";
import { ConfigError } from "../../src/errors.js";
import { liveFromJournal } from "../../src/server/replay/grant-journal.js";
import { redisSettingsOf } from "../../src/server/replay/redis-config.js";
import type { RedisLink } from "../../src/server/replay/redis-link.js";
import {
  CLOCK_SLACK_SECS,
  MAX_PENDING_CLAIMS,
  SharedClaims,
  claimDeadlineMs,
} from "../../src/server/replay/shared-claims.js";

const dir = mkdtempSync(join(tmpdir(), "redis-store-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const confOf = (text: string, mode = 0o600) => {
  const p = join(dir, `c${Math.random()}.conf`);
  writeFileSync(p, text, { mode });
  return { conf: parseFwknopdConf(p, []).config, path: p };
};
const settings = (text: string) => {
  const { conf, path } = confOf(text);
  return redisSettingsOf(conf, path);
};
const configError = (text: string): ConfigError => {
  try {
    settings(text);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail("no ConfigError");
};

describe("REPLAY_STORE and REDIS_* variables", () => {
  it("file is the default: no Redis settings", () => {
    assert.equal(settings("ENABLE_UDP_SERVER Y\n"), null);
  });
  it("redis: URL, prefix, policy and journal resolved", () => {
    const s = settings(
      "REPLAY_STORE redis\nREDIS_URL redis://u:p@10.0.0.1:6380/2\nREDIS_FAIL local\nGRANT_JOURNAL Y\nGATEWAY_NAME gw1\n",
    );
    assert.ok(s !== null);
    assert.equal(s.url, "redis://u:p@10.0.0.1:6380/2");
    assert.equal(s.fail, "local");
    assert.equal(s.prefix, "fwknopd:");
    assert.equal(s.gateway, "gw1");
    assert.deepEqual(s.journal, { maxLen: 100000 });
  });
  it("bad values name the file and line, never the password", () => {
    const e = configError("REPLAY_STORE redis\nREDIS_FAIL open\n");
    assert.match(e.message, /:2: REDIS_FAIL: 'open' \(expected closed or local\)/);
    assert.match(configError("REPLAY_STORE memcache\n").message, /:1: REPLAY_STORE/);
    const u = configError("REPLAY_STORE redis\nREDIS_URL http://u:secret@h/0\n");
    assert.match(u.message, /:2: REDIS_URL: scheme http:/);
    assert.ok(!u.message.includes("secret"));
    assert.match(
      configError("REPLAY_STORE redis\nREDIS_SENTINELS a:1,b\nREDIS_MASTER_NAME m\n").message,
      /'b' is not host:port/,
    );
    assert.match(
      configError("REPLAY_STORE redis\nREDIS_SENTINELS a:26379\n").message,
      /needs REDIS_MASTER_NAME/,
    );
    assert.match(configError("GRANT_JOURNAL Y\n").message, /needs REPLAY_STORE redis/);
  });
  it("REDIS_URL_FILE: read when private, refused when others may read it", () => {
    const f = join(dir, "url");
    writeFileSync(f, "redis://:pw@127.0.0.1:6379/0\n", { mode: 0o600 });
    assert.equal(
      settings(`REPLAY_STORE redis\nREDIS_URL_FILE ${f}\n`)?.url,
      "redis://:pw@127.0.0.1:6379/0",
    );
    const g = join(dir, "url-open");
    writeFileSync(g, "redis://:pw@127.0.0.1:6379/0\n", { mode: 0o644 });
    assert.match(
      configError(`REPLAY_STORE redis\nREDIS_URL_FILE ${g}\n`).message,
      /:2: REDIS_URL_FILE: .* is readable or writable by others/,
    );
  });
});

describe("the claim's expiry", () => {
  const now = 1_700_000_000_000;
  it("lives until the packet's stamp + the window + the clock slack", () => {
    const t = now / 1000 - 30;
    assert.equal(
      claimDeadlineMs({ digests: ["d"], spaTime: t, windowSecs: 120 }, now),
      (t + 120 + CLOCK_SLACK_SECS) * 1000,
    );
  });
  it("never shorter than the slack, never set with aging off", () => {
    const old = now / 1000 - 10_000;
    assert.equal(
      claimDeadlineMs({ digests: ["d"], spaTime: old, windowSecs: 120 }, now),
      now + CLOCK_SLACK_SECS * 1000,
    );
    assert.equal(claimDeadlineMs({ digests: ["d"], spaTime: old, windowSecs: null }, now), null);
  });
});

/** A Redis of one map, whose answers can be held back or refused. */
class FakeLink implements RedisLink {
  ready = true;
  hold = false;
  readonly keys = new Map<string, string>();
  readonly sent: string[][] = [];
  send(args: string[]): Promise<unknown> {
    this.sent.push(args);
    if (this.hold) return new Promise(() => undefined);
    if (!this.ready) return Promise.reject(new Error("closed"));
    const [cmd, key = "", val = ""] = args;
    if (cmd !== "SET") return Promise.resolve(1);
    const was = this.keys.get(key) ?? null;
    if (was === null) this.keys.set(key, val);
    return Promise.resolve(was);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const claimsOn = (link: RedisLink, owner = "gw-a 1", log: string[] = []) =>
  new SharedClaims(
    link,
    { prefix: "p:", timeoutMs: 50, waitReplicas: 0, owner },
    { nowMs: () => 1_700_000_000_000, log: (l) => void log.push(l) },
  );
const input = (d: string) => ({ digests: [d], spaTime: 1_700_000_000, windowSecs: 120 });

describe("the shared claim", () => {
  it("the first gateway wins, the second is told who has it", async () => {
    const link = new FakeLink();
    assert.deepEqual(await claimsOn(link).claim(input("x")), { kind: "claimed" });
    assert.deepEqual(await claimsOn(link, "gw-b 2").claim(input("x")), {
      kind: "taken",
      by: "gw-a 1",
    });
    const set = link.sent[0] ?? [];
    assert.deepEqual(set.slice(0, 5), ["SET", "p:digest:x", "gw-a 1", "NX", "GET"]);
    assert.deepEqual(set.slice(5), ["PX", String((120 + CLOCK_SLACK_SECS) * 1000)]);
  });
  it("not connected, or slower than REDIS_TIMEOUT_MS: unavailable at once", async () => {
    const link = new FakeLink();
    link.ready = false;
    assert.equal((await claimsOn(link).claim(input("y"))).kind, "unavailable");
    link.ready = true;
    link.hold = true;
    const t0 = Date.now();
    const r = await claimsOn(link).claim(input("y"));
    assert.equal(r.kind, "unavailable");
    assert.ok(Date.now() - t0 < 1000);
  });
  it("at most MAX_PENDING_CLAIMS wait: the next is decided without Redis", async () => {
    const link = new FakeLink();
    link.hold = true;
    const c = claimsOn(link);
    const waiting = Array.from({ length: MAX_PENDING_CLAIMS }, (_, i) => c.claim(input(`w${i}`)));
    const next = await c.claim(input("over"));
    assert.deepEqual(next, {
      kind: "unavailable",
      why: `${MAX_PENDING_CLAIMS} claims already waiting`,
    });
    await Promise.all(waiting);
  });
  it("claims made without Redis are pushed when it returns; one taken meanwhile is said", async () => {
    const link = new FakeLink();
    const log: string[] = [];
    const c = claimsOn(link, "gw-b 2", log);
    c.keepForLater(input("mine"));
    c.keepForLater(input("both"));
    link.keys.set("p:digest:both", "gw-a 1");
    await c.reconcile();
    assert.equal(link.keys.get("p:digest:mine"), "gw-b 2");
    assert.equal(c.waiting, 0);
    assert.ok(
      log.some((l) => /also claimed by gw-a 1/.test(l)),
      log.join("\n"),
    );
    assert.ok(log.some((l) => /reconciled 2 claim\(s\).*1 also claimed elsewhere/.test(l)));
  });
});

describe("the grant journal", () => {
  const e = (id: string, f: string[]): [string, string[]] => [id, f];
  const grant = (gw: string, id: string, exp: number) => [
    "gw",
    gw,
    "run",
    "r",
    "ev",
    "grant",
    "id",
    id,
    "user",
    "u",
    "stanza",
    "1",
    "src",
    "1.2.3.4",
    "addr",
    "1.2.3.4",
    "proto",
    "tcp",
    "port",
    "22",
    "exp",
    String(exp),
  ];
  it("live: granted, not ended, not expired", () => {
    const live = liveFromJournal(
      [
        e("1-0", grant("a", "1", 200)),
        e("2-0", grant("b", "1", 200)),
        e("3-0", grant("a", "2", 50)),
        e("4-0", ["gw", "b", "run", "r", "ev", "end", "id", "1"]),
      ],
      100,
    );
    assert.deepEqual(
      live.map((g) => `${g.gateway}#${g.id}`),
      ["a#1"],
    );
  });
});
