/**
 * Our fwknopd and packets stamped long ago (issue 15): upstream's "Android 4.1.2" legacy-IV packet
 * of 2012, granted with aging off as C grants it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

/** From upstream's test/tests/rijndael_backwards_compatibility.pl ("Android compatibility", v4.1.2). */
const ANDROID_412 =
  "+59hIQhS1RlmqYLXNM/hPxtBAQTB5y3UKZq13O+r6qmg+APdQ+HQOI7d4QCsp14s8KJpW8qBzZ/n0aZCFCFdZnvdZeJJVb" +
  "oQu4joQFKZ8mmKwR/5DIO7k3qrXYGxYP0bnHYsih0HIE6CzSHlBGSfDJR92YhjYtL4Q";

describe("upstream's Android 4.1.2 packet, ENCRYPTION_MODE legacy, aging off", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig({ servicePort: 22, deny: "nftables" });
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nENABLE_SPA_PACKET_AGING N;\nFIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet admin input;\n",
      // upstream's test/conf/android_legacy_iv_access.conf
      "SOURCE ANY\nKEY asdfasdf\nFW_ACCESS_TIMEOUT 3\nENCRYPTION_MODE legacy\n",
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("opens tcp/22 for the client timeout the packet carries, and refuses it again as a replay", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, 22), false, "tcp/22 open before the packet");
    await rig.sendUdp(SERVER_IP, 62201, ANDROID_412);
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 22, 200), 3000, 20), d.logs());
    assert.match(d.logs(), /NO_USER/);
    await rig.sendUdp(SERVER_IP, 62201, ANDROID_412);
    assert.ok(await d.waitForLog(/Replay detected from source IP: 198\.18\.0\.2/), d.logs());
  });
});
