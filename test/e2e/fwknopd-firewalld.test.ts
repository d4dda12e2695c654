/**
 * Our fwknopd driving a real firewalld (started privately inside the test's namespaces), with the
 * user's tutorial fwknopd.conf and access.conf as they are (interface, addresses and keys adapted),
 * knocked by the C client, on both of firewalld's backends:
 * - FirewallBackend=iptables: C fwknopd's direct passthrough (`firewall-cmd --direct
 *   --passthrough`), whose ACCEPT comes first in the table firewalld's own chains live in.
 * - FirewallBackend=nftables (Debian 12's default): there an ACCEPT passed through to iptables is
 *   not final (firewalld's own table still rejects the packet), so we grant with firewalld's
 *   runtime rich rules with a timeout, which firewalld ends by itself, also after a kill -9.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startFirewalld, type Firewalld, type FirewalldBackend } from "./firewalld.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { tutorialAccessConf, tutorialFwknopdConf } from "../fixtures/tutorial.js";
import { keyArgs, knock } from "./knock.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");

interface Opened {
  rig: Rig;
  fw: Firewalld;
  d: TsFwknopd;
  /** Knock again with the C client (its own random bytes: a new, valid packet). */
  knockAgain: (extra?: readonly string[]) => Promise<void>;
  /** When the knock's port was first seen open. */
  t0: number;
}

/** tcp/1234 closes about `secs` after `t0` (when it was first seen open): -3 s / +4 s. */
async function closesAbout(rig: Rig, t0: number, secs: number): Promise<void> {
  assert.ok(
    await waitFor(
      async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)),
      (secs + 6) * 1000,
      200,
    ),
    "still open after the timeout",
  );
  const held = (Date.now() - t0) / 1000;
  assert.ok(
    held > secs - 3 && held < secs + 4,
    `grant lasted ${held.toFixed(1)} s, expected about ${secs}`,
  );
}

/**
 * A rig with a real firewalld, our fwknopd driving it with these files, tcp/1234 closed, the C
 * client's knock, and the port open; then `body`; everything torn down afterwards.
 */
