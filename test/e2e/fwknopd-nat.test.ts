/**
 * NAT access through a gateway, for real: three namespaces (client -> server acting as gateway ->
 * inner host with the banner service on port 22), the gateway forwarding with a default-drop
 * FORWARD policy. The inner service's banner names the peer it saw, which tells DNAT alone
 * (peer = the client) from DNAT plus source NAT (peer = the gateway's inner address).
 * Covered: the C client's -N against our fwknopd (iptables and nftables), FORCE_NAT with
 * FORCE_SNAT / FORCE_MASQUERADE, --nat-local, expiry, hostile NAT host fields, and our client's
 * -N against the C fwknopd with SNAT, and the C client's -N through a real firewalld.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CFwknopd } from "./c-fwknopd.js";
import { startFirewalld } from "./firewalld.js";
import { keyArgs, knock } from "./knock.js";
import {
  CLIENT_IP,
  GATEWAY_INNER_IP,
  INNER_IP,
  SERVER_IP,
  createRig,
  waitFor,
  type Rig,
} from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");
const LOCAL_PORT = 1234;
const INNER_PORT = 22;
const PEER = "SSH-2.0-fwknop-ts-test peer=";

/** Forwarding closed by default on the gateway, as on any router that is not wide open. */
async function denyForwarding(rig: Rig, kind: "iptables" | "nftables"): Promise<void> {
  if (kind === "iptables") {
    await rig.must(rig.serverNs, ["iptables", "-P", "FORWARD", "DROP"]);
    await rig.must(rig.serverNs, [
      "iptables",
      "-A",
      "FORWARD",
      "-m",
      "conntrack",
      "--ctstate",
      "ESTABLISHED,RELATED",
      "-j",
      "ACCEPT",
    ]);
  } else {
    const r = await rig.run(rig.serverNs, ["nft", "-f", "-"], {
      input: [
        "add chain inet admin forward { type filter hook forward priority 0; policy drop; }",
        "add rule inet admin forward ct state established,related accept",
        "",
      ].join("\n"),
    });
    assert.equal(r.code, 0, r.stderr);
  }
}

/** A raw SPA packet from our codec, for field values no well-behaved client would send. */
function natPacket(key: string, hmacKey: string, natAccess: string): string {
  return freshSpaWire(
    {
      mode: "cbc",
      key: Buffer.from(key, "base64"),
      hmac: { type: "sha256", key: Buffer.from(hmacKey, "base64") },
    },
    { username: "root", messageType: 2, message: `${CLIENT_IP},tcp/2222`, natAccess },
  );
}

for (const fw of ["iptables", "nftables"] as const) {
  describe(`NAT on our fwknopd (${fw})`, () => {
    let rig: Rig;
    let d: TsFwknopd;
    const home = mkdtempSync(join(tmpdir(), "nat-home-"));
    const [kA, hA, kB, hB] = [b64(32), b64(64), b64(32), b64(64)];
    const banner = (port: number): Promise<string | null> => rig.tcpBanner(SERVER_IP, port);

    before(async () => {
      rig = await createRig({
        servicePort: LOCAL_PORT,
        deny: fw,
        inner: { servicePort: INNER_PORT },
      });
      await denyForwarding(rig, fw);
      const conf = [
        "ENABLE_UDP_SERVER Y;",
        `FIREWALL_TYPE ${fw};`,
        "ENABLE_IPT_FORWARDING Y;",
        "ENABLE_IPT_LOCAL_NAT Y;",
        "ENABLE_SPA_PACKET_AGING N;",
        ...(fw === "nftables"
          ? ["NFT_JUMP_CHAIN inet admin input;", "NFT_FORWARD_JUMP_CHAIN inet admin forward;"]
          : []),
      ].join("\n");
      d = new TsFwknopd(
        rig,
        conf,
        [
          "SOURCE ANY",
          `KEY_BASE64 ${kA}`,
          `HMAC_KEY_BASE64 ${hA}`,
          "FW_ACCESS_TIMEOUT 30",
          "",
          "SOURCE ANY",
          `KEY_BASE64 ${kB}`,
          `HMAC_KEY_BASE64 ${hB}`,
          `FORCE_NAT ${INNER_IP} ${INNER_PORT}`,
          fw === "iptables" ? `FORCE_SNAT ${GATEWAY_INNER_IP}` : "FORCE_MASQUERADE Y",
          "",
        ].join("\n"),
      );
      await d.start();
    });
    after(async () => {
      await d.stop();
      d.cleanup();
      await rig.teardown();
      rmSync(home, { recursive: true, force: true });
    });

    it("DNATs the C client's -N to the inner host, and closes it on time", async () => {
      assert.equal(await banner(2222), null, "port 2222 must be closed before the SPA");
      await knock(
        rig,
        "c",
        [
          ...["-A", "tcp/2222", "-N", `${INNER_IP}:${INNER_PORT}`, "-f", "3"],
          ...["-D", SERVER_IP, "-a", CLIENT_IP, ...keyArgs(kA, hA)],
        ],
        home,
      );
      assert.ok(
        await waitFor(async () => (await banner(2222)) === `${PEER}${CLIENT_IP}`, 3000),
        d.logs(),
      );
      // The connection can get through before the log line has come down the pipe.
      assert.ok(await d.waitForLog(/to tcp\/2222 \(DNAT to 198\.18\.1\.2:22\)/), d.logs());
      // Three seconds, then new connections are no longer translated.
      assert.ok(await waitFor(async () => (await banner(2222)) === null, 8000), d.logs());
      if (fw === "iptables")
        for (const [table, chain] of [
          ["nat", "FWKNOP_PREROUTING"],
          ["filter", "FWKNOP_FORWARD"],
        ] as const) {
          const rules = await rig.must(rig.serverNs, ["iptables", "-t", table, "-S", chain]);
          assert.doesNotMatch(rules, /_exp_/, `${chain} still holds a rule:\n${rules}`);
        }
    });

    it("FORCE_NAT with source NAT: the inner host sees the gateway", async () => {
      assert.equal(await banner(2224), null);
      await knock(
        rig,
        "ts",
        ["-A", "tcp/2224", "-D", SERVER_IP, "-a", CLIENT_IP, ...keyArgs(kB, hB)],
        home,
      );
      assert.ok(
        await waitFor(async () => (await banner(2224)) === `${PEER}${GATEWAY_INNER_IP}`, 3000),
        d.logs(),
      );
      // The connection can get through before the log line has come down the pipe.
      assert.ok(
        await d.waitForLog(fw === "iptables" ? /SNAT to 198\.18\.1\.1\)/ : /MASQUERADE\)/),
        d.logs(),
      );
    });

    it("--nat-local reaches a local service through the translated port", async () => {
      assert.equal(await banner(40022), null);
      await knock(
        rig,
        "c",
        [
          ...["-A", `tcp/${LOCAL_PORT}`, "--nat-local", "--nat-port", "40022"],
          ...["-D", SERVER_IP, "-a", CLIENT_IP, ...keyArgs(kA, hA)],
        ],
        home,
      );
      assert.ok(
        await waitFor(async () => (await banner(40022)) === `${PEER}${CLIENT_IP}`, 3000),
        d.logs(),
      );
      assert.ok(await d.waitForLog(/to tcp\/40022 \(local NAT to 198\.18\.0\.1:1234\)/), d.logs());
    });

    it("refuses hostile NAT host fields, which reach no firewall and no shell", async () => {
      const before = (d.logs().match(/Added access/g) ?? []).length;
      const hostile = ["a;id", "$(id)", "`id`", "a\nb", "x|y", "a&&b", "-j"];
      for (const host of hostile)
        await rig.sendUdp(SERVER_IP, 62201, natPacket(kA, hA, `${host},22`));
      assert.ok(
        await waitFor(
          () =>
            (d.logs().match(/Invalid Hostname in NAT SPA message/g) ?? []).length >= hostile.length,
          5000,
        ),
        d.logs(),
      );
      assert.equal((d.logs().match(/Added access/g) ?? []).length, before, d.logs());
    });
  });
}

