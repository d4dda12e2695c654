/**
 * REQUIRE_CONNECT_TOKEN (ours, issue 14): a grant's new connections go to fwknopd's token gate;
 * only one that opens with the packet's token (spa/connect-token.ts) reaches the service, once.
 * A copy of a spent token, a wrong one, or none at all gets a closed connection and no byte of
 * the service; each refusal is logged. On a Debian-shaped default-drop host.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { connectToken } from "../../src/spa/index.js";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CLIENT_IP, SERVER_IP, createRig, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const key = randomBytes(32);
const hmacKey = randomBytes(64);
const keys = { mode: "cbc", key, hmac: { type: "sha256", key: hmacKey } } as const;

/**
 * From the client namespace: connect to the service port, send `first` (hex) and wait for the
 * service's banner; what came back (empty when the gate closed the connection).
 */
async function tryConnect(rig: Rig, first: string): Promise<string> {
  const script = `
    const s = require("net").connect(1234, ${JSON.stringify(SERVER_IP)});
    let got = "";
    s.on("connect", () => { if (${JSON.stringify(first)} !== "") s.write(Buffer.from(${JSON.stringify(first)}, "hex")); });
    s.on("data", (d) => { got += d; if (got.includes("\\n")) s.end(); });
    s.on("error", () => undefined);
    s.on("close", () => { process.stdout.write(got); process.exit(0); });
    setTimeout(() => s.destroy(), 5000);`;
  const r = await rig.run(rig.clientNs, [process.execPath, "-e", script]);
  return r.stdout.trim();
}

describe("REQUIRE_CONNECT_TOKEN: the token gate", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig({ servicePort: 1234, deny: "debian-nftables" });
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\n",
      `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 30\nREQUIRE_CONNECT_TOKEN Y\nKEY_BASE64 ${key.toString("base64")}\nHMAC_KEY_BASE64 ${hmacKey.toString("base64")}\n`,
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("the packet's token gets in once; its copy, a wrong token and no token get nothing", async () => {
    const wire = freshSpaWire(keys, { messageType: 1, message: `${CLIENT_IP},tcp/1234` });
    const token = connectToken(hmacKey, wire, 1234).toString("hex");
    assert.equal(await tryConnect(rig, token), "", "in before the knock");
    await rig.sendUdp(SERVER_IP, 62201, wire);
    assert.ok(await d.waitForLog(/Added access/), d.logs());

    assert.equal(await tryConnect(rig, ""), "", "no token, yet the service answered");
    const other = freshSpaWire(keys, { messageType: 1, message: `${CLIENT_IP},tcp/1234` });
    const wrong = connectToken(hmacKey, other, 1234).toString("hex");
    assert.equal(await tryConnect(rig, wrong), "", "the token of a packet never sent got in");
    assert.equal(await tryConnect(rig, "00".repeat(38)), "");

    assert.match(await tryConnect(rig, token), /^SSH-2\.0-fwknop-ts-test peer=198\.18\.0\.1$/);
    assert.equal(await tryConnect(rig, token), "", "a spent token got in again");

    const logs = d.logs();
    assert.match(
      logs,
      /admitted by grant #1 for user '\S+' \(stanza #1, SPA from 198\.18\.0\.2\) with its connect token/,
    );
    assert.match(
      logs,
      /to the token gate closed: it ended before sending a connect token|closed: no connect token within/,
    );
    assert.match(logs, /to the token gate closed: it did not start with a connect token/);
    assert.equal((logs.match(/closed: unknown or spent connect token/g) ?? []).length, 2, logs);
  });
});
