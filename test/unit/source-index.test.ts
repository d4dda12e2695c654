/**
 * The stanza index by SOURCE: the same stanzas, in the same (file) order, as checking every
 * stanza's lists in turn.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseAddressList } from "../../src/config/access-values.js";
import type { ServedStanza } from "../../src/server/pipeline/served-stanza.js";
import { candidateStanzas, linearCandidates } from "../../src/server/pipeline/source-index.js";
import { pipelineStanza } from "../fixtures/pipeline.js";

const keys = { mode: "cbc" as const, key: Buffer.alloc(16, 1), hmac: null };
const bad = (why: string): never => {
  throw new Error(why);
};

function stanzas(lists: [string, string | null][]): ServedStanza[] {
  return lists.map(([source, destination], i) =>
    pipelineStanza(i + 1, keys, {
      source: parseAddressList(source, bad),
      destination: destination === null ? null : parseAddressList(destination, bad),
    }),
  );
}

const numbers = (ss: readonly ServedStanza[]): number[] => ss.map((s) => s.number);

/** The candidates' numbers, checking that each is where `at` says in the array. */
function found(ss: readonly ServedStanza[], src: string, dst: string): number[] {
  const c = candidateStanzas(ss, src, dst);
  assert.deepEqual(
    c.at.map((i) => ss[i]),
    c.stanzas,
  );
  return numbers(c.stanzas);
}

describe("stanza index by SOURCE", () => {
  it("keeps file order across ANY, addresses and networks", () => {
    const ss = stanzas([
      ["198.18.0.0/15", null],
      ["ANY", null],
      ["10.0.0.1", null],
      ["198.18.0.2, 10.0.0.0/8", null],
      ["2001:db8::/32", null],
      ["ANY", null],
      ["198.18.0.2", null],
    ]);
    assert.deepEqual(found(ss, "198.18.0.2", "0.0.0.0"), [1, 2, 4, 6, 7]);
    assert.deepEqual(found(ss, "10.0.0.1", "0.0.0.0"), [2, 3, 4, 6]);
    assert.deepEqual(found(ss, "192.0.2.1", "0.0.0.0"), [2, 6]);
    assert.deepEqual(found(ss, "2001:db8::7", "::"), [2, 5, 6]);
    assert.deepEqual(found(ss, "2001:db9::7", "::"), [2, 6]);
  });

  it("takes dotted masks, IPv4-mapped sources and IPv6 prefixes of any length", () => {
    const ss = stanzas([
      ["198.18.0.0/255.255.255.0", null],
      ["2001:db8:0:1::/64", null],
      ["2001:db8::/127", null],
      ["::ffff:10.0.0.0/104", null],
    ]);
    assert.deepEqual(found(ss, "::ffff:198.18.0.9", "::"), [1]);
    assert.deepEqual(found(ss, "198.18.1.9", "0.0.0.0"), []);
    assert.deepEqual(found(ss, "2001:db8:0:1:ab::1", "::"), [2]);
    assert.deepEqual(found(ss, "2001:db8::1", "::"), [3]);
    assert.deepEqual(found(ss, "10.9.8.7", "0.0.0.0"), [4]);
    assert.deepEqual(found(ss, "fe80::1%eth0", "::"), []);
  });

  it("checks DESTINATION on the candidates", () => {
    const ss = stanzas([
      ["ANY", "198.18.0.1"],
      ["ANY", null],
      ["198.18.0.0/16", "ANY"],
      ["198.18.0.0/16", "203.0.113.0/24"],
    ]);
    assert.deepEqual(found(ss, "198.18.0.2", "198.18.0.1"), [1, 2, 3]);
    assert.deepEqual(found(ss, "198.18.0.2", "203.0.113.5"), [2, 3, 4]);
  });

  it("answers as the linear filter for any lists and addresses", () => {
    // Small address spaces, so that sources often fall inside the networks drawn.
    const v4 = fc
      .tuple(
        fc.constantFrom(10, 198),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
      )
      .map(([a, b, c]) => `${a}.18.${b}.${c}`);
    const v6 = fc
      .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }))
      .map(([a, b]) => `2001:db8:${a}::${b}`);
    const mapped = v4.map((a) => `::ffff:${a}`);
    const entry = fc.oneof(
      fc.constant("ANY"),
      v4,
      v6,
      fc.tuple(v4, fc.integer({ min: 1, max: 32 })).map(([a, n]) => `${a}/${n}`),
      fc.tuple(v6, fc.integer({ min: 1, max: 128 })).map(([a, n]) => `${a}/${n}`),
      fc.tuple(mapped, fc.integer({ min: 96, max: 128 })).map(([a, n]) => `${a}/${n}`),
    );
    const list = fc.array(entry, { minLength: 1, maxLength: 3 }).map((es) => es.join(", "));
    const stanza = fc.tuple(list, fc.option(list, { nil: null }));
    const source = fc.oneof(v4, v6, mapped);
    fc.assert(
      fc.property(
        fc.array(stanza, { maxLength: 12 }),
        fc.array(fc.tuple(source, source), { minLength: 1, maxLength: 6 }),
        (lists, packets) => {
          const ss = stanzas(lists);
          for (const [src, dst] of packets)
            assert.deepEqual(
              found(ss, src, dst),
              numbers(linearCandidates(ss, src, dst)),
              `${src} -> ${dst}`,
            );
        },
      ),
      { numRuns: 500 },
    );
  });
});
