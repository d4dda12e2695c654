/**
 * The server pipeline with GPG stanzas, a fake GpgEngine behind the real GpgRunner: signature
 * policy (lib/gpgme_funcs.c:process_sigs, server/incoming_spa.c:handle_gpg_sigs), HMAC before any
 * gpg run, the bound on gpg runs, and replays in another OpenPGP encoding.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { processSpa } from "../../src/server/pipeline.js";
import type { ResolvedGpg, ServedStanza } from "../../src/server/pipeline/served-stanza.js";
import type { Decision, Settled } from "../../src/server/pipeline/types.js";
import { GpgRunner } from "../../src/server/gpg-runner.js";
import { signerRefusal } from "../../src/server/gpg-policy.js";
import {
  encodeSpaFields,
  finishGpgPacket,
  type GpgSignature,
  type HmacSpec,
} from "../../src/spa/index.js";
import { NOW, pipelineStanza, spaFields } from "../fixtures/pipeline.js";
import { FakeGpg, GOOD_SIG, type FakeKeyType } from "../fixtures/fake-gpg.js";

const FPR = GOOD_SIG.fingerprint ?? "";

function gpgSettings(over: Partial<ResolvedGpg> = {}): ResolvedGpg {
  return {
    homeDir: "/srv/gnupg",
    exe: "/usr/bin/gpg",
    decryptPw: "",
    requireSig: true,
    ignoreSigVerifyError: false,
    remoteIds: [FPR.slice(-8)],
    fingerprintIds: null,
    ...over,
  };
}

const stanza = (n: number, gpg: ResolvedGpg, hmac: HmacSpec | null = null): ServedStanza =>
  pipelineStanza(n, { mode: "cbc", key: Buffer.alloc(0), hmac }, { gpgResolved: gpg });

async function gpgPacket(
  gpg: FakeGpg,
  opts: { signer?: string | null; hmac?: HmacSpec | null; rand?: string } = {},
): Promise<{ wire: string; full: string }> {
  const encoded = encodeSpaFields(
    spaFields(opts.rand !== undefined ? { rand: opts.rand } : {}),
    "sha256",
  );
  const blob = await gpg.encrypt({
    plaintext: encoded.plaintext,
    recipient: "server",
    signer: opts.signer === undefined ? "client" : opts.signer,
    passphrase: "",
  });
  const made = finishGpgPacket(encoded, blob, opts.hmac ?? null);
  return { wire: made.wire, full: made.ciphertextB64 };
}

interface Run {
  d: Settled;
  log: string[];
}

async function run(
  data: string,
  stanzas: ServedStanza[],
  gpg: FakeGpg,
  seen = new Set<string>(),
  runner = new GpgRunner({ concurrent: 2, queued: 2, timeoutMs: 1000, engine: () => gpg }),
): Promise<Run> {
  const log: string[] = [];
  const d: Decision = processSpa(
    { data, srcIp: "198.18.0.2", srcPort: 4000, dstIp: "0.0.0.0", dstPort: 62201 },
    stanzas,
    { packetAging: true, maxPacketAge: 120, testMode: false },
    (x) => seen.has(x),
    NOW,
    (l) => log.push(l),
    runner.open,
  );
  return { d: d.kind === "pending" ? await d.decision : d, log };
}

describe("server pipeline, GPG stanzas", () => {
  for (const type of ["rsa", "ecc"] as FakeKeyType[])
    it(`grants a signed packet from an allowed signer (${type} framing)`, async () => {
      const gpg = new FakeGpg(type);
      const { wire } = await gpgPacket(gpg);
      const { d, log } = await run(wire, [stanza(1, gpgSettings())], gpg);
      assert.ok(d.kind === "grant" && d.innerDigest !== null, log.join("\n"));
      assert.match(log.join("\n"), /\(stanza #1\) Incoming SPA data signed by '89ABCDEF'/);
    });

  it("a C client's blind 2-char strip of an ECDH message still opens (issue #247)", async () => {
    const gpg = new FakeGpg("ecc");
    const { full } = await gpgPacket(gpg);
    const { d } = await run(full.slice(2), [stanza(1, gpgSettings())], gpg);
    assert.equal(d.kind, "grant");
  });

  it("unsigned: refused while signatures are required, granted with GPG_DISABLE_SIG", async () => {
    const gpg = new FakeGpg();
    const { wire } = await gpgPacket(gpg, { signer: null });
    const strict = await run(wire, [stanza(1, gpgSettings())], gpg);
    assert.equal(strict.d.kind === "refuse" && strict.d.reason, "gpg_signature");
    assert.match(strict.log.join("\n"), /Missing GPG signature/);
    assert.equal(strict.d.kind === "refuse" && strict.d.digest, null, "not burnt (as C)");
    const open = await run(wire, [stanza(1, gpgSettings({ requireSig: false }))], gpg);
    assert.equal(open.d.kind, "grant");
  });

  it("an untrusted or bad signature is refused unless GPG_IGNORE_SIG_VERIFY_ERROR", async () => {
    for (const sig of [
      { ...GOOD_SIG, validity: 1 },
      { ...GOOD_SIG, status: "bad" },
    ] as GpgSignature[]) {
      const gpg = new FakeGpg("rsa", [sig]);
      const { wire } = await gpgPacket(gpg);
      const r = await run(wire, [stanza(1, gpgSettings())], gpg);
      assert.equal(r.d.kind === "refuse" && r.d.reason, "gpg_signature", r.log.join("\n"));
      assert.match(r.log.join("\n"), /Bad GPG signature - GPG ERROR/);
      const lax = await run(wire, [stanza(1, gpgSettings({ ignoreSigVerifyError: true }))], gpg);
      assert.equal(lax.d.kind, "grant");
    }
  });

  it("a signer outside GPG_FINGERPRINT_ID / GPG_REMOTE_ID is refused, and the digest burnt", async () => {
    const gpg = new FakeGpg();
    const { wire } = await gpgPacket(gpg);
    const byFpr = await run(
      wire,
      [stanza(1, gpgSettings({ fingerprintIds: ["00".repeat(20)], remoteIds: null }))],
      gpg,
    );
    assert.equal(byFpr.d.kind === "refuse" && byFpr.d.reason, "gpg_signer");
    assert.match(
      byFpr.log.join("\n"),
      /but that fingerprint is not in the GPG_FINGERPRINT_ID list\./,
    );
    assert.ok(byFpr.d.kind === "refuse" && byFpr.d.digest !== null);
    const byId = await run(wire, [stanza(1, gpgSettings({ remoteIds: ["DEADBEEF"] }))], gpg);
    assert.match(
      byId.log.join("\n"),
      /signed by ID: 89ABCDEF, but that ID is not in the GPG_REMOTE_ID list\./,
    );
    // The next stanza is still tried, as in C.
    const next = await run(
      wire,
      [stanza(1, gpgSettings({ remoteIds: ["DEADBEEF"] })), stanza(2, gpgSettings())],
      gpg,
    );
    assert.equal(next.d.kind === "grant" && next.d.stanza, 2);
  });

  it("signer ids: C's 8 digits, long ids, 0x, case and spaces; never shorter than 8", () => {
    const ok = (remoteIds: string[] | null, fingerprintIds: string[] | null = null): boolean =>
      signerRefusal(GOOD_SIG, { remoteIds, fingerprintIds }) === null;
    assert.ok(ok(["89ABCDEF"]));
    assert.ok(ok(["0x0123456789abcdef"]));
    assert.ok(ok(null, ["aaaa bbbb cccc dddd eeee ffff 0123 4567 89ab cdef"]));
    assert.ok(!ok(["ABCDEF"]), "a 6-digit suffix is too weak");
    assert.ok(!ok(["89ABCDEF"], ["00".repeat(20)]), "both lists must match");
  });

  it("checks the HMAC before any gpg run", async () => {
    const gpg = new FakeGpg();
    const hmac: HmacSpec = { type: "sha256", key: randomBytes(32) };
    const { wire } = await gpgPacket(gpg, { hmac: { type: "sha256", key: randomBytes(32) } });
    const r = await run(wire, [stanza(1, gpgSettings(), hmac)], gpg);
    assert.equal(r.d.kind === "refuse" && r.d.reason, "hmac_mismatch");
    assert.equal(gpg.decrypts.length, 0);
    const good = await gpgPacket(gpg, { hmac, rand: "6543210987654321" });
    assert.equal((await run(good.wire, [stanza(1, gpgSettings(), hmac)], gpg)).d.kind, "grant");
  });

  it("drops packets when gpg runs are at their bound, without starting gpg", async () => {
    let release: () => void = () => undefined;
    const gpg = new FakeGpg("rsa", [GOOD_SIG], new Promise<void>((r) => (release = r)));
    const runner = new GpgRunner({ concurrent: 1, queued: 1, timeoutMs: 1000, engine: () => gpg });
    const wires = await Promise.all(
      ["1111111111111111", "2222222222222222", "3333333333333333"].map((rand) =>
        gpgPacket(gpg, { rand }),
      ),
    );
    const runs = wires.map((w) => run(w.wire, [stanza(1, gpgSettings())], gpg, new Set(), runner));
    const third = await runs[2];
    assert.equal(third?.d.kind === "refuse" && third.d.reason, "gpg_busy");
    assert.equal(runner.inUse, 2);
    release();
    const done = await Promise.all(runs.slice(0, 2));
    assert.deepEqual(
      done.map((x) => x.d.kind),
      ["grant", "grant"],
    );
    assert.equal(runner.inUse, 0);
  });

  it("the same message in another OpenPGP encoding is a replay", async () => {
    const gpg = new FakeGpg("ecc");
    const { wire, full } = await gpgPacket(gpg);
    const first = await run(wire, [stanza(1, gpgSettings())], gpg);
    assert.ok(first.d.kind === "grant" && first.d.innerDigest !== null);
    const seen = new Set([first.d.digest, first.d.innerDigest]);
    // What a C client would have sent for the same message: two chars fewer, a new wire digest.
    const again = await run(full.slice(2), [stanza(1, gpgSettings())], gpg, seen);
    assert.equal(again.d.kind === "refuse" && again.d.reason, "replay");
  });
});
