/**
 * Our fwknopd end to end, in the namespace rig, with real firewalls and real clients:
 * - the C client against each backend, with the user's tutorial configuration files;
 * - our client: grant, replay (also after a restart), aging, and each policy refusal;
 * - kill -9 with grants open;
 * - malformed configuration: a file:line error and no firewall touched.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  CLIENT_IP,
  CLIENT_IP6,
  REPO,
  SERVER_IP,
  SERVER_IP6,
  createRig,
  waitFor,
  type Rig,
} from "./rig.js";
import { tutorialAccessConf, tutorialFwknopdConf } from "../fixtures/tutorial.js";
import { knock } from "./knock.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const home = mkdtempSync(join(tmpdir(), "fwknopd-e2e-home-"));
const b64 = (n: number): string => randomBytes(n).toString("base64");
after(() => {
  rmSync(home, { recursive: true, force: true });
});

describe(
  "C client -> our fwknopd, tutorial configuration, each backend",
  { concurrency: true },
  () => {
    const backends = [
      {
        name: "nftables (host ruleset default-drops; NFT_JUMP_CHAIN)",
        exe: "/usr/sbin/nft",
        deny: "nftables" as const,
        extra: "NFT_JUMP_CHAIN inet admin input;",
        backendLine: /Firewall backend: nftables, set elements through libnftables, in-process/,
      },
      {
        name: "nftables through an nft -i process (NFT_USE_LIBNFTABLES N)",
        exe: "/usr/sbin/nft",
        deny: "nftables" as const,
        extra: "NFT_JUMP_CHAIN inet admin input;\nNFT_USE_LIBNFTABLES N;",
        backendLine:
          /Firewall backend: nftables, set elements through a long-lived `nft -i` process \(not libnftables: NFT_USE_LIBNFTABLES is N\)/,
      },
      {
        name: "iptables",
        exe: "/usr/sbin/iptables",
        deny: "iptables" as const,
        extra: "",
        backendLine: /Firewall backend: iptables/,
      },
    ];
    for (const b of backends) {
      it(b.name, async () => {
        const rig = await createRig();
        const key = b64(32);
        const hmacKey = b64(64);
        const d = new TsFwknopd(
          rig,
          tutorialFwknopdConf(b.exe, b.extra),
          tutorialAccessConf(key, hmacKey),
        );
        try {
          await rig.startService(1234);
          await rig.defaultDeny(b.deny, 1234);
          await d.start();
          assert.ok(await d.waitForLog(b.backendLine), d.logs());
          assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "closed before SPA");
          await knock(
            rig,
            "c",
            [
              "-A",
              "tcp/1234",
              "-a",
              CLIENT_IP,
              "-D",
              SERVER_IP,
              "--key-base64-rijndael",
              key,
              "--key-base64-hmac",
              hmacKey,
              "--use-hmac",
            ],
            home,
          );
          const t0 = Date.now();
          assert.ok(
            await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 3000, 20),
            `not opened:\n${d.logs()}`,
          );
          assert.ok(
            await d.waitForLog(
              /Added access for user 'root' \(stanza #1\) from 198\.18\.0\.2 to tcp\/1234/,
            ),
            d.logs(),
          );
          // FW_ACCESS_TIMEOUT 30 from the tutorial: open until then, closed soon after.
          assert.ok(
            await waitFor(async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)), 36_000, 500),
            "still open after the timeout",
          );
          const held = (Date.now() - t0) / 1000;
          assert.ok(held > 27 && held < 34, `grant lasted ${held.toFixed(1)} s, expected about 30`);
        } finally {
          await d.stop();
          d.cleanup();
          await rig.teardown();
        }
      });
    }
  },
);

describe("our client -> our fwknopd (nftables, own table protecting the port)", () => {
  let rig: Rig;
  let d: TsFwknopd;
  const key = b64(32);
  const hmacKey = b64(64);
  const key6 = b64(32);
  const hmacKey6 = b64(64);
  const pkt = join(home, "saved-packet");
  const base = [
    "--key-base64-rijndael",
    key,
    "--key-base64-hmac",
    hmacKey,
    "--use-hmac",
    "-D",
    SERVER_IP,
  ];
  const refused = async (args: string[], log: RegExp, from?: string): Promise<void> => {
    const before = d.logs().length;
    if (from === undefined) {
      await knock(rig, "ts", args, home);
    } else {
      await knock(rig, "ts", [...args, "-T", "-B", pkt], home);
      await rig.sendUdp(SERVER_IP, 62201, readFileSync(pkt, "latin1").trimEnd(), from);
    }
    assert.ok(
      await waitFor(() => log.test(d.logs().slice(before)), 3000),
      `expected ${String(log)} in:\n${d.logs().slice(before)}`,
    );
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "a refused packet opened the port");
  };

  before(async () => {
    rig = await createRig();
    await rig.startService(1234);
    await rig.run(rig.clientNs, ["ip", "addr", "add", "198.18.0.3/24", "dev", "veth0"]);
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nMAX_SPA_PACKET_AGE 60;\nNFT_PROTECT_PORTS Y;\nFIREWALL_TYPE nftables;\n",
      [
        "SOURCE 198.18.0.2",
        "OPEN_PORTS tcp/1234",
        "REQUIRE_USERNAME alice",
        "REQUIRE_SOURCE_ADDRESS Y",
        "FW_ACCESS_TIMEOUT 3",
        `KEY_BASE64 ${key}`,
        `HMAC_KEY_BASE64 ${hmacKey}`,
        "",
        "SOURCE fd00:5fa::/64",
        "OPEN_PORTS tcp/1234",
        "FW_ACCESS_TIMEOUT 3",
        `KEY_BASE64 ${key6}`,
        `HMAC_KEY_BASE64 ${hmacKey6}`,
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

  it("opens the port for the grant's lifetime; the same packet again is a replay", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false);
    await knock(
      rig,
      "ts",
      ["-A", "tcp/1234", "-a", CLIENT_IP, "-U", "alice", ...base, "-T", "-B", pkt],
      home,
    );
    const wire = readFileSync(pkt, "latin1").trimEnd();
    await rig.sendUdp(SERVER_IP, 62201, wire);
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 3000, 20), d.logs());
    const status = await d.command(["--status"]);
    assert.match(status.stdout, /Detected fwknopd is running/);
    assert.match(status.stdout, /alice\s+198\.18\.0\.2\s+tcp\/1234/);
    const list = await d.command(["--fw-list"]);
    assert.match(list.stdout, /198\.18\.0\.2 \. tcp \. 1234/);
    await rig.sendUdp(SERVER_IP, 62201, wire);
    assert.ok(await d.waitForLog(/Replay detected from source IP: 198\.18\.0\.2/));
    assert.ok(
      await waitFor(async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)), 6000, 200),
      "grant did not expire",
    );
    // The replay cache is on disk, in C's line format and the packet's time (cache-file.ts).
    assert.match(
      readFileSync(join(d.run, "digest.cache"), "latin1"),
      /^\S{43} 17 198\.18\.0\.2 \d+ 0\.0\.0\.0 62201 \d+ \d+$/m,
    );
  });

  it("refuses the replay after a restart too", async () => {
    await d.stop();
    await d.start();
    await rig.sendUdp(SERVER_IP, 62201, readFileSync(pkt, "latin1").trimEnd());
    assert.ok(await d.waitForLog(/Replay detected from source IP: 198\.18\.0\.2/), d.logs());
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false);
  });

  it("refuses a packet older than MAX_SPA_PACKET_AGE", () =>
    refused(
      ["-A", "tcp/1234", "-a", CLIENT_IP, "-U", "alice", "--time-offset-minus", "5m", ...base],
      /SPA data time difference is too great \(30\d seconds\)/,
    ));

  it("refuses the wrong user", () =>
    refused(
      ["-A", "tcp/1234", "-a", CLIENT_IP, "-U", "bob", ...base],
      /Username in SPA data \(bob\) does not match required username: alice/,
    ));

  it("refuses the wrong port", () =>
    refused(
      ["-A", "tcp/2222", "-a", CLIENT_IP, "-U", "alice", ...base],
      /One or more requested protocol\/ports was denied per access\.conf/,
    ));

  it("refuses 0.0.0.0 (-s) where REQUIRE_SOURCE_ADDRESS is set", () =>
    refused(
      ["-A", "tcp/1234", "-s", "-U", "alice", ...base],
      /Got 0\.0\.0\.0 when valid source IP was required/,
    ));

  it("refuses a source address outside SOURCE", () =>
    refused(
      ["-A", "tcp/1234", "-a", CLIENT_IP, "-U", "alice", ...base],
      /No access data found for source IP: 198\.18\.0\.3/,
      "198.18.0.3",
    ));

  it("refuses a wrong HMAC key, naming the source (for fail2ban)", () =>
    refused(
      [
        "-A",
        "tcp/1234",
        "-a",
        CLIENT_IP,
        "-U",
        "alice",
        "-D",
        SERVER_IP,
        "--key-base64-rijndael",
        key,
        "--key-base64-hmac",
        b64(64),
        "--use-hmac",
      ],
      /\[198\.18\.0\.2\] \(stanza #1\) Non-corresponding HMAC for this stanza/,
    ));

  it("grants an IPv6 client (-s over IPv6)", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP6, 1234), false);
    await knock(
      rig,
      "ts",
      [
        "-A",
        "tcp/1234",
        "-s",
        "-D",
        SERVER_IP6,
        "--key-base64-rijndael",
        key6,
        "--key-base64-hmac",
        hmacKey6,
        "--use-hmac",
      ],
      home,
    );
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP6, 1234, 200), 3000, 20), d.logs());
    assert.ok(
      await d.waitForLog(new RegExp(`from ${CLIENT_IP6} to tcp/1234 via nftables`)),
      d.logs(),
    );
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "the IPv6 grant must not open IPv4");
  });
});

describe("kill -9 with grants open", { concurrency: true }, () => {
  for (const fw of ["nftables", "iptables"] as const) {
    it(`${fw}: ${fw === "nftables" ? "the kernel still closes the grant on time" : "the next start removes the expired leftover"}`, async () => {
      const rig = await createRig();
      const key = b64(32);
      const hmacKey = b64(64);
      const d = new TsFwknopd(
        rig,
        `ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE ${fw};\nFLUSH_IPT_AT_INIT N;\nFLUSH_IPT_AT_EXIT N;\n${fw === "nftables" ? "NFT_JUMP_CHAIN inet admin input;" : ""}\n`,
        `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 3\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
      );
      try {
        await rig.startService(1234);
        await rig.defaultDeny(fw, 1234);
        await d.start();
        await knock(
          rig,
          "ts",
          [
            "-A",
            "tcp/1234",
            "-a",
            CLIENT_IP,
            "-D",
            SERVER_IP,
            "--key-base64-rijndael",
            key,
            "--key-base64-hmac",
            hmacKey,
          ],
          home,
        );
        assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 3000, 20), d.logs());
        await d.stop("SIGKILL");
        assert.equal(
          await rig.tcpConnect(SERVER_IP, 1234),
          true,
          "grant survives the daemon's death until its time",
        );
        await new Promise((res) => setTimeout(res, 4500));
        if (fw === "nftables") {
          assert.equal(
            await rig.tcpConnect(SERVER_IP, 1234),
            false,
            "kernel-timed grant did not close",
          );
        } else {
          assert.equal(
            await rig.tcpConnect(SERVER_IP, 1234),
            true,
            "iptables leftover should still be there before the restart",
          );
          await d.start();
          assert.match(d.logs(), /Reconciled firewall: 0 live grant\(s\) kept, 1 expired removed/);
          assert.equal(
            await rig.tcpConnect(SERVER_IP, 1234),
            false,
            "leftover not cleaned at start",
          );
        }
      } finally {
        await d.stop();
        d.cleanup();
        await rig.teardown();
      }
    });
  }
});

describe("malformed configuration: file:line error, exit 1, no firewall touched", () => {
  let rig: Rig;
  const dir = mkdtempSync(join(tmpdir(), "fwknopd-badconf-"));
  const key = b64(32);
  const hmacKey = b64(64);
  const goodConf = "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE iptables;\n";
  const stanza = (extra: string): string =>
    `SOURCE ANY\nOPEN_PORTS tcp/1234\n${extra}KEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`;
  before(async () => {
    rig = await createRig();
  });
  after(async () => {
    await rig.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: Array<[string, string, string, RegExp]> = [
    [
      "non-numeric age",
      "ENABLE_UDP_SERVER Y;\nMAX_SPA_PACKET_AGE abc;\n",
      stanza(""),
      /fwknopd\.conf:2: MAX_SPA_PACKET_AGE 'abc': expected a whole number/,
    ],
    [
      "port out of range",
      "UDPSERV_PORT 70000;\n",
      stanza(""),
      /fwknopd\.conf:1: UDPSERV_PORT '70000': out of range \[1-65535\]/,
    ],
    [
      "bad boolean",
      "ENABLE_UDP_SERVER maybe;\n",
      stanza(""),
      /fwknopd\.conf:1: ENABLE_UDP_SERVER 'maybe': expected Y or N/,
    ],
    [
      "bad chain spec",
      "IPT_INPUT_ACCESS ACCEPT, filter, INPUT;\n",
      stanza(""),
      /fwknopd\.conf:1: IPT_INPUT_ACCESS 'ACCEPT, filter, INPUT': expected 'target, table/,
    ],
    [
      "unknown firewall type",
      "FIREWALL_TYPE pf;\n",
      stanza(""),
      /fwknopd\.conf:1: FIREWALL_TYPE 'pf': expected auto, nftables, iptables or firewalld/,
    ],
    [
      "bad SOURCE address",
      goodConf,
      "SOURCE 300.1.1.1\nKEY_BASE64 x\n",
      /access\.conf:1: SOURCE '300\.1\.1\.1': '300\.1\.1\.1' is not ANY, an address, or a network/,
    ],
    [
      "bad SOURCE prefix",
      goodConf,
      "SOURCE 10.0.0.0/33\n",
      /access\.conf:1: SOURCE '10\.0\.0\.0\/33': '10\.0\.0\.0\/33': invalid prefix length or netmask/,
    ],
    [
      "port 0",
      goodConf,
      stanza("").replace("tcp/1234", "tcp/0"),
      /access\.conf:2: OPEN_PORTS 'tcp\/0': 'tcp\/0' is not tcp\/PORT or udp\/PORT/,
    ],
    [
      "icmp port spec",
      goodConf,
      stanza("").replace("tcp/1234", "icmp/8"),
      /access\.conf:2: OPEN_PORTS 'icmp\/8'/,
    ],
    [
      "bad HMAC digest",
      goodConf,
      stanza("HMAC_DIGEST_TYPE sha2\n"),
      /access\.conf:3: HMAC_DIGEST_TYPE 'sha2': expected md5, sha1/,
    ],
    [
      "bad mode",
      goodConf,
      stanza("ENCRYPTION_MODE pcbc\n"),
      /access\.conf:3: ENCRYPTION_MODE 'pcbc': expected CBC/,
    ],
    [
      "key not base64",
      goodConf,
      "SOURCE ANY\nKEY_BASE64 !!notbase64!!\n",
      /access\.conf:2: KEY_BASE64 '<hidden>': not valid base64/,
    ],
    [
      "key placeholder",
      goodConf,
      "SOURCE ANY\nKEY_BASE64 __CHANGEME__\n",
      /access\.conf:2: KEY_BASE64 '<hidden>': replace __CHANGEME__/,
    ],
    [
      "same key twice",
      goodConf,
      `SOURCE ANY\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${key}\n`,
      /access\.conf:1: stanza for SOURCE 'ANY': the HMAC key must differ from the encryption key/,
    ],
    [
      "no key",
      goodConf,
      "SOURCE ANY\nOPEN_PORTS tcp/22\n",
      /access\.conf:1: stanza for SOURCE 'ANY': no KEY or KEY_BASE64/,
    ],
    [
      "bad expiry date",
      goodConf,
      stanza("ACCESS_EXPIRE 13/45/2020\n"),
      /access\.conf:3: ACCESS_EXPIRE '13\/45\/2020': no such date/,
    ],
  ];
  for (const [name, conf, access, expected] of cases) {
    it(name, async () => {
      const c = join(dir, "fwknopd.conf");
      const a = join(dir, "access.conf");
      writeFileSync(c, `${conf}FWKNOP_RUN_DIR ${join(dir, "run")};\n`, { mode: 0o600 });
      writeFileSync(a, access, { mode: 0o600 });
      const r = await rig.run(rig.serverNs, [
        process.execPath,
        join(REPO, "bin", "fwknopd"),
        "-f",
        "-c",
        c,
        "-a",
        a,
      ]);
      assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stderr, new RegExp(key.replace(/[+/=]/g, "\\$&")), "a key was printed");
      const ipt = await rig.run(rig.serverNs, ["iptables", "-S"]);
      assert.doesNotMatch(ipt.stdout, /FWKNOP/, "iptables was touched");
      const nft = await rig.run(rig.serverNs, ["nft", "list", "ruleset"]);
      assert.doesNotMatch(nft.stdout, /fwknopd|FWKNOP/, "nftables was touched");
    });
  }
});
