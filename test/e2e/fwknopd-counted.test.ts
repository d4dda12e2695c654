/**
 * MAX_CONNECTIONS (ours, issue 14): a grant that admits one (one-shot) or N new connections,
 * counted by nftables in the kernel, on a Debian-shaped default-drop host (our rules at the top
 * of its input chain) and in our own table with NFT_PROTECT_PORTS. A new knock gives a new count;
 * the iptables backend refuses such a stanza at start, naming its line.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { keyArgs, knock } from "./knock.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");
const once = { key: b64(32), hmac: b64(64) };
const three = { key: b64(32), hmac: b64(64) };
const access = [
  `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 20\nMAX_CONNECTIONS 1\nKEY_BASE64 ${once.key}\nHMAC_KEY_BASE64 ${once.hmac}\n`,
  `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 20\nMAX_CONNECTIONS 3\nKEY_BASE64 ${three.key}\nHMAC_KEY_BASE64 ${three.hmac}\n`,
].join("\n");

/** How many of `tries` connection attempts, one after the other, reach the service. */
async function connections(rig: Rig, tries: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < tries; i++) if (await rig.tcpConnect(SERVER_IP, 1234)) n++;
  return n;
}

const PLACEMENTS = [
  {
    name: "default-drop host (rules at the top of its input chain)",
    deny: "debian-nftables",
    // FIREWALL_TYPE auto finds the chain that drops and puts our rules at its top.
    conf: "",
  },
  {
    name: "own table with NFT_PROTECT_PORTS",
    deny: "none",
    conf: "FIREWALL_TYPE nftables;\nNFT_PROTECT_PORTS Y;\n",
  },
] as const;

for (const p of PLACEMENTS)
  describe(`MAX_CONNECTIONS on nftables: ${p.name}`, () => {
    let rig: Rig;
    let d: TsFwknopd;
    const home = mkdtempSync(join(tmpdir(), "counted-home-"));
    const knockWith = (k: { key: string; hmac: string }): Promise<void> =>
      knock(
        rig,
        "ts",
        ["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(k.key, k.hmac)],
        home,
      );
    before(async () => {
      rig = await createRig({ servicePort: 1234, deny: p.deny });
      d = new TsFwknopd(rig, `ENABLE_UDP_SERVER Y;\n${p.conf}`, access);
      await d.start();
    });
    after(async () => {
      await d.stop();
      d.cleanup();
      await rig.teardown();
      rmSync(home, { recursive: true, force: true });
    });

    it("one-shot: the first connection consumes the grant, a second knock gives one more", async () => {
      assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "open before the knock");
      await knockWith(once);
      assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234), 3000), d.logs());
      assert.equal(await connections(rig, 3), 0, "a consumed one-shot grant let more in");
      await knockWith(once);
      assert.ok(await d.waitForLog(/Added access[^\n]*\n[^]*Added access/), d.logs());
      assert.equal(await connections(rig, 3), 1);
      // Attribution: each admitted connection is logged with its grant, within a second.
      const admitted = (): string[] =>
        d
          .logs()
          .match(
            /Connection tcp 198\.18\.0\.2:\d+ -> 198\.18\.0\.1:1234 admitted by grant #\d+ for user 'root' \(stanza #1, SPA from 198\.18\.0\.2\)/g,
          ) ?? [];
      assert.ok(await waitFor(() => admitted().length === 2, 1000), d.logs());
    });

    it("MAX_CONNECTIONS 3 admits exactly three new connections, and a new knock three more", async () => {
      await knockWith(three);
      assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234), 3000), d.logs());
      assert.equal(await connections(rig, 5), 2, "three in all, the first one included");
      await knockWith(three);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await connections(rig, 5), 3);
      await new Promise((r) => setTimeout(r, 500));
      const st = await d.command(["--status"]);
      assert.equal(st.code, 0, st.stderr);
      assert.match(
        st.stdout,
        /#\d+ +root .*tcp\/1234 +stanza #2 .*, 3 connection\(s\) at most\n +3 connection\(s\) admitted, latest from 198\.18\.0\.2:\d+, 198\.18\.0\.2:\d+, 198\.18\.0\.2:\d+/,
      );
    });
  });

describe("MAX_CONNECTIONS on the iptables backend", () => {
  let rig: Rig;
  before(async () => {
    rig = await createRig();
  });
  after(async () => {
    await rig.teardown();
  });

  it("stops the start, naming the stanza's line and what to do", async () => {
    const d = new TsFwknopd(rig, "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE iptables;\n", access);
    try {
      const r = await rig.run(rig.serverNs, d.argv(["-f"]));
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /access\.conf:1: MAX_CONNECTIONS 1: counted grants need the nftables backend, and fwknopd uses iptables here/,
      );
    } finally {
      d.cleanup();
    }
  });
});
