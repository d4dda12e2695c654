/**
 * Properties of the codec (design.md "Tests"): decode(encode(x)) = x over random fields, and no
 * random or bit-flipped input ever throws or verifies.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  DIGESTS,
  FkoError,
  MAX_SPA_TIMESTAMP,
  Reject,
  decodeSpaPlaintext,
  encodeSpaFields,
  makeSpaPacket,
  openSpaPacket,
  type DigestName,
  type MessageType,
  type SpaFields,
  type SpaKeys,
} from "../../src/spa/index.js";
import { isBase64Text, isWireCharset } from "../../src/spa/base64.js";

const digestNames = DIGESTS.map((d) => d.name);
const rijndaelModes = ["cbc", "ecb", "cfb", "ofb", "ctr", "legacy"] as const;

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join("."));
const port = fc.integer({ min: 1, max: 65535 });
const protoPort = fc.tuple(fc.constantFrom("tcp", "udp"), port).map(([p, n]) => `${p}/${n}`);
const usernameChar = fc.constantFrom(
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@$% ~!#&()'{}^`",
);
const username = fc.array(usernameChar, { minLength: 1, maxLength: 40 }).map((a) => a.join(""));
const printable = (max: number) =>
  fc
    .array(fc.integer({ min: 0x20, max: 0x7e }), { minLength: 1, maxLength: max })
    .map((a) => String.fromCharCode(...a));
const hostname = fc
  .array(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 1, maxLength: 3 })
  .map((l) => l.join("."));

const fieldsArb: fc.Arbitrary<SpaFields> = fc
  .record({
    rand: fc.stringMatching(/^[0-9]{16}$/),
    username,
    timestamp: fc.integer({ min: 0, max: MAX_SPA_TIMESTAMP }),
    version: fc.oneof(
      fc.constant("3.0.0"),
      printable(8).filter((v) => !v.includes(":")),
    ),
    messageType: fc.integer({ min: 0, max: 6 }).map((t) => t as MessageType),
    ip: ipv4,
    ports: fc.array(protoPort, { minLength: 1, maxLength: 4 }),
    cmd: printable(60),
    nat: fc.tuple(fc.oneof(ipv4, hostname), port).map(([h, p]) => `${h},${p}`),
    serverAuth: fc.option(printable(40), { nil: null }),
    timeout: fc.integer({ min: 1, max: 65536 }),
  })
  .map((r) => {
    const t = r.messageType;
    return {
      rand: r.rand,
      username: r.username,
      timestamp: r.timestamp,
      version: r.version,
      messageType: t,
      message: t === 0 ? `${r.ip},${r.cmd}` : `${r.ip},${r.ports.join(",")}`,
      natAccess: t === 2 || t === 4 || t === 5 || t === 6 ? r.nat : null,
      serverAuth: r.serverAuth,
      clientTimeout: t === 3 || t === 4 || t === 6 ? r.timeout : 0,
    };
  });

const keysArb: fc.Arbitrary<SpaKeys> = fc
  .record({
    mode: fc.constantFrom(...rijndaelModes),
    key: fc.uint8Array({ minLength: 1, maxLength: 32 }),
    hmacType: fc.option(fc.constantFrom(...digestNames), { nil: null }),
    hmacKey: fc.uint8Array({ minLength: 1, maxLength: 136 }),
  })
  .map((r) => ({
    mode: r.mode,
    key: Buffer.from(r.key),
    // The C client refuses legacy mode with an HMAC.
    hmac:
      r.hmacType === null || r.mode === "legacy"
        ? null
        : { type: r.hmacType, key: Buffer.from(r.hmacKey) },
  }));

function pickFields(x: SpaFields): SpaFields {
  const { rand, username, timestamp, version, messageType, message } = x;
  const { natAccess, serverAuth, clientTimeout } = x;
  return {
    rand,
    username,
    timestamp,
    version,
    messageType,
    message,
    natAccess,
    serverAuth,
    clientTimeout,
  };
}

const rng = (n: number): Uint8Array => randomBytes(n);

/** Make a packet, or null when its size is over what libfko can carry (a refusal, not a bug). */
function tryMake(f: SpaFields, d: DigestName, k: SpaKeys) {
  try {
    return makeSpaPacket(f, d, k, rng);
  } catch (e) {
    if (e instanceof FkoError && /MSGLEN|TYPE_UNKNOWN/.test(e.fko)) return null;
    throw e;
  }
}

