/**
 * An SPA client against the real C fwknopd (Debian 2.6.10) in the namespace rig: its packet opens
 * a port that was closed (and it closes again), and C fwknopd accepts its packets in every mode.
 * The client is SPA_CLIENT (default: this repository's bin/fwknop); SPA_CLIENT=/usr/bin/fwknop runs
 * the same tests with the C client, to check the tests themselves. Only flags both clients share
 * are used.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CFwknopd } from "./c-fwknopd.js";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";

const SPA_CLIENT = process.env.SPA_CLIENT || join(REPO, "bin", "fwknop");
/** Our client is a node script; run it with this node so PATH does not matter. */
const clientArgv = (args: readonly string[]): string[] =>
  SPA_CLIENT.endsWith(".js") || SPA_CLIENT.startsWith(REPO)
    ? [process.execPath, SPA_CLIENT, ...args]
    : [SPA_CLIENT, ...args];
const b64 = (n: number): string => randomBytes(n).toString("base64");
const SPA_PORT = 62201;

/** Run the client in the client namespace with a private HOME (no ~/.fwknoprc, no history). */
async function runClient(rig: Rig, home: string, args: readonly string[]): Promise<void> {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home };
  const r = await rig.run(rig.clientNs, clientArgv(args), { env, timeoutMs: 15_000 });
  assert.equal(r.code, 0, `${SPA_CLIENT} exited ${r.code}:\n${r.stderr}${r.stdout}`);
}

const tail = (s: string, n = 15): string => s.split("\n").slice(-n).join("\n");

describe("a packet from SPA_CLIENT opens the port on real C fwknopd (iptables)", () => {
  let rig: Rig;
  let server: CFwknopd;
  const key = b64(32);
  const hmacKey = b64(64);

  before(async () => {
    rig = await createRig({ servicePort: 1234, deny: "iptables" });
    server = new CFwknopd(rig, {
      access: [
        "SOURCE ANY",
        "OPEN_PORTS tcp/1234",
        `KEY_BASE64 ${key}`,
        `HMAC_KEY_BASE64 ${hmacKey}`,
        "FW_ACCESS_TIMEOUT 3",
        "",
      ].join("\n"),
    });
    await server.start();
  });
  after(async () => {
    await server.stop();
    await rig.teardown();
  });

  it("closed before, open after the SPA, closed again after FW_ACCESS_TIMEOUT", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "port must be closed before SPA");
    const at = server.mark();
    await runClient(rig, rig.tempDir("spa-home-"), [
      "-A",
      "tcp/1234",
      "-a",
      CLIENT_IP,
      "-D",
      SERVER_IP,
      "-p",
      String(SPA_PORT),
      "--key-base64-rijndael",
      key,
      "--key-base64-hmac",
      hmacKey,
      "--use-hmac",
    ]);
    assert.ok(
      await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000, 20),
      `port did not open; fwknopd said:\n${tail(server.logs())}`,
    );
    // C prints the line after `iptables -A` returns, so the port may open a moment before it.
    assert.ok(
      await server.waitForLog(
        /Added access rule to FWKNOP_INPUT for 198\.18\.0\.2 -> 0\.0\.0\.0\/0 tcp\/1234, expires at \d+/,
        3000,
        at,
      ),
      tail(server.logs()),
    );
    // FW_ACCESS_TIMEOUT 3; C's expiry check runs on its loop, so allow timeout + 5 s.
    assert.ok(
      await waitFor(async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)), 8000, 100),
      `port stayed open after the grant expired:\n${tail(server.logs())}`,
    );
    assert.ok(
      await server.waitForLog(/Removed rule 1 from FWKNOP_INPUT with expire time of \d+/, 3000, at),
      tail(server.logs()),
    );
  });
});

describe("C fwknopd accepts packets from SPA_CLIENT in every mode", () => {
  interface Case {
    name: string;
    mode: string;
    hmac: string | null;
    key: string;
    hmacKey: string;
  }
  // Each case has its own keys and user name, so only its own stanza can accept its packet.
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
  // Legacy: C truncates the server key to 16 bytes and the client pads short passphrases with
  // '0', so use a passphrase of at most 16 chars; no HMAC (the C client refuses legacy + HMAC).
  cases.push({
    name: "legacy-nohmac",
    mode: "legacy",
    hmac: null,
    key: randomBytes(6).toString("hex"),
    hmacKey: "",
  });

  let rig: Rig;
  let server: CFwknopd;
  let home: string;

  before(async () => {
    rig = await createRig();
    home = rig.tempDir("spa-home-");
    const stanzas = cases.map((c) =>
      [
        "SOURCE ANY",
        "OPEN_PORTS tcp/1234",
        `REQUIRE_USERNAME ${c.name}`,
        `ENCRYPTION_MODE ${c.mode === "legacy" ? "legacy" : c.mode.toUpperCase()}`,
        c.mode === "legacy" ? `KEY ${c.key}` : `KEY_BASE64 ${c.key}`,
        ...(c.hmac !== null ? [`HMAC_KEY_BASE64 ${c.hmacKey}`, `HMAC_DIGEST_TYPE ${c.hmac}`] : []),
        "",
      ].join("\n"),
    );
    server = new CFwknopd(rig, {
      access: stanzas.join("\n"),
      conf: "ENABLE_SPA_PACKET_AGING Y;\nMAX_SPA_PACKET_AGE 120;",
      testMode: true,
    });
    await server.start();
  });
  after(async () => {
    await server.stop();
    await rig.teardown();
  });

  cases.forEach((c, i) => {
    it(`${c.name} (its stanza: ${i + 1})`, async () => {
      const file = join(home, `${c.name}.spa`);
      const args = ["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, "-U", c.name];
      args.push("-M", c.mode, "-T", "-B", file);
      args.push(
        ...(c.mode === "legacy" ? ["--key-rijndael", c.key] : ["--key-base64-rijndael", c.key]),
      );
      if (c.hmac !== null)
        args.push("--key-base64-hmac", c.hmacKey, "--use-hmac", "--hmac-digest-type", c.hmac);
      await runClient(rig, home, args);
      const wire = readFileSync(file, "latin1").trim();
      assert.match(wire, /^[A-Za-z0-9+/]{100,}$/, `${file} holds no SPA packet`);

      const at = server.mark();
      await rig.sendUdp(SERVER_IP, SPA_PORT, wire);
      const accepted = new RegExp(
        `\\[198\\.18\\.0\\.2\\] \\(stanza #${i + 1}\\) --test mode enabled, skipping firewall manipulation`,
      );
      assert.ok(
        await server.waitForLog(accepted, 5000, at),
        `C fwknopd did not accept the ${c.name} packet in stanza #${i + 1}:\n${tail(server.logs().slice(at), 25)}`,
      );
    });
  });

  it("no packet was accepted by a stanza other than its own", () => {
    const hits = [...server.logs().matchAll(/\(stanza #(\d+)\) --test mode enabled/g)].map((m) =>
      Number(m[1]),
    );
    assert.deepEqual(
      hits,
      cases.map((_, i) => i + 1),
    );
  });
});
