/**
 * Known-answer tests from fwknop-reference.md §1.14 (values checked against the real fwknopd
 * 2.6.10) and against the openssl binary, which libfko's Rijndael mimics.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createCipheriv } from "node:crypto";
import { describe, it } from "node:test";
import {
  deriveKeyIv,
  digestB64,
  makeSpaPacket,
  openSpaPacket,
  rijndaelDecrypt,
  rijndaelEncrypt,
  Reject,
  type SpaKeys,
} from "../../src/spa/index.js";
import { spaFields } from "../fixtures/pipeline.js";

const fixedSalt =
  (hex: string) =>
  (n: number): Buffer =>
    n === 8 ? Buffer.from(hex, "hex") : Buffer.alloc(n, 7);

describe("vector A (passphrase keys, CBC, HMAC-SHA256)", () => {
  const keys: SpaKeys = {
    mode: "cbc",
    key: Buffer.from("fwknoptest"),
    hmac: { type: "sha256", key: Buffer.from("hmactestkey") },
  };
  const WIRE =
    "8BAgMEBQYHCHYP9psdAxxVFsFlEBLPg4lUNSwH/4cFuYtC7JJDokwlmQDR3LGD6SUcfu6crJAnDQ8jBTow+7S4f8rpnc4" +
    "Eyhns5RLLqBBY5f+G01PMUeneVOgvJMIlq215Y4jKZrouY3zbIkFfKz37/k6hRtsZe0QqO7tGzmPpi56ImBggPqZ2/QX" +
    "swaIF0vhtN4n7XX/2NY";

  it("derives the documented AES key and IV", () => {
    const { key, iv } = deriveKeyIv(
      Buffer.from("fwknoptest"),
      Buffer.from("0102030405060708", "hex"),
      "cbc",
    );
    assert.equal(
      key.toString("hex"),
      "ebe462fe5be052f4611bbb47b9e7c48bd8b947d85052411f55c16f0e4e04a5ff",
    );
    assert.equal(iv.toString("hex"), "48926d083e8525f9424a6bdaec95c20c");
  });

  it("encodes to the exact wire bytes", () => {
    const made = makeSpaPacket(
      {
        rand: "1234567890123456",
        username: "alice",
        timestamp: 1700000000,
        version: "3.0.0",
        messageType: 1,
        message: "192.0.2.10,tcp/22",
        natAccess: null,
        serverAuth: null,
        clientTimeout: 0,
      },
      "sha256",
      keys,
      fixedSalt("0102030405060708"),
    );
    assert.equal(
      made.encoded.encoded,
      "1234567890123456:YWxpY2U:1700000000:3.0.0:1:MTkyLjAuMi4xMCx0Y3AvMjI",
    );
    assert.equal(made.encoded.digest, "SP3U8fgHB86tOvZ+SP0gPBhyCpPS8ml7S4E6epzC7qc");
    assert.equal(made.hmac, "qO7tGzmPpi56ImBggPqZ2/QXswaIF0vhtN4n7XX/2NY");
    assert.equal(made.wire, WIRE);
  });

  it("gives the documented replay digest", () => {
    assert.equal(digestB64("sha256", WIRE), "3B5TaCI9QxHClx2f+CohblJ21eS/7cvwdWFDMxuynDM");
  });

  it("decodes back to its fields", () => {
    const r = openSpaPacket(WIRE, keys);
    assert.ok(r.ok);
    assert.equal(r.value.message, "192.0.2.10,tcp/22");
    assert.equal(r.value.username, "alice");
  });
});

describe("vector B (base64 keys, type 3, two ports)", () => {
  const keys: SpaKeys = {
    mode: "cbc",
    key: Buffer.from("wzNP62oPPgEc+kXDPQLHPOayQBuNbYUTPP+QrErNDmg=", "base64"),
    hmac: {
      type: "sha256",
      key: Buffer.from(
        "Yh+xizBnl6FotC5ec7FanVGClRMlsOAPh2u6eovnerfBVKwaVKzjGoblFMHMc593TNyi0dWn4opLoTIV9q/ttg==",
        "base64",
      ),
    },
  };
  it("encodes to the exact wire bytes and back", () => {
    const made = makeSpaPacket(
      {
        rand: "7351927405312264",
        username: "bob",
        timestamp: 1700000000,
        version: "3.0.0",
        messageType: 1,
        message: "203.0.113.5,tcp/22,udp/53",
        natAccess: null,
        serverAuth: null,
        clientTimeout: 45,
      },
      "sha256",
      keys,
      fixedSalt("a1b2c3d4e5f60718"),
    );
    assert.equal(
      made.encoded.encoded,
      "7351927405312264:Ym9i:1700000000:3.0.0:3:MjAzLjAuMTEzLjUsdGNwLzIyLHVkcC81Mw:45",
    );
    assert.equal(made.encoded.digest, "6WDmpt3kxmEcjGmC2kzN/cddJ5VrsfmpkwqIlD3ubGs");
    assert.equal(made.hmac, "woAh0WDiqlW8yjK5KUpZi7h+MHsoq7u6+s4zp+jWFz8");
    assert.equal(
      made.wire,
      "+hssPU5fYHGDdtqS2yEIiA0slKPA45Kvb84RZDFhwA30r8WIbklrRVm9Cp4zN8P7hvgK8ra9GecZ+owYvaHdsDVZwQZTwcxtEslI4" +
        "ebXHX8nAPKZxIRw1lnjW1OrBm0kYfcGzbyc2OVWW8xYG8lIY37BXCru+bP5dmnkL1qauVs0ivZT7notOqwoAh0WDiqlW8yjK5KUp" +
        "Zi7h+MHsoq7u6+s4zp+jWFz8",
    );
    const back = openSpaPacket(made.wire, keys);
    assert.ok(back.ok);
    assert.equal(back.value.messageType, 3);
    assert.equal(back.value.clientTimeout, 45);
  });
});

describe("vector C (output of the real 2.6.10 client)", () => {
  it("decodes with the digest and HMAC the client computed", () => {
    const r = openSpaPacket(
      "9ntacW4dSq6CnQWvjoMKhaE5yqOjuHI2OUnT50Oq/MfPdeijUbocCsnddkSdMP/i+8fbUhx4ZYkiM7hYT8iGCP8ysHkKAVquHUTRl8/DwqphnNLRGPm6fizZZr8DjarZhFOcePEEZB3cKLw3tWINDeBiVPVM06WIsLBFGpzKNwDjaA7Z2ly2zPFQnYt11EJ7aKWn9f6CcD+s",
      {
        mode: "cbc",
        key: Buffer.from("fwknoptest"),
        hmac: { type: "sha256", key: Buffer.from("hmactestkey") },
      },
    );
    assert.ok(r.ok);
    assert.equal(r.value.rand, "1299768824893847");
    assert.equal(r.value.timestamp, 1795588029);
    assert.equal(r.value.digest, "t41coCQNrXfQnipgvRWD2plR+d8bFfQCadn/3TN05oU");
  });
});

describe("Rijndael equals `openssl enc -md md5`", () => {
  for (const mode of ["cbc", "ecb", "cfb", "ofb", "ctr"] as const) {
    it(`aes-256-${mode}`, () => {
      const pt = Buffer.from("1234567890123456:cm9vdA:1700000000:3.0.0:1:MS4yLjMuNCx0Y3AvMjI");
      const ours = rijndaelEncrypt(
        pt,
        Buffer.from("fwknoptest"),
        mode,
        Buffer.from("0011223344556677", "hex"),
      );
      // libfko pads with PKCS#7 in every mode; openssl pads only block modes, so hand it the
      // padded text and -nopad.
      const pad = 16 - (pt.length % 16);
      const padded = Buffer.concat([pt, Buffer.alloc(pad, pad)]);
      const theirs = execFileSync(
        "openssl",
        [
          "enc",
          `-aes-256-${mode}`,
          "-nopad",
          "-md",
          "md5",
          "-S",
          "0011223344556677",
          "-pass",
          "pass:fwknoptest",
        ],
        { input: padded, stdio: ["pipe", "pipe", "ignore"] },
      );
      // OpenSSL 3 leaves out the "Salted__"+salt header when the salt is given with -S.
      assert.deepEqual(ours.subarray(16), theirs.subarray(theirs.length - padded.length));
    });
  }
});

describe("timestamps from 2^31 on (lib/fko_decode.c:parse_timestamp)", () => {
  const keys: SpaKeys = { mode: "cbc", key: Buffer.from("fwknoptest"), hmac: null };
  const at = (timestamp: number): string =>
    makeSpaPacket(spaFields({ timestamp }), "sha256", keys, fixedSalt("0102030405060708")).wire;

  it("refuses the 2.6.10 client's packet stamped 2228602172 (its own decode says DECODEFAIL)", () => {
    // `fwknop -T --time-offset-plus 5000d --key-rijndael fwknoptest`: the client printed
    // "Error 19 - ... FKO_ERROR_INVALID_DATA_DECODE_TIMESTAMP_DECODEFAIL" for its own packet.
    const r = openSpaPacket(
      "9gdMnOPVSHpAmwgOf+9yZbKKWZKoHwX4BEnBwJ4surJJI1fCtZU/P81zR6JP6Zs07SGtgWS8+FC1S+MeUx3OOCaAnJi" +
        "09ld6/LknD+zDdC+sPO2pECnuAP3MUO9zwexREk5Y427ujakr9r9QOstqh0E5u0MEevlLQ",
      keys,
    );
    assert.equal(r.ok ? r.value.timestamp : r.reason, Reject.Timestamp);
  });

  it("takes 2^31 - 1 and refuses 2^31 and 2^32 + 5", () => {
    const last = openSpaPacket(at(2 ** 31 - 1), keys);
    assert.equal(last.ok && last.value.timestamp, 2 ** 31 - 1);
    for (const t of [2 ** 31, 2 ** 32 + 5, 999_999_999_999]) {
      const r = openSpaPacket(at(t), keys);
      assert.equal(r.ok ? r.value.timestamp : r.reason, Reject.Timestamp, `timestamp ${t}`);
    }
  });
});

/**
 * Packets of older clients that C fwknopd 2.6 grants, from upstream's
 * test/tests/rijndael_backwards_compatibility.pl (each with its access.conf key and mode, aging off).
 */
