/**
 * The HMAC the server checks every packet with (spa/hmac.ts: RFC 2104 over kept pads) equals
 * Node's createHmac for every digest, key length and text, including reused keys and texts too
 * long for the kept buffer.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DIGESTS } from "../../src/spa/constants.js";
import { hmacB64Padded, hmacMatches } from "../../src/spa/hmac.js";

const reference = (node: string, key: Uint8Array, text: string): string =>
  createHmac(node, key).update(text, "latin1").digest("base64");

const text = fc.oneof(
  fc.string({ unit: fc.constantFrom(..."ABCxyz019+/="), maxLength: 1600 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.string({ maxLength: 2200 }),
);

describe("HMAC over kept pads", () => {
  it("equals createHmac for every digest, key and text", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DIGESTS),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.array(text, { minLength: 1, maxLength: 4 }),
        (d, key, texts) => {
          // The same key several times: the pads are kept, the message buffer reused.
          for (const t of texts)
            assert.equal(hmacB64Padded(d.name, key, t), reference(d.node, key, t));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("one key under several digests keeps separate pads", () => {
    const key = Buffer.alloc(100, 7);
    for (const d of [...DIGESTS, ...DIGESTS])
      assert.equal(
        hmacB64Padded(d.name, key, "U2FsdGVkX1abc"),
        reference(d.node, key, "U2FsdGVkX1abc"),
      );
  });

  it("texts of one length after another, under one key, each get their own HMAC", () => {
    const key = Buffer.alloc(64, 9);
    for (const t of ["U2FsdGVkX1aaaa", "U2FsdGVkX1aaab", "U2FsdGVkX1baaa", "U2FsdGVkX1aaaa"])
      assert.equal(hmacB64Padded("sha256", key, t), reference("sha256", key, t));
  });

  it("hmacMatches takes the unpadded text and nothing else", () => {
    const key = Buffer.alloc(64, 1);
    for (const d of DIGESTS) {
      const mac = reference(d.node, key, "U2FsdGVkX1body").replace(/=+$/, "");
      assert.equal(mac.length, d.b64Len);
      assert.ok(hmacMatches(d.name, key, "U2FsdGVkX1body", mac));
      assert.ok(!hmacMatches(d.name, key, "U2FsdGVkX1body", `${mac}=`));
      assert.ok(!hmacMatches(d.name, key, "U2FsdGVkX1bodx", mac));
      const last = mac.charCodeAt(mac.length - 1);
      assert.ok(
        !hmacMatches(
          d.name,
          key,
          "U2FsdGVkX1body",
          mac.slice(0, -1) + String.fromCharCode(last ^ 1),
        ),
      );
    }
  });
});
