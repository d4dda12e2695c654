/**
 * ENABLE_DESTINATION_RULE (issue 17): the server has two addresses; a grant admits the client to
 * the address its SPA packet was sent to and not to the other one. The UDP server learns that
 * address per datagram (IP_PKTINFO through recvmmsg), which also makes access.conf's DESTINATION
 * work in UDP mode: a stanza for one address refuses a packet sent to the other. The control run,
 * with the variable off, shows the same knock opening both addresses, so the rule is what holds.
 * On default-drop hosts: ufw-like (iptables backend) and Debian's nftables.conf (nftables).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { freshSpaWire } from "../fixtures/pipeline.js";
import type { HostShape } from "./host-shapes.js";
import { CLIENT_IP, SERVER_IP, createRig, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

/** The server's other address, on the same link as the client. */
const OTHER_IP = "198.18.0.11";
const PORT = 1234;

const keyOf = (): { key: Buffer; hmacKey: Buffer } => ({
  key: randomBytes(32),
  hmacKey: randomBytes(64),
});
const any = keyOf();
const onlyMain = keyOf();
const keysOf = (k: { key: Buffer; hmacKey: Buffer }) =>
  ({ mode: "cbc", key: k.key, hmac: { type: "sha256", key: k.hmacKey } }) as const;

const stanza = (k: { key: Buffer; hmacKey: Buffer }, extra = ""): string =>
  `SOURCE ANY\n${extra}OPEN_PORTS tcp/${PORT}\nFW_ACCESS_TIMEOUT 60\n` +
  `KEY_BASE64 ${k.key.toString("base64")}\nHMAC_KEY_BASE64 ${k.hmacKey.toString("base64")}\n\n`;

/** Stanza 1 only for packets sent to SERVER_IP; stanza 2 for any destination. */
const ACCESS = stanza(onlyMain, `DESTINATION ${SERVER_IP}\n`) + stanza(any);

const knock = (k: { key: Buffer; hmacKey: Buffer }): string =>
  freshSpaWire(keysOf(k), { messageType: 1, message: `${CLIENT_IP},tcp/${PORT}` });

interface Row {
  host: HostShape;
  conf: string;
}

const ROWS: Row[] = [
  {
    host: "ufw-like",
    conf: "ENABLE_UDP_SERVER Y;\nFLUSH_IPT_AT_INIT Y;\nFLUSH_IPT_AT_EXIT Y;",
  },
  { host: "debian-nftables", conf: "ENABLE_UDP_SERVER Y;" },
];

for (const row of ROWS)
  describe(`ENABLE_DESTINATION_RULE on a ${row.host} host`, () => {
    let rig: Rig;
    let d: TsFwknopd | null = null;
    before(async () => {
      rig = await createRig({ servicePort: PORT, deny: row.host });
      await rig.must(rig.serverNs, ["ip", "addr", "add", `${OTHER_IP}/24`, "dev", "veth0"]);
    });
    after(async () => {
      await d?.stop();
      d?.cleanup();
      await rig.teardown();
    });

    const open = async (): Promise<[boolean, boolean]> => [
      await rig.tcpConnect(SERVER_IP, PORT),
      await rig.tcpConnect(OTHER_IP, PORT),
    ];

    it("a grant admits only the address the packet was sent to; DESTINATION works over UDP", async () => {
      d = new TsFwknopd(rig, `${row.conf}\nENABLE_DESTINATION_RULE Y;`, ACCESS);
      await d.start();
      assert.deepEqual(await open(), [false, false], "open before any knock");

      // Stanza 1 is for SERVER_IP only: sent to the other address, its packet is not tried
      // there; stanza 2 (any destination) has other keys.
      await rig.sendUdp(OTHER_IP, 62201, knock(onlyMain));
      assert.ok(await d.waitForLog(/\(stanza #2\) Non-corresponding HMAC/), d.logs());
      assert.doesNotMatch(d.logs(), /stanza #1/);
      assert.deepEqual(
        await open(),
        [false, false],
        "a packet to the other address opened something",
      );

      // Stanza 2 takes any destination; the grant is for the one this packet went to.
      await rig.sendUdp(OTHER_IP, 62201, knock(any));
      assert.ok(await d.waitForLog(/Added access/), d.logs());
      assert.deepEqual(await open(), [false, true], "the grant reaches beyond its destination");
      assert.match(d.logs(), /Added access .* to tcp\/1234 on 198\.18\.0\.11 via /);

      await rig.sendUdp(SERVER_IP, 62201, knock(onlyMain));
      assert.ok(await d.waitForLog(/Added access[\s\S]*Added access/), d.logs());
      assert.deepEqual(await open(), [true, true]);
      await d.stop();
      d.cleanup();
      d = null;
    });

    it("control: with the variable off, a knock to one address opens both", async () => {
      d = new TsFwknopd(rig, row.conf, ACCESS);
      await d.start();
      assert.deepEqual(await open(), [false, false], "grants left from the run before");
      await rig.sendUdp(OTHER_IP, 62201, knock(any));
      assert.ok(await d.waitForLog(/Added access/), d.logs());
      assert.deepEqual(await open(), [true, true]);
    });
  });
