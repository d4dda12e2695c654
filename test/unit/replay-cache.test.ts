/** The replay cache: C's file format, persistence across instances, pruning by age. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ReplayCache, rotateDigestCache } from "../../src/server/replay/replay-cache.js";

const dir = mkdtempSync(join(tmpdir(), "replay-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const meta = { proto: 17, srcIp: "198.18.0.2", srcPort: 51100, dstIp: "0.0.0.0", dstPort: 62201 };
const D1 = "3B5TaCI9QxHClx2f+CohblJ21eS/7cvwdWFDMxuynDM";
const D2 = "WBwmQXmeIgT2WKR7HS2zIlcEm/8OOOATqmh6Ht+DUVE";

describe("replay cache", () => {
  it("writes C's line format and finds entries again after a restart", async () => {
    const path = join(dir, "a.cache");
    let now = 1_795_588_122;
    const a = new ReplayCache({ path, retentionSecs: null, nowSecs: () => now });
    a.open();
    assert.equal(a.has(D1), false);
    await Promise.all([a.add(D1, meta), a.add(D2, meta)]);
    assert.equal(a.has(D1), true);
    a.close();
    assert.match(
      readFileSync(path, "latin1"),
      new RegExp(
        `^${D1.replace(/[+/]/g, "\\$&")} 17 198\\.18\\.0\\.2 51100 0\\.0\\.0\\.0 62201 1795588122$`,
        "m",
      ),
    );
    now += 10;
    const b = new ReplayCache({ path, retentionSecs: null, nowSecs: () => now });
    assert.deepEqual(b.open(), { loaded: 2, expired: 0, invalid: 0 });
    assert.equal(b.has(D2), true);
    b.close();
  });

  it("with DIGEST_SYNC_BEFORE_GRANT, resolves adds after one shared write and sync", async () => {
    const path = join(dir, "s.cache");
    const c = new ReplayCache({
      path,
      retentionSecs: null,
      nowSecs: () => 1_795_588_122,
      syncBeforeGrant: true,
    });
    c.open();
    await Promise.all([c.add(D1, meta), c.add(D2, meta)]);
    const lines = readFileSync(path, "latin1").split("\n");
    assert.ok(lines.some((l) => l.startsWith(`${D1} 17 `)) && lines.some((l) => l.startsWith(D2)));
    assert.equal(c.has(D2), true);
    c.close();
  });

  it("loads a cache written by C fwknopd, skipping invalid lines", () => {
    const path = join(dir, "c.cache");
    writeFileSync(
      path,
      `# <digest> <proto> <src_ip> <src_port> <dst_ip> <dst_port> <time>\n${D1} 17 127.0.0.1 51100 0.0.0.0 62299 1795588122\ngarbage line\n`,
    );
    const c = new ReplayCache({ path, retentionSecs: null, nowSecs: () => 1_795_588_200 });
    assert.deepEqual(c.open(), { loaded: 1, expired: 0, invalid: 1 });
    assert.equal(c.has(D1), true);
    c.close();
  });

  it("drops entries older than the retention window, in memory and at the next start", async () => {
    const path = join(dir, "p.cache");
    let now = 1000;
    const c = new ReplayCache({ path, retentionSecs: 300, nowSecs: () => now });
    c.open();
    await c.add(D1, meta);
    now = 1200;
    await c.add(D2, meta);
    now = 1350;
    assert.equal(c.prune(), 1);
    assert.equal(c.has(D1), false);
    assert.equal(c.has(D2), true);
    c.close();
    const again = new ReplayCache({ path, retentionSecs: 300, nowSecs: () => now });
    assert.deepEqual(again.open(), { loaded: 1, expired: 1, invalid: 0 });
    again.close();
    assert.doesNotMatch(
      readFileSync(path, "latin1"),
      new RegExp(D1.replace(/[+/]/g, "\\$&")),
      "compacted on start",
    );
  });

  it("--rotate-digest-cache moves the file aside", () => {
    const path = join(dir, "r.cache");
    writeFileSync(path, "x\n");
    assert.equal(rotateDigestCache(path), true);
    assert.equal(readFileSync(`${path}-old`, "latin1"), "x\n");
  });
});
