/**
 * The replay cache: C's file format (plus the packet's time), persistence across instances, and
 * the prune rule: a digest goes only when packet aging refuses its packet, by the packet's own
 * timestamp, and what went stays refused (forgottenBefore), across a wider window and restarts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ReplayCache, pruneCut, rotateDigestCache } from "../../src/server/replay/replay-cache.js";

const dir = mkdtempSync(join(tmpdir(), "replay-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const meta = { proto: 17, srcIp: "198.18.0.2", srcPort: 51100, dstIp: "0.0.0.0", dstPort: 62201 };
const D1 = "3B5TaCI9QxHClx2f+CohblJ21eS/7cvwdWFDMxuynDM";
const D2 = "WBwmQXmeIgT2WKR7HS2zIlcEm/8OOOATqmh6Ht+DUVE";
const D3 = "t41coCQNrXfQnipgvRWD2plR+d8bFfQCadn/3TN05oU";
const re = (d: string): string => d.replace(/[+/]/g, "\\$&");

/** A cache on `name` whose clock reads `clock.now`. */
function cacheAt(name: string, clock: { now: number }): ReplayCache {
  return new ReplayCache({ path: join(dir, name), nowSecs: () => clock.now });
}

describe("replay cache", () => {
  it("writes C's seven fields plus the packet's time, and finds entries after a restart", async () => {
    const clock = { now: 1_795_588_122 };
    const a = cacheAt("a.cache", clock);
    a.open(null);
    assert.equal(a.has(D1), false);
    await Promise.all([a.add(D1, meta, 1_795_588_100), a.add(D2, meta, null)]);
    assert.equal(a.has(D1), true);
    a.close();
    const text = readFileSync(join(dir, "a.cache"), "latin1");
    assert.match(
      text,
      new RegExp(
        `^${re(D1)} 17 198\\.18\\.0\\.2 51100 0\\.0\\.0\\.0 62201 1795588122 1795588100$`,
        "m",
      ),
    );
    assert.match(
      text,
      new RegExp(`^${re(D2)} 17 198\\.18\\.0\\.2 51100 0\\.0\\.0\\.0 62201 1795588122$`, "m"),
    );
    clock.now += 10;
    const b = cacheAt("a.cache", clock);
    assert.deepEqual(b.open(null), { loaded: 2, dropped: 0, invalid: 0 });
    assert.equal(b.has(D2), true);
    b.close();
  });

  it("with DIGEST_SYNC_BEFORE_GRANT, resolves adds after one shared write and sync", async () => {
    const path = join(dir, "s.cache");
    const c = new ReplayCache({ path, nowSecs: () => 1_795_588_122, syncBeforeGrant: true });
    c.open(null);
    await Promise.all([c.add(D1, meta, 1_795_588_122), c.add(D2, meta, 1_795_588_122)]);
    const lines = readFileSync(path, "latin1").split("\n");
    assert.ok(lines.some((l) => l.startsWith(`${D1} 17 `)) && lines.some((l) => l.startsWith(D2)));
    assert.equal(c.has(D2), true);
    c.close();
  });

  it("loads a cache written by C fwknopd, skipping invalid lines; C's lines are never dropped", () => {
    const path = join(dir, "c.cache");
    writeFileSync(
      path,
      `# <digest> <proto> <src_ip> <src_port> <dst_ip> <dst_port> <time>\n${D1} 17 127.0.0.1 51100 0.0.0.0 62299 1000\r\ngarbage line\n`,
    );
    const clock = { now: 1_795_588_200 };
    const c = cacheAt("c.cache", clock);
    assert.deepEqual(c.open(5), { loaded: 1, dropped: 0, invalid: 1 });
    assert.equal(c.prune(5), 0, "no packet time: kept, as C keeps it");
    assert.equal(c.has(D1), true);
    assert.equal(c.forgottenBefore, 0);
    c.close();
  });
});