describe("NAT on the C fwknopd, from our client", () => {
  let rig: Rig;
  let c: CFwknopd;
  const home = mkdtempSync(join(tmpdir(), "nat-home-"));
  const [k, h] = [b64(32), b64(64)];

  before(async () => {
    rig = await createRig({ inner: { servicePort: INNER_PORT } });
    await denyForwarding(rig, "iptables");
    c = new CFwknopd(rig, {
      conf: [
        "ENABLE_IPT_FORWARDING Y;",
        "ENABLE_IPT_SNAT Y;",
        `SNAT_TRANSLATE_IP ${GATEWAY_INNER_IP};`,
        "",
      ].join("\n"),
      access: ["SOURCE ANY", `KEY_BASE64 ${k}`, `HMAC_KEY_BASE64 ${h}`, ""].join("\n"),
    });
    await c.start();
  });
  after(async () => {
    await c.stop();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
  });

  it("our -N gets DNAT and SNAT to the inner host", async () => {
    assert.equal(await rig.tcpBanner(SERVER_IP, 2222), null);
    await knock(
      rig,
      "ts",
      [
        ...["-A", "tcp/2222", "-N", `${INNER_IP}:${INNER_PORT}`],
        ...["-D", SERVER_IP, "-a", CLIENT_IP, ...keyArgs(k, h)],
      ],
      home,
    );
    assert.ok(
      await waitFor(
        async () => (await rig.tcpBanner(SERVER_IP, 2222)) === `${PEER}${GATEWAY_INNER_IP}`,
        5000,
      ),
      c.logs(),
    );
  });
});

describe(
  "NAT on our fwknopd through a real firewalld (passthrough, as C)",
  {
    skip: !existsSync("/usr/sbin/firewalld") && "firewalld is not installed (.ci/run installs it)",
  },
  () => {
    it("the C client's -N is DNATed to the inner host through firewall-cmd", async () => {
      const rig = await createRig({ inner: { servicePort: INNER_PORT } });
      const home = mkdtempSync(join(tmpdir(), "nat-home-"));
      const fw = await startFirewalld(rig, "iptables").catch(async (e: unknown) => {
        await rig.teardown();
        throw e;
      });
      const [k, h] = [b64(32), b64(64)];
      const d = new TsFwknopd(
        rig,
        "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE firewalld;\nENABLE_FIREWD_FORWARDING Y;\n",
        ["SOURCE ANY", `KEY_BASE64 ${k}`, `HMAC_KEY_BASE64 ${h}`, ""].join("\n"),
        fw.wrap,
      );
      try {
        assert.equal((await fw.firewallCmd(["--add-port=62201/udp"])).code, 0);
        await d.start();
        assert.equal(await rig.tcpBanner(SERVER_IP, 2222), null);
        await knock(
          rig,
          "c",
          [
            ...["-A", "tcp/2222", "-N", `${INNER_IP}:${INNER_PORT}`],
            ...["-D", SERVER_IP, "-a", CLIENT_IP, ...keyArgs(k, h)],
          ],
          home,
        );
        assert.ok(
          await waitFor(
            async () => (await rig.tcpBanner(SERVER_IP, 2222)) === `${PEER}${CLIENT_IP}`,
            5000,
          ),
          d.logs(),
        );
      } finally {
        await d.stop();
        d.cleanup();
        await fw.stop();
        await rig.teardown();
        rmSync(home, { recursive: true, force: true });
      }
    });
  },
);