describe("upstream's Rijndael backwards-compatibility packets", () => {
  const cases = [
    {
      detail: "v2.0",
      mode: "legacy",
      key: "fwknoptest",
      user: "mbr",
      wire: "9ptGrLs8kVGVludcXFy17opvThEYzTeaT7RVlCN66W/G9QZs9BBevEQ0xxI8eCnKPDM+Bu9g0XwmCEVxxg+4jwBwtbCxVt9t5aSR29EVWZ6UAOwLkunK3t4FYBy1tL55krFt+1B2TtNSAH005kyDEZEOIGoY9Q/iU",
    },
    {
      detail: "v2.0.1",
      mode: "legacy",
      key: "fwknoptest",
      user: "mbr",
      wire: "+uAD6hlS2BHuaCtVKIGyIsB/4U8USqcP9o4aT6FvBuPKORwTV8byyzv6bzZYINs4Voq3QvBbIwkXJ63/oU+XxvP5R+DBLEnh3e/NHPFK6NB0WT2dujVyVxwBfvvWjIqWHhro2tH34nqfTRIpevfLTMx7r+N8ZQ4V8",
    },
    {
      detail: "v2.0.2",
      mode: "legacy",
      key: "fwknoptest",
      user: "root",
      wire: "+mS70t2A2YmV50KgwDyy6nYLwzQ7AUO8pA/eatm7g9xc83xy1z7VOXeAYrgAOWyKsk30QvkwHtPhl7I0oDz1bO+2K2JbDbyc0KBBzVNMLgJcuYgEpOXPkX2XhcTsgQVw2/Va/aUjvEvNPtwuipQS6DLTzOw/qy+/g",
    },
    {
      detail: "v2.0.3",
      mode: "legacy",
      key: "fwknoptest",
      user: "root",
      wire: "+8OtxmTJPgQmrXZ7hAqTopLBC/thqHNuPHTfR234pFuQOCZUikPe0inHmjfnQFnPSop/Iy6v+BCn9D+QD7eT7JI6BIoKp14K+8iNgKaNw1BdfgF1XDulpkNEdyG0fXz5M+GledHfz2d49aYThoQ2Cr8Iw1ycViawY",
    },
    {
      detail: "v2.0.4",
      mode: "legacy",
      key: "fwknoptest",
      user: "root",
      wire: "8Xm8U5vQ03T88UTCWbwO3t/aL6euZ8IgVbNdDVz3Bn6HkTcBqxcME95U/G3bCHvQznpnGb05Md4ZgexHZGzZdSwsP8iVtcZdsgCBfeO4Eqs8OaSMjJVF8SQ+JmhuXZMcWgMsIzhpprJ7JX41DrWd0OtBnE3rVwsN0",
    },
    {
      detail: "v2.0.4 truncated key",
      mode: "legacy",
      key: "1234567890123456",
      user: "mbr",
      wire: "8nypBDKbDQZ2w6mTAB5xqOmNcoCWfhkIfqb6Ybuc101TZ+VbT+QjtREn2F2ffbL7PclPqPaGOrDeUCyMERFAkO/InryQUYtNlwnjcQdo15+JewnPj8XMDEtmvMjBZ7GmmG3WabIHzHcIi1xsBvoAwYCtxOH+GivVA",
    },
    {
      detail: "v2.0.4 non-trunc key",
      mode: "legacy",
      key: "1234567890123456blah",
      user: "mbr",
      wire: "/iDyDBp/N35nNokK8jF5R7cWed3Y+NohcUaiVJk2qpuyC/Pa00xKpzduGTj52v3F4Tihko7bFH3nykDa3j0u88QAgCNglg+Fcbe6NGVeogUndPUmAhi/kOzmiGCMzl9kapbaH/PBT2HsgbcGzTHXZAV5kMVTLG0ZM",
    },
    {
      // Its plaintext is exactly 7 blocks and carries no padding at all; C's rij_decrypt keeps a
      // last block that is not PKCS#7 padding and decodes the rest.
      detail: "Android v4.1.2",
      mode: "legacy",
      key: "asdfasdf",
      user: "NO_USER",
      wire: "+59hIQhS1RlmqYLXNM/hPxtBAQTB5y3UKZq13O+r6qmg+APdQ+HQOI7d4QCsp14s8KJpW8qBzZ/n0aZCFCFdZnvdZeJJVboQu4joQFKZ8mmKwR/5DIO7k3qrXYGxYP0bnHYsih0HIE6CzSHlBGSfDJR92YhjYtL4Q",
    },
    {
      detail: "Android v4.4",
      mode: "cbc",
      key: "fwknoptest",
      user: "u0_a52",
      wire: "/Nx+t6S6IDIFoYROp2V29yj9MmHVlrPKNQKuo3DTHa8/EJmu3fkpcv4xpiaQ82q2I2u9ia1L3SOrscltFhhNUkFdOguM+fMnd8koQL1a/gafXo83MiZzxzDmROiJ+qrmB4qnDgp8Vtd/E5ExEOoZggOkroak/PALo",
    },
  ] as const;
  for (const c of cases)
    it(`${c.detail} (${c.mode}, key ${c.key})`, () => {
      const r = openSpaPacket(c.wire, { mode: c.mode, key: Buffer.from(c.key), hmac: null });
      assert.ok(r.ok, r.ok ? "" : `${r.reason}: ${r.detail}`);
      assert.equal(r.value.username, c.user);
    });

  it("Android v4.1.2: NO_USER, type 3 (client timeout 3), 0.0.0.0,tcp/22", () => {
    const r = openSpaPacket(cases[7].wire, {
      mode: "legacy",
      key: Buffer.from("asdfasdf"),
      hmac: null,
    });
    assert.ok(r.ok, r.ok ? "" : `${r.reason}: ${r.detail}`);
    assert.deepEqual(
      [r.value.messageType, r.value.clientTimeout, r.value.message, r.value.timestamp],
      [3, 3, "0.0.0.0,tcp/22", 1353030926],
    );
  });
});

