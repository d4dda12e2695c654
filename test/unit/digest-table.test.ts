/** The replay index (flat hash table) against a Map, and the loader across chunk boundaries. */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { DigestTable, KEY_BYTES, digestKeyOf } from "../../src/server/replay/digest-table.js";
import { ReplayCache } from "../../src/server/replay/replay-cache.js";

const digestOf = (s: string): string =>
  createHash("sha256").update(s).digest("base64").replace(/=+$/, "");
const key = (d: string): Uint8Array => {
  const k = new Uint8Array(KEY_BYTES);
  digestKeyOf(d, k);
  return k;
};

describe("digest table", () => {
  it("keys a wire digest by its first 16 SHA-256 bytes, anything else by a hash of its text", () => {
    const raw = createHash("sha256").update("x").digest();
    assert.deepEqual(Buffer.from(key(digestOf("x"))), raw.subarray(0, KEY_BYTES));
    assert.notDeepEqual(key("short"), key("shorT"));
    assert.notDeepEqual(key(`${digestOf("x").slice(0, 42)}!`), key(digestOf("x")));
  });

  it("behaves like a Map through growth and retain (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 50 })),
          {
            maxLength: 3000,
          },
        ),
        fc.integer({ min: 1, max: 50 }),
        (ops, cut) => {
          const t = new DigestTable();
          const m = new Map<string, number>();
          for (const [s, when] of ops) {
            assert.equal(t.set(key(digestOf(s)), when), !m.has(s));
            m.set(s, Math.max(m.get(s) ?? 0, when));
          }
          assert.equal(t.size, m.size);
          for (const [s, when] of m) assert.equal(t.get(key(digestOf(s))), when);
          assert.equal(t.get(key(digestOf("never added \u0000"))), 0);
          const before = t.size;
          const dropped = t.retain((w) => w >= cut);
          for (const [s, when] of m) assert.equal(t.get(key(digestOf(s))), when >= cut ? when : 0);
          assert.equal(t.size, before - dropped);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("replay cache loader", () => {
  const dir = mkdtempSync(join(tmpdir(), "replay-big-"));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("loads 100,000 lines read in chunks, compacts when a quarter is dead", () => {
    const path = join(dir, "big.cache");
    const lines: string[] = [];
    const live: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const d = randomBytes(32).toString("base64").slice(0, 43);
      const old = i % 3 === 0;
      if (!old) live.push(d);
      lines.push(
        `${d} 17 198.18.0.${i % 250} ${1024 + (i % 60000)} 0.0.0.0 62201 5000 ${old ? 1000 : 5000}`,
      );
    }
    lines.splice(500, 0, "not a cache line", `${"A".repeat(43)} 17 x 1 y 1 99999999999`);
    writeFileSync(path, `# header\n${lines.join("\n")}\n`);
    const c = new ReplayCache({ path, nowSecs: () => 5100 });
    assert.deepEqual(c.open(300), { loaded: live.length, dropped: 33_334, invalid: 2 });
    for (const d of live.slice(0, 2000)) assert.equal(c.has(d), true);
    assert.equal(c.has(randomBytes(32).toString("base64").slice(0, 43)), false);
    c.close();
    const text = readFileSync(path, "latin1");
    assert.equal(
      text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length,
      live.length,
    );
    assert.doesNotMatch(text, / 1000$/m);
    assert.match(text, /^# forgotten-before 1001 /m);
  });
});
