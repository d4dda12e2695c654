/**
 * The client in GPG mode, in-process with a fake GpgEngine: which flags and rc variables turn GPG
 * on (as client/config_init.c), where the signing passphrase comes from, the wire (prefix "hQ"
 * dropped, any other kept), the HMAC over the full text, and the -T self-check.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runClientInProcess } from "../fixtures/client-run.js";
import { hmacB64, verifyGpgHmac, type GpgEngine } from "../../src/spa/index.js";
import { FakeGpg, type FakeKeyType } from "../fixtures/fake-gpg.js";
import { buildRequest, type GpgRequest } from "../../src/client/build-packet.js";
import { defaultClientConfig } from "../../src/client/config.js";
import { makeGpgPacket } from "../../src/client/gpg-packet.js";
import { UsageError } from "../../src/errors.js";
import { GpgError } from "../../src/gpg/gpg-binary.js";

const homes: string[] = [];
after(() => {
  for (const d of homes) rmSync(d, { recursive: true, force: true });
});

interface Run {
  code: number;
  out: string;
  err: string;
  gpg: FakeGpg;
  reqs: GpgRequest[];
  asked: string[];
}

async function run(
  argv: string[],
  rc = "",
  type: FakeKeyType = "rsa",
  engine?: GpgEngine,
): Promise<Run> {
  const home = mkdtempSync(join(tmpdir(), "fwknop-gpg-"));
  homes.push(home);
  if (rc !== "") writeFileSync(join(home, ".fwknoprc"), rc, { mode: 0o600 });
  const gpg = new FakeGpg(type);
  const reqs: GpgRequest[] = [];
  const asked: string[] = [];
  const r = await runClientInProcess(home, argv, {
    askKey: (kind) => {
      asked.push(kind);
      return "prompted-pw";
    },
    gpgEngine: (req) => {
      reqs.push(req);
      return engine ?? gpg;
    },
  });
  return { ...r, gpg, reqs, asked };
}

const base = ["-A", "tcp/22", "-a", "198.18.0.2", "-D", "198.18.0.1", "-T"];
const finalData = (out: string): string => /^ Final SPA Data: (\S+)$/m.exec(out)?.[1] ?? "";

describe("fwknop GPG options", () => {
  it("any --gpg-* flag turns GPG on; the recipient is required", async () => {
    const r = await run([...base, "--gpg-signer-key", "me"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /Must specify --gpg-recipient-key when GPG is used/);
  });

  it("-M Asymmetric without GPG keys is refused, as C", async () => {
    const r = await run([...base, "-M", "Asymmetric", "--key-base64-rijndael", "AAAA"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /Must specify GPG recipient\/signing keys/);
  });

  it("in the rc file only USE_GPG turns GPG on", async () => {
    const rc = "[default]\nGPG_RECIPIENT server@example\nKEY_BASE64 AAAAAAAAAAAAAAAAAAAAAA==\n";
    const rijndael = await run(base, rc);
    assert.equal(rijndael.code, 0, rijndael.err);
    assert.equal(rijndael.reqs.length, 0);
    assert.match(rijndael.out, /Encryption Type: 1 \(Rijndael\)/);
    const gpg = await run(base, `${rc}USE_GPG Y\nGPG_HOMEDIR /tmp\n`);
    assert.equal(gpg.code, 0, gpg.err);
    assert.deepEqual(
      gpg.reqs.map((q) => [q.recipient, q.homeDir]),
      [["server@example", "/tmp"]],
    );
  });

  it("signing passphrase: GPG_SIGNING_PW, then the prompt; none for agent or no-pw", async () => {
    const signer = [...base, "--gpg-recipient-key", "srv", "--gpg-signer-key", "me"];
    const fromRc = await run(signer, "[default]\nGPG_SIGNING_PW rc-secret\n");
    assert.equal(fromRc.gpg.encrypted[0]?.passphrase, "rc-secret");
    assert.deepEqual(fromRc.asked, []);
    const b64 = await run(signer, "[default]\nGPG_SIGNING_PW_BASE64 YjY0LXNlY3JldA==\n");
    assert.equal(b64.gpg.encrypted[0]?.passphrase, "b64-secret");
    const prompted = await run(signer);
    assert.deepEqual(prompted.asked, ["signing"]);
    assert.equal(prompted.gpg.encrypted[0]?.passphrase, "prompted-pw");
    const agent = await run([...signer, "--gpg-agent"]);
    assert.equal(agent.gpg.encrypted[0]?.passphrase, null);
    assert.equal(agent.reqs[0]?.agent, true);
    const noPw = await run([...signer, "--gpg-no-signing-pw"]);
    assert.equal(noPw.gpg.encrypted[0]?.passphrase, "");
    assert.deepEqual(noPw.asked, []);
    const unsigned = await run([...base, "--gpg-recipient-key", "srv"]);
    assert.equal(unsigned.gpg.encrypted[0]?.signer, null);
    assert.deepEqual(unsigned.asked, [], "no signer, no passphrase to ask for");
  });

  it("--gpg-home-dir loses one trailing slash; --gpg-exe is used as given", async () => {
    const r = await run([
      ...base,
      "--gpg-recipient-key",
      "srv",
      "--gpg-home-dir",
      "/etc/x/",
      "--gpg-exe",
      "/opt/gpg2",
    ]);
    assert.deepEqual(
      r.reqs.map((q) => [q.homeDir, q.exe]),
      [["/etc/x", "/opt/gpg2"]],
    );
  });
});

describe("fwknop GPG packets", () => {
  const hmacKey = Buffer.alloc(32, 7).toString("base64");
  const args = [...base, "--gpg-recipient-key", "srv", "--gpg-signer-key", "me", "-v"];

  it("drops a leading 'hQ' from the wire and MACs the full text (C)", async () => {
    const r = await run([...args, "--key-base64-hmac", hmacKey, "--use-hmac"]);
    assert.equal(r.code, 0, r.err);
    const wire = finalData(r.out);
    const hmac = /^ {11}HMAC: (\S+)$/m.exec(r.out)?.[1] ?? "";
    const body = wire.slice(0, wire.length - hmac.length);
    assert.ok(!body.startsWith("hQ"));
    assert.equal(hmacB64("sha256", Buffer.alloc(32, 7), `hQ${body}`), hmac);
    assert.match(
      r.out,
      /Encryption Mode: 7 \(Asymmetric\)\n {5}GPG signer: me\n {2}GPG recipient: srv\n/,
    );
    // The -T self-check decrypted it and shows the signature.
    assert.match(
      r.out,
      /Dump of the Decoded Data[\s\S]*GPG sig ID: 6789ABCDEF|GPG sig ID: 89ABCDEF/,
    );
    assert.match(r.out, /GPG sig fpr: AAAABBBBCCCCDDDDEEEEFFFF0123456789ABCDEF/);
  });

  it("keeps a prefix other than 'hQ' (issue #247), and the HMAC still verifies", async () => {
    const r = await run([...args, "--key-base64-hmac", hmacKey, "--use-hmac"], "", "ecc");
    assert.equal(r.code, 0, r.err);
    const wire = finalData(r.out);
    assert.ok(wire.startsWith("hF"), wire.slice(0, 4));
    const v = verifyGpgHmac(wire, { type: "sha256", key: Buffer.alloc(32, 7) });
    assert.ok(v.ok && v.value[0]?.startsWith("hF"));
  });

  it("-T exits 1 with C's words when the local keyring cannot decrypt", async () => {
    const gpg = new FakeGpg();
    const failing: GpgEngine = {
      encrypt: (q) => gpg.encrypt(q),
      decrypt: () => Promise.resolve({ ok: false, error: "no secret key" }),
    };
    const r = await run(args, "", "rsa", failing);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /Error 132 - Decryption operation failed\nGPG ERR: no secret key\nNo access to recipient private key\?/,
    );
  });
});

describe("fwknop GPG failures", () => {
  const failing = (e: Error): GpgEngine => ({
    encrypt: () => Promise.reject(e),
    decrypt: () => Promise.resolve({ ok: false, error: "unused" }),
  });

  it("a gpg failure is gpg's error (E_GPG), not a usage error, in C's words", async () => {
    const cfg = {
      ...defaultClientConfig(),
      ...{ access: "tcp/22", allowIp: "198.18.0.2" },
      ...{ useGpg: true, gpgRecipient: "srv", gpgNoSigningPw: true },
    };
    const req = buildRequest(cfg, {
      nowMs: 1_700_000_000_000,
      random: (n) => Buffer.alloc(n, 1),
      env: {},
      localUser: () => "tester",
      askKey: () => "",
    });
    assert.ok(req.gpg !== null);
    for (const [cause, fko] of [
      [new GpgError("gpg: srv: skipped: No public key"), "Error 122 - Error during the encrypt"],
      [new GpgError("gpg: signing failed: Bad passphrase", true), "Error 121 - The GPG passphrase"],
    ] as const) {
      const e: unknown = await makeGpgPacket(req, req.gpg, failing(cause), "sha256").catch(
        (x: unknown) => x,
      );
      assert.ok(e instanceof GpgError && !(e instanceof UsageError), String(e));
      assert.equal(e.code, "E_GPG");
      assert.equal(e.badPassphrase, cause.badPassphrase);
      assert.ok(e.message.startsWith(`fko_spa_data_final: ${fko}`), e.message);
      assert.match(e.message, new RegExp(`\nGPG ERR: ${cause.message}$`));
    }
  });

  it("main() prints it as before and exits 1", async () => {
    const r = await run(
      [...base, "--gpg-recipient-key", "srv", "--gpg-no-signing-pw"],
      "",
      "rsa",
      failing(new GpgError("gpg: signing failed: Bad passphrase", true)),
    );
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      "[+] GPG mode set, signing passphrase not required\n" +
        "fwknop: fko_spa_data_final: Error 121 - The GPG passphrase was not valid\n" +
        "GPG ERR: gpg: signing failed: Bad passphrase\n",
    );
  });
});