describe("the last block on decrypt (lib/cipher_funcs.c:rij_decrypt)", () => {
  const pw = Buffer.from("asdfasdf");
  const salt = Buffer.from("0011223344556677", "hex");
  /** The blob of `plain` encrypted as is: whole blocks, no padding added. */
  const unpadded = (plain: Buffer, mode: "legacy" | "cbc"): Buffer => {
    const { key, iv } = deriveKeyIv(pw, salt, mode);
    const c = createCipheriv("aes-256-cbc", key, iv).setAutoPadding(false);
    return Buffer.concat([Buffer.from("Salted__"), salt, c.update(plain), c.final()]);
  };
  const text = Buffer.from("0123456789abcdef0123456789abcd");
  const ending = (tail: number[]): Buffer => Buffer.concat([text, Buffer.from(tail)]);

  it("legacy: strips a last byte n <= 16 only when the last n bytes are all n, else keeps all", () => {
    const cases: Array<[number[], number]> = [
      [[0x02, 0x02], 30], // PKCS#7: stripped
      [[0x41, 0x42], 32], // not padding: kept (the Android 4.1.2 case)
      [[0x03, 0x02], 32], // n = 2, but not both 2: kept
      [[0x00, 0x00], 32], // n = 0: nothing to strip
    ];
    for (const [tail, length] of cases) {
      const pt = rijndaelDecrypt(unpadded(ending(tail), "legacy"), pw, "legacy");
      assert.equal(pt?.length, length, `tail ${JSON.stringify(tail)}`);
    }
  });

  it("other modes still refuse a last block that is not PKCS#7 padding", () => {
    assert.equal(rijndaelDecrypt(unpadded(ending([0x41, 0x42]), "cbc"), pw, "cbc"), null);
    assert.equal(rijndaelDecrypt(unpadded(ending([0x02, 0x02]), "cbc"), pw, "cbc")?.length, 30);
  });
});
