/** HmacKeyring: the same answer as hmacMatches, key by key, for any keys, types and messages. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { hmacB64, hmacMatches } from "../../src/spa/hmac.js";
import { HmacKeyring } from "../../src/spa/hmac-keyring.js";

const types = ["md5", "sha1", "sha256", "sha384", "sha512", "sha3_256", "sha3_512"] as const;

describe("HmacKeyring", () => {
  it("agrees with hmacMatches for every key, and finds the right one", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { minLength: 1, maxLength: 6 }),
        fc
          .string({ minLength: 1, maxLength: 300 })
          .map((t) => `U2FsdGVkX1${t.replace(/[^\x20-\x7e]/g, "A")}`),
        fc.nat(),
        (type, keys, text, pick) => {
          const ring = new HmacKeyring(type, keys);
          const k = pick % keys.length;
          const received = hmacB64(type, keys[k] ?? new Uint8Array(0), text);
          ring.setMessage(text);
          keys.forEach((key, n) => {
            assert.equal(ring.matches(n, received), hmacMatches(type, key, text, received));
          });
          assert.equal(ring.matches(k, received), true);
          assert.equal(ring.matches(k, received.slice(1)), false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("takes a message longer than its buffer through hmac.ts", () => {
    const key = new Uint8Array([1, 2, 3]);
    const text = "x".repeat(5000);
    const ring = new HmacKeyring("sha256", [key]);
    ring.setMessage(text);
    assert.equal(ring.matches(0, hmacB64("sha256", key, text)), true);
  });
});