describe("the prune rule", () => {
  it("cuts at now - MAX_SPA_PACKET_AGE with aging on, nowhere with aging off", () => {
    assert.equal(pruneCut(10_000, 120), 9_880);
    assert.equal(pruneCut(10_000, null), null);
  });

  it("drops by the packet's time, not the time stored; keeps future-stamped packets", async () => {
    const clock = { now: 10_000 };
    const c = cacheAt("p.cache", clock);
    c.open(120);
    await c.add(D1, meta, 9_870); // 130 s old when it arrived (aging was wider then)
    await c.add(D2, meta, 9_990);
    await c.add(D3, meta, 10_300); // from the future
    assert.equal(c.prune(120), 1);
    assert.deepEqual([c.has(D1), c.has(D2), c.has(D3)], [false, true, true]);
    assert.equal(c.forgottenBefore, 9_871, "packets stamped up to D1's time are refused from now");
    clock.now = 10_400;
    assert.equal(c.prune(120), 1, "D2 only now; D3 is 100 s old, inside the window");
    assert.deepEqual([c.has(D2), c.has(D3)], [false, true]);
    assert.equal(c.forgottenBefore, 9_991);
    c.close();
  });

  it("with aging off nothing is dropped, however old", async () => {
    const clock = { now: 10_000 };
    const c = cacheAt("off.cache", clock);
    c.open(null);
    await c.add(D1, meta, 1);
    clock.now = 2_000_000_000;
    assert.equal(c.prune(null), 0);
    assert.equal(c.has(D1), true);
    assert.equal(c.forgottenBefore, 0);
    c.close();
  });

  it("a wider window after a drop does not bring the packet back: forgottenBefore stays", async () => {
    const clock = { now: 10_000 };
    const c = cacheAt("w.cache", clock);
    c.open(5);
    await c.add(D1, meta, 10_000);
    clock.now = 10_070;
    assert.equal(c.prune(5), 1);
    // SIGHUP: MAX_SPA_PACKET_AGE 600, or aging off. The packet would pass the age check again.
    assert.equal(c.prune(600), 0);
    assert.equal(c.prune(null), 0);
    assert.equal(c.has(D1), false);
    assert.ok(10_000 < c.forgottenBefore, "the pipeline refuses it by forgottenBefore instead");
    c.close();
  });

  it("memory drops are undone by a restart with a wider window (the file still has them)", async () => {
    const clock = { now: 10_000 };
    const c = cacheAt("m.cache", clock);
    c.open(5);
    await c.add(D1, meta, 10_000);
    clock.now = 10_070;
    c.prune(5);
    c.close();
    const again = cacheAt("m.cache", clock);
    assert.deepEqual(again.open(600), { loaded: 1, dropped: 0, invalid: 0 });
    assert.equal(again.has(D1), true);
    assert.equal(again.forgottenBefore, 0);
    again.close();
  });

  it("a start with a narrow window rewrites the file and records what it dropped, for good", async () => {
    const clock = { now: 10_000 };
    const c = cacheAt("f.cache", clock);
    c.open(600);
    await c.add(D1, meta, 10_000);
    await c.add(D2, meta, 10_060);
    c.close();
    clock.now = 10_070;
    const narrow = cacheAt("f.cache", clock);
    assert.deepEqual(narrow.open(30), { loaded: 1, dropped: 1, invalid: 0 });
    narrow.close();
    const text = readFileSync(join(dir, "f.cache"), "latin1");
    assert.doesNotMatch(text, new RegExp(re(D1)), "compacted on start");
    assert.match(text, /^# forgotten-before 10001 /m);
    // Restart with aging off: D1 is gone from the file, but its time is still refused.
    const wide = cacheAt("f.cache", clock);
    assert.deepEqual(wide.open(null), { loaded: 1, dropped: 0, invalid: 0 });
    assert.equal(wide.has(D1), false);
    assert.equal(wide.forgottenBefore, 10_001);
    wide.close();
  });

  it("a digest added twice keeps the later packet time (unknown beats any)", async () => {
    const clock = { now: 10_000 };
    const c = cacheAt("t.cache", clock);
    c.open(5);
    await c.add(D1, meta, 10_000);
    await c.add(D1, meta, null);
    clock.now = 20_000;
    assert.equal(c.prune(5), 0);
    assert.equal(c.has(D1), true);
    c.close();
  });
});

describe("--rotate-digest-cache", () => {
  it("moves the file aside", () => {
    const path = join(dir, "r.cache");
    writeFileSync(path, "x\n");
    assert.equal(rotateDigestCache(path), true);
    assert.equal(readFileSync(`${path}-old`, "latin1"), "x\n");
  });
});
