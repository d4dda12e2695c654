/**
 * Cutting what grants let in (ours, issue 14): REVOKE_CONNECTIONS_ON_EXPIRY ends a grant's
 * established connections when the grant ends, for a plain grant (conntrack + ss -K) and through
 * the token gate; without it they outlive the grant as in fwknop; `--fw-flush
 * --revoke-connections` cuts them at once. Connections are held from the client namespace by
 * the rig's agent, which says whether a line still comes back.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { connectToken } from "../../src/spa/index.js";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const PORT = 1234;
const stanzaKeys = () => ({ key: randomBytes(32), hmac: randomBytes(64) });
const plain = stanzaKeys();
const revoking = stanzaKeys();
const gated = stanzaKeys();
const stanza = (k: { key: Buffer; hmac: Buffer }, extra: string): string =>
  `SOURCE ANY\nOPEN_PORTS tcp/${PORT}\nFW_ACCESS_TIMEOUT 2\n${extra}KEY_BASE64 ${k.key.toString("base64")}\nHMAC_KEY_BASE64 ${k.hmac.toString("base64")}\n`;
const wireFor = (k: { key: Buffer; hmac: Buffer }): string =>
  freshSpaWire(
    { mode: "cbc", key: k.key, hmac: { type: "sha256", key: k.hmac } },
    { messageType: 1, message: `${CLIENT_IP},tcp/${PORT}` },
  );

describe("revoking the connections grants let in", () => {
  let rig: Rig;
  let d: TsFwknopd;
  const client = (req: Record<string, unknown>, ms = 5000) => rig.ask(rig.clientNs, req, ms);
  /** Hold a connection `name` to the service (retrying up to 2 s), with `first` (hex) sent first. */
  const hold = async (name: string, first = ""): Promise<boolean> =>
    (
      await client(
        {
          op: "hold",
          name,
          host: SERVER_IP,
          port: PORT,
          retryMs: 2000,
          ...(first !== "" ? { first } : {}),
        },
        15_000,
      )
    ).ok;
  const alive = async (name: string): Promise<boolean> =>
    (await client({ op: "echo", name, timeoutMs: 1000 })).ok;

  before(async () => {
    rig = await createRig({ protectedPort: PORT, deny: "debian-nftables" });
    await rig.ask(rig.serverNs, { op: "listen", port: PORT, echo: true });
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\n",
      [
        stanza(plain, ""),
        stanza(revoking, "REVOKE_CONNECTIONS_ON_EXPIRY Y\n"),
        stanza(gated, "REQUIRE_CONNECT_TOKEN Y\nREVOKE_CONNECTIONS_ON_EXPIRY Y\n"),
      ].join("\n"),
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("without it, a connection outlives its grant (fwknop's behaviour)", async () => {
    await rig.sendUdp(SERVER_IP, 62201, wireFor(plain));
    assert.ok(await hold("kept"), d.logs());
    assert.ok(
      await d.waitForLog(/Removed expired access for 198\.18\.0\.2 tcp\/1234 \(stanza #1/, 5000),
      d.logs(),
    );
    assert.equal(await alive("kept"), true);
  });

  it("REVOKE_CONNECTIONS_ON_EXPIRY Y cuts a plain grant's connection when the grant ends", async () => {
    await rig.sendUdp(SERVER_IP, 62201, wireFor(revoking));
    assert.ok(await hold("cut"), d.logs());
    assert.equal(await alive("cut"), true, "dead before the grant ended");
    assert.ok(
      await d.waitForLog(
        /Revoked [1-9]\d* connection\(s\) of grant #\d+ \(198\.18\.0\.2 tcp\/1234\) at its end/,
        5000,
      ),
      d.logs(),
    );
    assert.equal(await alive("cut"), false, "alive after its grant was revoked");
    // The connection of the grant without it was left alone (the first test's).
    assert.equal(await alive("kept"), true);
  });

  it("through the token gate, the spliced connection is closed when its grant ends", async () => {
    const wire = wireFor(gated);
    await rig.sendUdp(SERVER_IP, 62201, wire);
    assert.ok(await d.waitForLog(/stanza #3\) from 198\.18\.0\.2 to tcp\/1234/), d.logs());
    const token = connectToken(gated.hmac, wire, PORT).toString("hex");
    assert.ok(await hold("gated", token), d.logs());
    assert.equal(await alive("gated"), true);
    assert.ok(
      await d.waitForLog(
        /Revoked 1 connection\(s\) of grant #\d+ \(198\.18\.0\.2 tcp\/1234\) at its end/,
        5000,
      ),
      d.logs(),
    );
    assert.ok(
      await waitFor(async () => !(await alive("gated")), 2000),
      "alive after its grant ended",
    );
  });

  it("--fw-flush --revoke-connections cuts what grants let in at once", async () => {
    await rig.sendUdp(SERVER_IP, 62201, wireFor(plain));
    assert.ok(await hold("flushed"), d.logs());
    const r = await d.command(["--fw-flush", "--revoke-connections"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Cut [1-9]\d* connection\(s\) the grants had let in\./);
    assert.equal(await alive("flushed"), false);
  });
});
