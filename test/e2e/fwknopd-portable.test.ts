/**
 * The daemon where koffi does not load (an optional dependency: a platform without its prebuilt
 * binary, an install without optional packages): it says so at start and takes the portable
 * paths, Node's dgram for the UDP server and an `nft -i` process for set elements, and a knock
 * still opens the port, on nftables, for its lifetime only.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor } from "./rig.js";
import { keyArgs, knock } from "./knock.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const home = mkdtempSync(join(tmpdir(), "fwknopd-portable-home-"));
after(() => {
  rmSync(home, { recursive: true, force: true });
});

describe("our fwknopd without koffi", () => {
  it("falls back to dgram and nft -i, says why, and still grants on time", async () => {
    const rig = await createRig();
    const key = randomBytes(32).toString("base64");
    const hmacKey = randomBytes(64).toString("base64");
    const hide = join(REPO, "test", "fixtures", "without-koffi.cjs");
    const d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE nftables;\nNFT_PROTECT_PORTS Y;\n",
      `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 3\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
      ([node = "", ...rest]) => [
        "ip",
        "netns",
        "exec",
        rig.serverNs,
        node,
        "--require",
        hide,
        ...rest,
      ],
    );
    try {
      await rig.startService(1234);
      await d.start();
      assert.match(d.logs(), /UDP: no batched receive, using dgram: koffi is not available/);
      assert.match(
        d.logs(),
        /Firewall backend: nftables, set elements through a long-lived `nft -i` process \(not libnftables: koffi is not available/,
      );
      assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "open before the knock");
      await knock(
        rig,
        "ts",
        ["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey)],
        home,
      );
      assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 3000, 20), d.logs());
      assert.ok(
        await waitFor(async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)), 6000, 200),
        "grant did not expire",
      );
    } finally {
      await d.stop();
      d.cleanup();
      await rig.teardown();
    }
  });
});
