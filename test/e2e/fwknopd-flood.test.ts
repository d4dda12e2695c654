/**
 * NFT_SPA_RATE_LIMIT: a flood of SPA-shaped junk from one address is cut down in the kernel (our
 * nftables table meters the SPA port per source), so the daemon reads only a trickle of it and a
 * valid SPA from another address during the flood is honoured. The meter is set to 20/s here, so a
 * 1,000-datagram batch shows it; the default (50,000/s) sits at what the daemon reads, and
 * co-tenant.test.ts shows what that buys clients sharing a NAT address.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { SERVER_IP, createRig, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const SECOND_IP = "198.18.0.3";

function spa(key: Buffer, hmacKey: Buffer, allow: string): string {
  return freshSpaWire(
    { mode: "cbc", key, hmac: { type: "sha256", key: hmacKey } },
    { username: "root", message: `${allow},tcp/1234` },
  );
}

describe("fwknopd under a flood from one address (NFT_SPA_RATE_LIMIT)", () => {
  let rig: Rig;
  let d: TsFwknopd;
  const [key, hmacKey] = [randomBytes(32), randomBytes(64)];

  before(async () => {
    rig = await createRig({ servicePort: 1234, deny: "nftables" });
    await rig.must(rig.clientNs, ["ip", "addr", "add", `${SECOND_IP}/24`, "dev", "veth0"]);
    d = new TsFwknopd(
      rig,
      [
        "ENABLE_UDP_SERVER Y;",
        "FIREWALL_TYPE nftables;",
        "NFT_JUMP_CHAIN inet admin input;",
        "NFT_SPA_RATE_LIMIT 20;",
      ].join("\n"),
      [
        "SOURCE ANY",
        `KEY_BASE64 ${key.toString("base64")}`,
        `HMAC_KEY_BASE64 ${hmacKey.toString("base64")}`,
        "",
      ].join("\n"),
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("reads a trickle of the flood and still honours another address", async () => {
    // Right shape and charset, wrong HMAC key: each one costs the daemon an HMAC if it gets in.
    const junk = Array.from({ length: 50 }, () =>
      spa(randomBytes(32), randomBytes(64), rig.clientIp),
    );
    const sent = await rig.sendUdpMany(SERVER_IP, 62201, junk, 20);
    assert.equal(sent, 1000);
    await rig.sendUdp(SERVER_IP, 62201, spa(key, hmacKey, SECOND_IP), SECOND_IP);
    assert.ok(
      await d.waitForLog(
        new RegExp(
          `Added access for user 'root' \\(stanza #1\\) from ${SECOND_IP.replace(/\./g, "\\.")} `,
        ),
      ),
      d.logs(),
    );
    const read = (d.logs().match(/Non-corresponding HMAC/g) ?? []).length;
    // A burst of 40 plus 20 a second while the batch lasted; without the meter all 1,000 arrive.
    assert.ok(read > 0 && read < 100, `the daemon read ${read} of 1,000 junk datagrams`);
    const listed = await rig.must(rig.serverNs, [
      "nft",
      "list",
      "set",
      "inet",
      "admin",
      "fwknopd_spa_rate4",
    ]);
    assert.match(listed, /198\.18\.0\.2/);
  });
});