describe("codec properties", () => {
  it("decode(encode(fields)) = fields", () => {
    fc.assert(
      fc.property(fieldsArb, fc.constantFrom(...digestNames), (f, d) => {
        let enc;
        try {
          enc = encodeSpaFields(f, d);
        } catch (e) {
          fc.pre(!(e instanceof FkoError && e.fko.includes("MSGLEN")));
          throw e;
        }
        const dec = decodeSpaPlaintext(enc.plaintext);
        assert.ok(dec.ok, dec.ok ? "" : `${dec.reason}: ${dec.detail}`);
        assert.deepEqual(pickFields(dec.value), f);
        // SHA-256/SHA3-256 and SHA-512/SHA3-512 share lengths; the digest still identifies its type.
        assert.equal(dec.value.digestType, d);
        assert.equal(dec.value.encoded, enc.encoded);
        assert.equal(dec.value.digest, enc.digest);
      }),
      { numRuns: 3000 },
    );
  });

  it("a timestamp over 2^31 - 1 (up to 12 digits) is refused at decode", () => {
    fc.assert(
      fc.property(
        fieldsArb,
        fc.integer({ min: MAX_SPA_TIMESTAMP + 1, max: 999_999_999_999 }),
        (f, timestamp) => {
          let enc;
          try {
            enc = encodeSpaFields({ ...f, timestamp }, "sha256");
          } catch (e) {
            fc.pre(!(e instanceof FkoError && e.fko.includes("MSGLEN")));
            throw e;
          }
          const dec = decodeSpaPlaintext(enc.plaintext);
          assert.equal(dec.ok ? dec.value.timestamp : dec.reason, Reject.Timestamp);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("open(make(fields)) = fields, in every mode and HMAC type", () => {
    fc.assert(
      fc.property(fieldsArb, fc.constantFrom(...digestNames), keysArb, (f, d, k) => {
        const made = tryMake(f, d, k);
        fc.pre(made !== null);
        const opened = openSpaPacket(made.wire, k);
        assert.ok(opened.ok, opened.ok ? "" : `${opened.reason}: ${opened.detail}`);
        assert.deepEqual(pickFields(opened.value), f);
        assert.equal(opened.value.digestType, d);
        assert.equal(opened.value.mode, k.mode);
        assert.equal(opened.value.hmacType, k.hmac?.type ?? null);
      }),
      { numRuns: 2000 },
    );
  });

  it("random input never throws and never verifies (60k)", () => {
    const keys: SpaKeys[] = [
      { mode: "cbc", key: Buffer.from("fwknoptest"), hmac: null },
      { mode: "ctr", key: Buffer.from("fwknoptest"), hmac: null },
      { mode: "cbc", key: Buffer.from("k"), hmac: { type: "sha256", key: Buffer.from("h") } },
    ];
    const b64char = fc.constantFrom(
      ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    );
    const input = fc.oneof(
      fc.string({ maxLength: 1600 }),
      fc.string({ unit: "binary", maxLength: 600 }),
      fc.array(b64char, { minLength: 30, maxLength: 1600 }).map((a) => a.join("")),
      fc.array(b64char, { minLength: 100, maxLength: 400 }).map((a) => `U2FsdGVkX1${a.join("")}`),
    );
    fc.assert(
      fc.property(input, fc.constantFrom(...keys), (s, k) => {
        const r = openSpaPacket(s, k);
        assert.equal(r.ok, false);
        const p = decodeSpaPlaintext(s);
        assert.equal(p.ok, false);
      }),
      { numRuns: 60_000 },
    );
  });

  it("every single-bit flip of a valid packet is rejected (40k)", () => {
    const samples: Array<{ wire: string; keys: SpaKeys }> = [];
    fc.sample(fc.tuple(fieldsArb, fc.constantFrom(...digestNames), keysArb), 400).forEach(
      ([f, d, k]) => {
        const made = tryMake(f, d, k);
        if (made !== null) samples.push({ wire: made.wire, keys: k });
      },
    );
    assert.ok(samples.length > 200);
    const withoutHmac = samples.filter((s) => s.keys.hmac === null).length;
    assert.ok(withoutHmac > 50, "packets without HMAC are covered too");
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: samples.length - 1 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (i, pos, bit) => {
          const sample = samples[i];
          assert.ok(sample !== undefined);
          const { wire, keys } = sample;
          const at = pos % wire.length;
          const flipped =
            wire.slice(0, at) +
            String.fromCharCode(wire.charCodeAt(at) ^ (1 << bit)) +
            wire.slice(at + 1);
          const r = openSpaPacket(flipped, keys);
          assert.equal(r.ok, false, `flip of bit ${bit} at ${at} was accepted`);
        },
      ),
      { numRuns: 40_000 },
    );
  });
  it("the charset checks accept exactly the base64 alphabet (and '=' for isBase64Text)", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const near = fc.constantFrom(..."=\n\r\t -_.:\u0000\u00c1\u0141\ud83d", ...alphabet);
    const text = fc.oneof(
      fc.array(near, { maxLength: 300 }).map((a) => a.join("")),
      fc.string({ unit: "binary", maxLength: 50 }),
    );
    fc.assert(
      fc.property(text, (s) => {
        const chars = [...s];
        assert.equal(
          isWireCharset(s),
          chars.every((c) => alphabet.includes(c)),
        );
        assert.equal(
          isBase64Text(s),
          s.length > 0 && chars.every((c) => c === "=" || alphabet.includes(c)),
        );
      }),
      { numRuns: 20_000 },
    );
  });
});