/** `fwknopd --fw-check` beside a running firewalld: firewalld chosen, grants would open. */
async function fwCheckSays(d: TsFwknopd, backend: FirewalldBackend): Promise<void> {
  const check = await d.command(["--fw-check"]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(
    check.stdout,
    new RegExp(
      `firewalld: running, backend ${backend}, default zone public[\\s\\S]*backend: firewalld \\(auto: firewalld is running[^\\n]*\\n  grants: would open`,
    ),
  );
}

async function withOpenedPort(
  backend: FirewalldBackend,
  conf: string,
  access: (key: string, hmacKey: string) => string,
  body: (o: Opened) => Promise<void>,
  /** Run on the firewalld before fwknopd starts (as an admin would have set it up). */
  setup: (fw: Firewalld) => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const rig = await createRig();
  const home = mkdtempSync(join(tmpdir(), "fwd-home-"));
  const fw = await startFirewalld(rig, backend).catch(async (e: unknown) => {
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
    await setup(fw);
    await d.start();
    const knockAgain = (extra: readonly string[] = []): Promise<void> =>
      knock(
        rig,
        "c",
        ["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey), ...extra],
        home,
      );
    await knockAgain();
    assert.ok(
      await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000, 50),
      `not opened:\n${d.logs()}`,
    );
    await body({ rig, fw, d, knockAgain, t0: Date.now() });
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
      withOpenedPort(
        "iptables",
        tutorialFwknopdConf(),
        tutorialAccessConf,
        async ({ rig, d, t0 }) => {
          assert.match(
            d.logs(),
            /Firewall backend: firewalld, passthrough over D-Bus \(firewalld backend iptables\) \(auto: firewalld is running \(backend iptables, default zone public\)\)/,
          );
          await fwCheckSays(d, "iptables");
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
          await closesAbout(rig, t0, 30);
        },
      ));

    it("through firewall-cmd (FIREWD_USE_DBUS N), kill -9 with a grant open: the next start removes the expired leftover", () =>
      withOpenedPort(
        "iptables",
        "ENABLE_UDP_SERVER Y;\nFIREWALL_EXE /usr/bin/firewall-cmd;\nFLUSH_FIREWD_AT_INIT N;\nFLUSH_FIREWD_AT_EXIT N;\nFIREWD_USE_DBUS N;\n",
        (key, hmacKey) =>
          `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 3\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
        async ({ rig, d }) => {
          assert.match(
            d.logs(),
            /Firewall backend: firewalld, passthrough through \/usr\/bin\/firewall-cmd \(not D-Bus: FIREWD_USE_DBUS is N\) \(firewalld backend, by nft, iptables\)/,
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

/** Our rule for the rig's client, as firewalld lists it (firewall/core/rich.py's own form). */
const RULE =
  'rule priority="-32201" family="ipv4" source address="198.18.0.2" port port="1234" protocol="tcp" accept';

const tutorialAccessWithTimeout =
  (secs: number) =>
  (key: string, hmacKey: string): string =>
    tutorialAccessConf(key, hmacKey).replace(
      /^FW_ACCESS_TIMEOUT\s+30$/m,
      `FW_ACCESS_TIMEOUT ${secs}`,
    );

describe(
  "C client -> our fwknopd -> real firewalld on its nftables backend (rich rules)",
  {
    skip: !existsSync("/usr/sbin/firewalld") && "firewalld is not installed (.ci/run installs it)",
  },
  () => {
    it("the tutorial's files as they are: a rich rule over D-Bus, NAT refused, closed after FW_ACCESS_TIMEOUT", () =>
      withOpenedPort(
        "nftables",
        tutorialFwknopdConf(),
        tutorialAccessConf,
        async ({ rig, fw, d, knockAgain, t0 }) => {
          assert.match(
            d.logs(),
            /Firewall backend: firewalld, rich rules in zone public .*over D-Bus \(firewalld backend nftables\) \(auto: firewalld is running \(backend nftables, default zone public\)\)/,
          );
          await fwCheckSays(d, "nftables");
          assert.match(
            d.logs(),
            /NAT requests cannot be honoured: .*ENABLE_FIREWD_FORWARDING.*will be refused/,
          );
          assert.ok(
            await d.waitForLog(
              /Added access for user 'root' \(stanza #1\) from 198\.18\.0\.2 to tcp\/1234 via firewalld/,
            ),
            d.logs(),
          );
          const list = await d.command(["--fw-list"]);
          assert.ok(list.stdout.includes(`zone public: ${RULE}`), list.stdout + list.stderr);
          const zone = await fw.firewallCmd(["--zone=public", "--list-rich-rules"]);
          assert.equal(zone.stdout.trim(), RULE);
          await knockAgain(["-N", "198.18.1.2:22"]);
          assert.ok(
            await d.waitForLog(
              /requested NAT access, but is not enabled\/supported \(firewalld runs its nftables backend/,
            ),
            d.logs(),
          );
          await closesAbout(rig, t0, 30);
          assert.equal(
            (await fw.firewallCmd(["--zone=public", "--list-rich-rules"])).stdout.trim(),
            "",
          );
        },
      ));

    it("kill -9 with a grant open: firewalld closes it on time anyway", () =>
      withOpenedPort(
        "nftables",
        tutorialFwknopdConf(),
        tutorialAccessWithTimeout(5),
        async ({ rig, d, t0 }) => {
          await d.stop("SIGKILL");
          assert.equal(await rig.tcpConnect(SERVER_IP, 1234), true, "closed by the kill itself");
          await closesAbout(rig, t0, 5);
        },
      ));

    it("through firewall-cmd (FIREWD_USE_DBUS N): a fresh knock replaces the rule; FLUSH_FIREWD_AT_EXIT removes it", () =>
      withOpenedPort(
        "nftables",
        tutorialFwknopdConf("/usr/bin/firewall-cmd", "FIREWD_USE_DBUS N;\n"),
        tutorialAccessConf,
        async ({ rig, fw, d, knockAgain }) => {
          assert.match(
            d.logs(),
            /rich rules in zone public .*through \/usr\/bin\/firewall-cmd \(not D-Bus: FIREWD_USE_DBUS is N\) \(firewalld backend, by nft, nftables\)/,
          );
          await knockAgain();
          assert.ok(
            await d.waitForLog(/Added access[^\n]*\n(.*\n)*.*Added access/),
            `no second grant:\n${d.logs()}`,
          );
          assert.equal(await rig.tcpConnect(SERVER_IP, 1234), true);
          const rules = await fw.firewallCmd(["--zone=public", "--list-rich-rules"]);
          assert.equal(rules.stdout.trim(), RULE);
          await d.stop();
          assert.match(d.logs(), /Flushed firewall rules at exit/);
          assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "open after exit");
          assert.equal(
            (await fw.firewallCmd(["--zone=public", "--list-rich-rules"])).stdout.trim(),
            "",
          );
        },
      ));

    it("the server's interface in another zone than the default: the rule goes in that zone", () =>
      withOpenedPort(
        "nftables",
        tutorialFwknopdConf(),
        tutorialAccessWithTimeout(5),
        async ({ rig, fw, d, t0 }) => {
          assert.match(d.logs(), /rich rules in zone public \(the default;/);
          assert.equal(
            (await fw.firewallCmd(["--zone=work", "--list-rich-rules"])).stdout.trim(),
            RULE,
          );
          assert.equal(
            (await fw.firewallCmd(["--zone=public", "--list-rich-rules"])).stdout.trim(),
            "",
          );
          await closesAbout(rig, t0, 5);
        },
        async (fw) => {
          const r = await fw.firewallCmd(["--zone=work", "--change-interface=veth0"]);
          assert.equal(r.code, 0, r.stderr);
          // The zone of the interface, not the default zone, now judges the client's packets.
          assert.equal((await fw.firewallCmd(["--zone=work", "--add-port=62201/udp"])).code, 0);
        },
      ));

    it("a FORCE_NAT stanza stops the start, naming its line", async () => {
      const rig = await createRig();
      const fw = await startFirewalld(rig, "nftables").catch(async (e: unknown) => {
        await rig.teardown();
        throw e;
      });
      const d = new TsFwknopd(
        rig,
        tutorialFwknopdConf(),
        `${tutorialAccessConf(b64(32), b64(64))}FORCE_NAT 198.18.1.2 22\n`,
        fw.wrap,
      );
      try {
        await assert.rejects(
          d.start(),
          /access\.conf:3: stanza for SOURCE 'ANY': FORCE_NAT cannot be honoured/,
        );
      } finally {
        await d.stop();
        d.cleanup();
        await fw.stop();
        await rig.teardown();
      }
    });
  },
);
