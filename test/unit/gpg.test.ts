/**
 * The pure GPG parts: gpg's status lines as GPGME reads them, the OpenPGP shape check, and the
 * receiver's way back from a wire body to the full b64 text ("hQ" put back as C does, other
 * prefixes kept by our client or recovered after a C client dropped them: upstream issue #247).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  b64NoPad,
  gpgCiphertextCandidates,
  gpgWireBody,
  hmacB64,
  isOpenPgpPkMessage,
  verifyGpgHmac,
} from "../../src/spa/index.js";
import { gpgmeSigStatus, parseGpgStatus, shortKeyId } from "../../src/gpg/status.js";
import { fakeOpenPgp } from "../fixtures/fake-gpg.js";

// Captured from gpg 2.2.40: a signed message decrypted by a keyring that has the signer's public
// key but does not trust it.
const GOOD_UNTRUSTED = `[GNUPG:] ENC_TO A8E7787F1CEBF5ED 18 0
[GNUPG:] KEY_CONSIDERED 96E8603D97C34ED1430A4BDB4262F59705BDBA32 0
[GNUPG:] DECRYPTION_KEY B95BD9C3A8CE959C6EDA4EA7A8E7787F1CEBF5ED 96E8603D97C34ED1430A4BDB4262F59705BDBA32 u
[GNUPG:] BEGIN_DECRYPTION
[GNUPG:] DECRYPTION_INFO 2 9 0
[GNUPG:] PLAINTEXT 62 1795600112 
[GNUPG:] PLAINTEXT_LENGTH 106
[GNUPG:] NEWSIG
[GNUPG:] KEY_CONSIDERED 9C8520FD7F8445BD66E9BB8A43CC2434327F7B17 0
[GNUPG:] SIG_ID PpsYPiwAeh5gw6hB6+B9GcUbASs 2026-11-25 1795600112
[GNUPG:] GOODSIG 43CC2434327F7B17 rsa-test <r@x>
[GNUPG:] VALIDSIG 1111111111111111111111111111111111111111 2026-11-25 1795600112 0 4 0 1 10 00 9C8520FD7F8445BD66E9BB8A43CC2434327F7B17
[GNUPG:] TRUST_UNDEFINED 0 pgp
[GNUPG:] DECRYPTION_OKAY
[GNUPG:] GOODMDC
[GNUPG:] END_DECRYPTION
`;

describe("gpg status lines", () => {
  it("a good signature: key id, signing-key and primary fingerprints, validity", () => {
    const st = parseGpgStatus(GOOD_UNTRUSTED);
    assert.equal(st.decryptionOkay, true);
    assert.equal(st.signatures.length, 1);
    const [sig] = st.signatures;
    assert.ok(sig);
    assert.equal(sig.status, "good");
    assert.equal(sig.keyId, "43CC2434327F7B17");
    assert.equal(sig.fingerprint, "1111111111111111111111111111111111111111");
    assert.equal(sig.primaryFingerprint, "9C8520FD7F8445BD66E9BB8A43CC2434327F7B17");
    assert.equal(sig.validity, 1, "TRUST_UNDEFINED is GPGME_VALIDITY_UNDEFINED");
    assert.equal(shortKeyId(sig), "11111111", "C's id: the last 8 hex of the signing key's fpr");
    assert.equal(gpgmeSigStatus(sig), 0);
  });

  it("bad, unverifiable and several signatures; TRUST_* applies to the one before it", () => {
    const st = parseGpgStatus(
      [
        "[GNUPG:] NEWSIG",
        "[GNUPG:] BADSIG 43CC2434327F7B17 someone",
        "[GNUPG:] NEWSIG",
        "[GNUPG:] ERRSIG 0011223344556677 1 10 00 1795600112 9 00112233445566778899AABBCCDDEEFF00112233",
        "[GNUPG:] NEWSIG",
        "[GNUPG:] GOODSIG 8899AABBCCDDEEFF x",
        "[GNUPG:] VALIDSIG 00000000000000000000000000008899AABBCCDDEEFF 2026-11-25 1 0 4 0 22 10 00",
        "[GNUPG:] TRUST_FULLY 0 pgp",
        "[GNUPG:] DECRYPTION_OKAY",
      ].join("\n"),
    );
    assert.deepEqual(
      st.signatures.map((s) => [s.status, s.validity, gpgmeSigStatus(s)]),
      [
        ["bad", 0, 8],
        ["error", 0, 9],
        ["good", 4, 0],
      ],
    );
    assert.equal(st.signatures[1]?.fingerprint, "00112233445566778899AABBCCDDEEFF00112233");
    assert.equal(st.signatures[2]?.primaryFingerprint, st.signatures[2]?.fingerprint);
  });

  it("decryption failures, bad passphrases and unusable keys", () => {
    const st = parseGpgStatus(
      "[GNUPG:] ENC_TO D69882193C1C39B2 1 0\n[GNUPG:] NO_SECKEY D69882193C1C39B2\n[GNUPG:] BEGIN_DECRYPTION\n[GNUPG:] DECRYPTION_FAILED\n[GNUPG:] END_DECRYPTION\n",
    );
    assert.deepEqual([st.noSecretKey, st.decryptionFailed, st.decryptionOkay], [true, true, false]);
    assert.equal(parseGpgStatus("[GNUPG:] BAD_PASSPHRASE 1234\n").badPassphrase, true);
    assert.match(
      parseGpgStatus("[GNUPG:] INV_RECP 1 nobody\n").invalidKey ?? "",
      /recipient nobody/,
    );
  });

  it("ignores everything that is not a status line (the plaintext may contain anything)", () => {
    const st = parseGpgStatus("gpg: [GNUPG:] GOODSIG 1 x\nfoo [GNUPG:] GOODSIG 2 y\n");
    assert.deepEqual(st.signatures, []);
  });
});

describe("OpenPGP shape and prefixes", () => {
  const pt = Buffer.from("1234567890123456:cm9vdA:1700000000:3.0.0:1:MS4yLjMuNCx0Y3AvMjI:x");

  it("RSA framing encodes as 'hQ' (wire drops it), ECDH as 'hF' (wire keeps it)", () => {
    const rsa = b64NoPad(fakeOpenPgp("rsa", pt));
    const ecc = b64NoPad(fakeOpenPgp("ecc", pt));
    assert.ok(rsa.startsWith("hQ") && ecc.startsWith("hF"));
    assert.equal(gpgWireBody(rsa), rsa.slice(2));
    assert.equal(gpgWireBody(ecc), ecc);
  });

  it("finds the full text behind every wire body: C's, ours, and a C client's with ECDH", () => {
    for (const type of ["rsa", "ecc"] as const) {
      const full = b64NoPad(fakeOpenPgp(type, pt));
      assert.equal(gpgCiphertextCandidates(gpgWireBody(full))[0], full, `${type}: our client`);
      // A C client drops two chars blindly (lib/fko_funcs.c:fko_get_spa_data).
      // Old- and new-format headers can say the same thing ("hF" / "wV" for ECDH): either opens,
      // and gpg's own (old-format) one comes first.
      assert.equal(gpgCiphertextCandidates(full.slice(2))[0], full, `${type}: C client`);
    }
  });

  it("with an HMAC, only the text it authenticates is kept; a wrong key is a mismatch", () => {
    const key = randomBytes(32);
    const full = b64NoPad(fakeOpenPgp("ecc", pt));
    const mac = hmacB64("sha256", key, full);
    const fromC = verifyGpgHmac(full.slice(2) + mac, { type: "sha256", key });
    assert.deepEqual(fromC, { ok: true, value: [full] });
    const wrong = verifyGpgHmac(full.slice(2) + mac, { type: "sha256", key: randomBytes(32) });
    assert.equal(wrong.ok ? "ok" : wrong.reason, "hmac_mismatch");
  });

  it("random base64 of GPG size is not an OpenPGP message", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 300, maxLength: 1000 }), (bytes) => {
        const body = b64NoPad(bytes);
        return gpgCiphertextCandidates(body.slice(2)).length === 0;
      }),
      { numRuns: 300 },
    );
  });

  it("a truncated, extended or mis-tagged message does not parse", () => {
    const m = fakeOpenPgp("rsa", pt);
    assert.equal(isOpenPgpPkMessage(m), true);
    assert.equal(isOpenPgpPkMessage(m.subarray(0, m.length - 1)), false);
    assert.equal(isOpenPgpPkMessage(Buffer.concat([m, Buffer.from([0])])), false);
    const symmetric = Buffer.from(m);
    symmetric[0] = 0x8d; // tag 3 (SKESK) instead of 1: a passphrase message, never ours
    assert.equal(isOpenPgpPkMessage(symmetric), false);
    const v4 = Buffer.from(m);
    v4[3] = 4; // PKESK version
    assert.equal(isOpenPgpPkMessage(v4), false);
  });
});
