/**
 * Destinations in nftables grants (ENABLE_DESTINATION_RULE, issue 17 item 3), driving the backend
 * directly in a namespace whose input and output default-drop (Debian-style), with ENABLE_IPT_OUTPUT
 * on too: a grant whose destination is the server's address A admits the client to A and lets the
 * replies from A out, and admits nothing to the server's second address B; a grant without a
 * destination admits both, as before. list() reads the destination back; revoke closes A again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runProgram } from "../../src/exec.js";
import { NftablesBackend } from "../../src/server/firewall/nftables.js";
import type { Grant } from "../../src/server/firewall/types.js";
import { nftOptions } from "../fixtures/nft-options.js";
import { nftOutputDropHost } from "./output-drop.js";
import { CLIENT_IP, SERVER_IP, createRig, type Rig } from "./rig.js";

const PORT = 1234;
const B = "198.18.0.3";

describe("nftables grants with a destination (backend driven directly)", () => {
  let rig: Rig;
  let fw: NftablesBackend;
  const now = (): number => Math.floor(Date.now() / 1000);
  const grant = (destination: string | null): Grant => ({
    stanza: 1,
    user: "t",
    address: CLIENT_IP,
    family: 4,
    proto: "tcp",
    port: PORT,
    expiresAt: now() + 60,
    destination,
  });

  before(async () => {
    rig = await createRig({ servicePort: PORT });
    await rig.must(rig.serverNs, ["ip", "addr", "add", `${B}/24`, "dev", "veth0"]);
    const r = await rig.run(rig.serverNs, ["nft", "-f", "-"], { input: nftOutputDropHost(null) });
    assert.equal(r.code, 0, r.stderr);
    fw = new NftablesBackend(
      nftOptions({
        nft: ["ip", "netns", "exec", rig.serverNs, "nft"],
        jumpChain: "inet filter input",
        destination: true,
        output: true,
        outputJumpChain: "inet filter output",
      }),
      runProgram,
    );
    await fw.init(false);
  });

  after(async () => {
    await fw.flush();
    await fw.close();
    await rig.teardown();
  });

  it("destination A: the client reaches A, not B; listed with its destination; revoked, A closes", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT), false, "A open before the grant");
    await fw.grant([grant(SERVER_IP)], now());
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT, 1500), true, "A not admitted");
    assert.equal(await rig.tcpConnect(B, PORT, 1500), false, "B admitted by A's grant");
    const listed = await fw.list(now());
    assert.deepEqual(
      listed.map((g) => [g.address, g.destination, g.proto, g.port]),
      [[CLIENT_IP, SERVER_IP, "tcp", PORT]],
    );
    assert.match(
      await fw.listText(false),
      /fwknopd_out4d \{[^}]*elements = \{ 198\.18\.0\.2 \. 198\.18\.0\.1 \. tcp \. 1234 /,
    );
    await fw.revoke([grant(SERVER_IP)]);
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT), false, "A open after revoke");
    assert.deepEqual(await fw.list(now()), []);
  });

  it("no destination: both addresses, as before", async () => {
    await fw.grant([grant(null)], now());
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT, 1500), true);
    assert.equal(await rig.tcpConnect(B, PORT, 1500), true);
    assert.deepEqual(
      (await fw.list(now())).map((g) => g.destination),
      [null],
    );
    await fw.revoke([grant(null)]);
    assert.equal(await rig.tcpConnect(B, PORT), false);
  });

  it("flush leaves nothing of ours in the admin's table", async () => {
    await fw.flush();
    const rs = await rig.must(rig.serverNs, ["nft", "list", "ruleset"]);
    assert.doesNotMatch(rs, /fwknopd/);
    assert.match(rs, /chain output \{/);
  });
});
