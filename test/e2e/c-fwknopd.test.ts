/**
 * Our client against the real C fwknopd (Debian 2.6.10) in the namespace rig: a packet from
 * bin/fwknop opens a port that was closed, and C fwknopd accepts our packets in every mode.
 * SPA_CLIENT=/usr/bin/fwknop runs the same tests with the C client, to check the tests themselves.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CFwknopd } from "./c-fwknopd.js";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";

const SPA_CLIENT = process.env.SPA_CLIENT || join(REPO, "bin", "fwknop");
const clientArgv = (args: string[]): string[] =>
  SPA_CLIENT.endsWith(".js") || SPA_CLIENT.startsWith(REPO)
    ? [process.execPath, SPA_CLIENT, ...args]
    : [SPA_CLIENT, ...args];

const home = mkdtempSync(join(tmpdir(), "spa-client-home-"));
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home };
const b64 = (n: number): string => randomBytes(n).toString("base64");

describe("bin/fwknop -> C fwknopd (iptables, UDP server)", () => {
  let rig: Rig;
  let server: CFwknopd;
  const key = b64(32);
  const hmacKey = b64(64);

  before(async () => {
    rig = await createRig();
    await rig.startService(1234);
    await rig.defaultDeny("iptables", 1234);
    server = new CFwknopd(rig, {
      access: [
        "SOURCE ANY",
        "OPEN_PORTS tcp/1234",
        "FW_ACCESS_TIMEOUT 3",
        `KEY_BASE64 ${key}`,
        `HMAC_KEY_BASE64 ${hmacKey}`,
        "",
      ].join("\n"),
    });
    await server.start();
  });
  after(async () => {
    await server.stop();
    await rig.teardown();
  });

  it("opens the closed port for the grant's lifetime, then it closes", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "port must be closed before SPA");
    const sent = await rig.run(
      rig.clientNs,
      clientArgv([
        "-A",
        "tcp/1234",
        "-a",
        CLIENT_IP,
        "-D",
        SERVER_IP,
        "-p",
        "62201",
        "--key-base64-rijndael",
        key,
        "--key-base64-hmac",
        hmacKey,
        "--use-hmac",
      ]),
      { env },
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.ok(
      await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000),
      `port did not open; fwknopd said:\n${server.logs().split("\n").slice(-12).join("\n")}`,
    );
    assert.match(
      server.logs(),
      /Added access rule to FWKNOP_INPUT for 198\.18\.0\.2 -> 0\.0\.0\.0\/0 tcp\/1234/,
    );
    // FW_ACCESS_TIMEOUT 3; C fwknopd's expiry check runs on its loop, so allow a few seconds more.
    const closed = await waitFor(
      async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)),
      8000,
      200,
    );
    assert.ok(closed, "port stayed open after the grant expired");
    assert.match(server.logs(), /Removed rule 1 from FWKNOP_INPUT/);
  });
});

describe("C fwknopd -t accepts bin/fwknop -T -B packets in every mode", () => {
  interface Case {
    name: string;
    mode: string;
    hmac: string | null;
    key: string;
    hmacKey: string;
  }
  const cases: Case[] = [];
  for (const mode of ["cbc", "ecb", "cfb", "ofb", "ctr"])
    for (const hmac of ["sha256", "sha512", null])
      cases.push({
        name: `${mode}-${hmac ?? "nohmac"}`,
        mode,
        hmac,
        key: b64(32),
        hmacKey: b64(64),
      });
  // Legacy: a passphrase of at most 16 chars, no HMAC (the C client refuses legacy + HMAC).
  cases.push({ name: "legacy-nohmac", mode: "legacy", hmac: null, key: "legacypw", hmacKey: "" });

  let rig: Rig;
  let server: CFwknopd;
  const pktDir = mkdtempSync(join(tmpdir(), "spa-pkts-"));

  before(async () => {
    rig = await createRig();
    const stanzas = cases.map((c) =>
      [
        "SOURCE ANY",
        `REQUIRE_USERNAME ${c.name}`,
        `ENCRYPTION_MODE ${c.mode.toUpperCase() === "LEGACY" ? "legacy" : c.mode.toUpperCase()}`,
        c.mode === "legacy" ? `KEY ${c.key}` : `KEY_BASE64 ${c.key}`,
        ...(c.hmac !== null ? [`HMAC_KEY_BASE64 ${c.hmacKey}`, `HMAC_DIGEST_TYPE ${c.hmac}`] : []),
        "",
      ].join("\n"),
    );
    server = new CFwknopd(rig, { access: stanzas.join("\n"), testMode: true });
    await server.start();
  });
  after(async () => {
    await server.stop();
    await rig.teardown();
    rmSync(pktDir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  cases.forEach((c, i) => {
    it(c.name, async () => {
      const file = join(pktDir, c.name);
      const args = ["-A", "tcp/22", "-a", CLIENT_IP, "-T", "-B", file, "-U", c.name, "-M", c.mode];
      args.push(
        ...(c.mode === "legacy" ? ["--key-rijndael", c.key] : ["--key-base64-rijndael", c.key]),
      );
      if (c.hmac !== null)
        args.push("--key-base64-hmac", c.hmacKey, "--use-hmac", "--hmac-digest-type", c.hmac);
      const made = await rig.run(rig.clientNs, clientArgv(args), { env });
      assert.equal(made.code, 0, made.stderr);
      await rig.sendUdp(SERVER_IP, 62201, readFileSync(file, "latin1").trimEnd());
      const accepted = new RegExp(
        `\\(stanza #${i + 1}\\) --test mode enabled, skipping firewall manipulation`,
      );
      assert.ok(
        await server.waitForLog(accepted, 5000),
        `C fwknopd did not accept the ${c.name} packet`,
      );
    });
  });
});
