/**
 * Our fwknopd driving a real firewalld (started privately inside the test's namespaces) through
 * `firewall-cmd --direct --passthrough`, with the user's tutorial fwknopd.conf and access.conf as
 * they are (interface, addresses and keys adapted), knocked by the C client.
 * firewalld runs with FirewallBackend=iptables: with its nftables backend (Debian 12's default) an
 * ACCEPT passed through to iptables is not final, firewalld's own table still rejects the packet,
 * so direct rules (C fwknopd's or ours) open nothing. See README, "firewalld".
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startFirewalld } from "./firewalld.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { tutorialAccessConf, tutorialFwknopdConf } from "../fixtures/tutorial.js";
import { keyArgs, knock } from "./knock.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");

interface Opened {
  rig: Rig;
  d: TsFwknopd;
  /** When the knock's port was first seen open. */
  t0: number;
}

/**
 * A rig with a real firewalld, our fwknopd driving it with these files, tcp/1234 closed, the C
 * client's knock, and the port open; then `body`; everything torn down afterwards.
 */
async function withOpenedPort(
  conf: string,
  access: (key: string, hmacKey: string) => string,
  body: (o: Opened) => Promise<void>,
): Promise<void> {
  const rig = await createRig();
  const home = mkdtempSync(join(tmpdir(), "fwd-home-"));
  const fw = await startFirewalld(rig, "iptables").catch(async (e: unknown) => {
    await rig.teardown();
    throw e;
  });
  const key = b64(32);
  const hmacKey = b64(64);
  const d = new TsFwknopd(rig, conf, access(key, hmacKey), fw.wrap);
  try {
    await rig.startService(1234);
    // firewalld's default zone leaves tcp/1234 closed.
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "closed before SPA");
    // C fwknopd sniffs with pcap, which sees packets before the firewall; a UDP server only gets
    // what the firewall lets in, so the SPA port is opened in the zone, as an admin would.
    assert.equal((await fw.firewallCmd(["--add-port=62201/udp"])).code, 0);
    await d.start();
    await knock(
      rig,
      "c",
      ["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey)],
      home,
    );
    assert.ok(
      await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000, 50),
      `not opened:\n${d.logs()}`,
    );
    await body({ rig, d, t0: Date.now() });
  } finally {
    await d.stop();
    d.cleanup();
    await fw.stop();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
  }
}

describe(
  "C client -> our fwknopd -> real firewalld (tutorial configuration)",
  {
    skip: !existsSync("/usr/sbin/firewalld") && "firewalld is not installed (.ci/run installs it)",
  },
  () => {
    it("opens tcp/1234 through firewalld's D-Bus API and closes it after FW_ACCESS_TIMEOUT", () =>
      withOpenedPort(tutorialFwknopdConf(), tutorialAccessConf, async ({ rig, d, t0 }) => {
        assert.match(d.logs(), /Firewall backend: firewalld, passthrough over D-Bus/);
        assert.ok(
          await d.waitForLog(
            /Added access for user 'root' \(stanza #1\) from 198\.18\.0\.2 to tcp\/1234 via firewalld/,
          ),
          d.logs(),
        );
        const list = await d.command(["--fw-list"]);
        assert.match(
          list.stdout,
          /198\.18\.0\.2\s+0\.0\.0\.0\/0\s+tcp dpt:1234 \/\* _exp_\d+ \*\//,
        );
        assert.ok(
          await waitFor(async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)), 36_000, 500),
          "still open after the timeout",
        );
        const held = (Date.now() - t0) / 1000;
        assert.ok(held > 27 && held < 34, `grant lasted ${held.toFixed(1)} s, expected about 30`);
      }));

    it("through firewall-cmd (FIREWD_USE_DBUS N), kill -9 with a grant open: the next start removes the expired leftover", () =>
      withOpenedPort(
        "ENABLE_UDP_SERVER Y;\nFIREWALL_EXE /usr/bin/firewall-cmd;\nFLUSH_FIREWD_AT_INIT N;\nFLUSH_FIREWD_AT_EXIT N;\nFIREWD_USE_DBUS N;\n",
        (key, hmacKey) =>
          `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 3\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
        async ({ rig, d }) => {
          assert.match(
            d.logs(),
            /Firewall backend: firewalld, passthrough through \/usr\/bin\/firewall-cmd \(not D-Bus: FIREWD_USE_DBUS is N\)/,
          );
          await d.stop("SIGKILL");
          await new Promise((res) => setTimeout(res, 4500));
          assert.equal(
            await rig.tcpConnect(SERVER_IP, 1234),
            true,
            "the leftover rule should still be there",
          );
          await d.start();
          assert.match(d.logs(), /Reconciled firewall: 0 live grant\(s\) kept, 1 expired removed/);
          assert.equal(
            await rig.tcpConnect(SERVER_IP, 1234),
            false,
            "leftover not cleaned at start",
          );
        },
      ));
  },
);
