/**
 * NFQUEUE capture (ENABLE_NFQ_CAPTURE): on a Debian-style default-drop host whose ruleset does
 * NOT accept the SPA port, the kernel queues SPA datagrams to fwknopd, which drops them; nothing
 * listens on the port. A counter at the top of the admin's input chain shows whether a datagram
 * got past our verdict (it must not); the queue rule's own counter shows it was queued.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { keyArgs, knock } from "./knock.js";
import { TsFwknopd } from "./ts-fwknopd.js";
import { startFirewalld } from "./firewalld.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");
const home = mkdtempSync(join(tmpdir(), "nfq-home-"));
after(() => {
  rmSync(home, { recursive: true, force: true });
});

const NFQ_PORT = 62201;
const QUEUE = 7;
const SERVICE = 1234;

/** Packets counted by the rule that says `queue num QUEUE` (nft or iptables-nft), or null. */
async function queueCount(
  rig: Rig,
  run: (argv: string[]) => Promise<{ stdout: string }> = (a) => rig.run(rig.serverNs, a),
): Promise<number | null> {
  const r = await run(["nft", "list", "ruleset"]);
  const line = r.stdout.split("\n").find((l) => l.includes(`queue num ${QUEUE}`));
  const m = /counter packets (\d+)/.exec(line ?? "");
  return m === null ? null : Number(m[1]);
}

/** Datagrams to NFQ_PORT that reached the admin's input chain (past our verdict). */
async function leaked(rig: Rig): Promise<number> {
  const r = await rig.must(rig.serverNs, ["nft", "list", "ruleset"]);
  const line = r
    .split("\n")
    .find((l) => l.includes(`udp dport ${NFQ_PORT} counter`) && !/queue/.test(l));
  const m = /counter packets (\d+)/.exec(line ?? "");
  assert.ok(m !== null, r);
  return Number(m[1]);
}

/**
 * A default-drop host (Debian's nftables.conf, or ufw's iptables-nft chains) that does NOT
 * accept NFQ_PORT (its SPA port is elsewhere), so only the queue reads it, with a counter at the
 * top of its input chain for datagrams to NFQ_PORT that get that far.
 */
async function nfqHost(shape: "debian-nftables" | "ufw-like" = "debian-nftables"): Promise<Rig> {
  const rig = await createRig({ servicePort: SERVICE, deny: shape, spaPort: 62299 });
  const port = String(NFQ_PORT);
  await rig.must(
    rig.serverNs,
    shape === "debian-nftables"
      ? ["nft", "insert", "rule", "inet", "filter", "input", "udp", "dport", port, "counter"]
      : ["iptables", "-I", "INPUT", "1", "-p", "udp", "-m", "udp", "--dport", port],
  );
  return rig;
}

function conf(extra: string): string {
  return `ENABLE_NFQ_CAPTURE Y;\nNFQ_QUEUE_NUMBER ${QUEUE};\nNFQ_PORT ${NFQ_PORT};\n${extra}`;
}

const access = (key: string, hmacKey: string): string =>
  `SOURCE ANY\nOPEN_PORTS tcp/${SERVICE}\nFW_ACCESS_TIMEOUT 30\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`;

/** The status lines (Uid, CapEff) of the daemon's descendant whose command line has `name`. */
function descendantStatus(
  root: number,
  name: string,
): { pid: number; uid: string; capEff: string } | null {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid), n = 0; p !== undefined && n < 64; p = parent.get(p), n++)
      if (p === root) return true;
    return false;
  };
  for (const pid of parent.keys()) {
    if (!under(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(name)) continue;
      const st = readFileSync(`/proc/${pid}/status`, "utf8");
      const f = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, "m").exec(st)?.[1] ?? "";
      return { pid, uid: f("Uid"), capEff: f("CapEff") };
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** `iptables -t mangle -S` while the last daemon ran. */
let lastRules = "";

/** The whole story on one host: knock, grant, dropped, junk, rule gone at exit. */
async function grantsThroughTheQueue(
  rig: Rig,
  fwConf: string,
  ruleGone: () => Promise<boolean>,
  reader: { uid0: boolean; netAdminOnly: boolean } | null = null,
): Promise<void> {
  const key = b64(32);
  const hmacKey = b64(64);
  const d = new TsFwknopd(rig, conf(fwConf), access(key, hmacKey));
  try {
    await d.start();
    assert.match(d.logs(), new RegExp(`Listening: NFQUEUE capture on queue ${QUEUE}`));
    assert.match(d.logs(), /Installed NFQUEUE rule/);
    if (reader !== null) {
      const st = descendantStatus(d.pid ?? -1, "nfq-reader-main");
      assert.ok(st !== null, "no NFQUEUE reader process under the daemon");
      assert.equal(st.uid.split(/\s+/).includes("0"), reader.uid0, `reader Uid ${st.uid}`);
      // CAP_NET_ADMIN is bit 12; under privsep it is the only one left.
      if (reader.netAdminOnly) assert.equal(st.capEff, "0000000000001000", "reader's CapEff");
      else assert.ok((BigInt(`0x${st.capEff}`) & (1n << 12n)) !== 0n, `CapEff ${st.capEff}`);
      const parser = descendantStatus(d.pid ?? -1, "parser-main");
      if (!reader.uid0) assert.equal(parser?.capEff, "0000000000000000", "the parser's");
    }
    lastRules = (await rig.run(rig.serverNs, ["iptables", "-t", "mangle", "-S"])).stdout;
    const socks = await rig.run(rig.serverNs, ["ss", "-Hlun"]);
    assert.doesNotMatch(socks.stdout, new RegExp(`:${NFQ_PORT}\\b`), "nothing may listen");
    assert.equal(await rig.tcpConnect(SERVER_IP, SERVICE), false, "open before the knock");
    assert.equal(await queueCount(rig), 0);
    await knock(
      rig,
      "ts",
      ["-A", `tcp/${SERVICE}`, "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey)],
      home,
    );
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, SERVICE, 200), 8000, 50), d.logs());
    assert.equal(await queueCount(rig), 1, "the SPA datagram was queued");
    assert.equal(await leaked(rig), 0, "the SPA datagram got past the DROP verdict");

    // Junk, SPA-sized and not: queued, dropped, no grant.
    const junk = [...Array<number>(20)].map((_, i) => randomBytes(i % 2 === 0 ? 200 : 40));
    for (const j of junk) await rig.sendUdp(SERVER_IP, NFQ_PORT, j);
    assert.ok(await waitFor(async () => (await queueCount(rig)) === 21, 5000, 50));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await leaked(rig), 0, "junk got past the DROP verdict");
    assert.equal(d.logs().match(/Added access for/g)?.length, 1, d.logs());
    if (reader !== null) {
      // The reader dies (we started it, through the daemon): said, and a new one started (under
      // privsep by a new parser, which the broker starts), which reads the next knock.
      const st = descendantStatus(d.pid ?? -1, "nfq-reader-main");
      assert.ok(st !== null);
      process.kill(st.pid, "SIGKILL");
      const again = reader.uid0
        ? /starting it again in 1 s/
        : /the packet parser ends so that both start again[\s\S]*ended: exit status 75/;
      assert.ok(await d.waitForLog(again), d.logs());
      const fresh = async (): Promise<boolean> => {
        const n = descendantStatus(d.pid ?? -1, "nfq-reader-main");
        return n !== null && n.pid !== st.pid && (await queueCount(rig)) !== null;
      };
      assert.ok(await waitFor(fresh, 15_000, 100), d.logs());
      // The new reader may still be binding the queue (the kernel drops meanwhile): knock until
      // one gets through, each a new packet.
      const twice = (): boolean => (d.logs().match(/Added access for/g)?.length ?? 0) >= 2;
      for (let i = 0; i < 4 && !twice(); i++) {
        await knock(
          rig,
          "ts",
          ["-A", `tcp/${SERVICE}`, "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey)],
          home,
        );
        await waitFor(twice, 3000, 50);
      }
      assert.ok(twice(), d.logs());
      assert.equal(await leaked(rig), 0);
    }
  } finally {
    await d.stop();
    d.cleanup();
  }
  assert.ok(await ruleGone(), "the queue rule is still there after fwknopd stopped");
}

const nftRuleGone = (rig: Rig) => async (): Promise<boolean> =>
  (await queueCount(rig)) === null &&
  !(await rig.must(rig.serverNs, ["nft", "list", "ruleset"])).includes("FWKNOP_NFQ");

describe("fwknopd with NFQUEUE capture", () => {
  const nftCases = [
    // Privilege separation: the reader is the parser's user with CAP_NET_ADMIN (bit 12) alone.
    ["privilege separation", "", { uid0: false, netAdminOnly: true }],
    ["PRIVSEP N (one process)", "PRIVSEP N;\n", { uid0: true, netAdminOnly: false }],
  ] as const;
  for (const [name, privsep, reader] of nftCases)
    it(`nftables, ${name}: the queue grants, drops, and goes at exit`, async () => {
      const rig = await nfqHost();
      try {
        await grantsThroughTheQueue(
          rig,
          `${privsep}FIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet filter input;\n`,
          nftRuleGone(rig),
          reader,
        );
      } finally {
        await rig.teardown();
      }
    });

  it("iptables (ufw-like host): C's chain in mangle, jump at INPUT 1, removed at exit", async () => {
    const rig = await nfqHost("ufw-like");
    try {
      const mangle = (): Promise<string> =>
        rig.must(rig.serverNs, ["iptables", "-t", "mangle", "-S"]);
      await grantsThroughTheQueue(rig, "FIREWALL_TYPE iptables;\n", async () => {
        assert.doesNotMatch(await mangle(), /FWKNOP_NFQ/);
        return (await queueCount(rig)) === null;
      });
      assert.match(lastRules, /^-A INPUT -j FWKNOP_NFQ$/m);
      assert.match(
        lastRules,
        new RegExp(
          `^-A FWKNOP_NFQ -p udp -m udp --dport ${NFQ_PORT} -j NFQUEUE --queue-num ${QUEUE}$`,
          "m",
        ),
      );
    } finally {
      await rig.teardown();
    }
  });

  it("a queue another process holds: start fails naming NFQ_QUEUE_NUMBER, exit non-zero", async () => {
    const rig = await nfqHost();
    const key = b64(32);
    const hmacKey = b64(64);
    const fw = "FIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet filter input;\n";
    const first = new TsFwknopd(rig, conf(fw), access(key, hmacKey));
    const second = new TsFwknopd(rig, conf(`${fw}NFQ_CHAIN FWKNOP_NFQ2;\n`), access(key, hmacKey));
    try {
      await first.start();
      const r = await second.command(["-f"]);
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /queue 7 is held by another process/);
      assert.match(r.stderr, /NFQ_QUEUE_NUMBER/);
      assert.doesNotMatch(
        (await rig.run(rig.serverNs, ["nft", "list", "ruleset"])).stdout,
        /FWKNOP_NFQ2/,
        "the failed start left its rule",
      );
      // --fw-flush takes the running daemon's queue rule too, as C's does.
      assert.equal(await queueCount(rig), 0);
      const flush = await first.command(["--fw-flush"]);
      assert.equal(flush.code, 0, flush.stderr);
      assert.match(flush.stdout, /Removed the NFQUEUE rule \(FWKNOP_NFQ\)/);
      assert.equal(await queueCount(rig), null, "--fw-flush left the queue rule");
    } finally {
      await first.stop();
      first.cleanup();
      second.cleanup();
      await rig.teardown();
    }
  });

  it("root without CAP_NET_ADMIN: start fails saying the queue needs it, not that it is held", async () => {
    const rig = await nfqHost();
    const drop = (argv: readonly string[]): string[] => [
      ...["ip", "netns", "exec", rig.serverNs],
      ...["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--"],
      ...argv,
    ];
    const d = new TsFwknopd(rig, conf(""), access(b64(32), b64(64)), drop);
    try {
      // -t installs no rule (that would need the capability too): only the queue is bound.
      const r = await d.command(["-f", "-t"]);
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /binding NFQUEUE queue \d+ needs CAP_NET_ADMIN/);
      assert.doesNotMatch(r.stderr, /held by another process/);
    } finally {
      d.cleanup();
      await rig.teardown();
    }
  });

  it("without koffi: start fails naming ENABLE_NFQ_CAPTURE and why, the rule removed", async () => {
    const rig = await nfqHost();
    const hide = join(REPO, "test", "fixtures", "without-koffi.cjs");
    const fw = "FIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet filter input;\n";
    const d = new TsFwknopd(rig, conf(fw), access(b64(32), b64(64)), null, ["--require", hide]);
    try {
      const r = await d.command(["-f"]);
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /ENABLE_NFQ_CAPTURE Y\) exited \(1\): koffi is not available/);
      assert.equal(await queueCount(rig), null, "the failed start left its rule");
    } finally {
      d.cleanup();
      await rig.teardown();
    }
  });

  it(
    "firewalld (nftables backend): the rule by direct passthrough, before firewalld's reject; gone at exit",
    {
      skip:
        !existsSync("/usr/sbin/firewalld") && "firewalld is not installed (.ci/run installs it)",
    },
    async () => {
      const rig = await createRig({ servicePort: SERVICE });
      const fw = await startFirewalld(rig, "nftables").catch(async (e: unknown) => {
        await rig.teardown();
        throw e;
      });
      const key = b64(32);
      const hmacKey = b64(64);
      const d = new TsFwknopd(
        rig,
        conf("FIREWALL_TYPE firewalld;\n"),
        access(key, hmacKey),
        fw.wrap,
      );
      const count = (): Promise<number | null> => queueCount(rig, (a) => fw.exec(a));
      try {
        // The zone keeps both closed: NFQ_PORT is not opened, as the queue reads it first.
        assert.equal(await rig.tcpConnect(SERVER_IP, SERVICE), false, "open before the knock");
        await d.start();
        assert.match(
          d.logs(),
          /Installed NFQUEUE rule \(.*firewall-cmd --direct --passthrough ipv4\)/,
        );
        assert.equal(await count(), 0);
        await knock(
          rig,
          "c",
          ["-A", `tcp/${SERVICE}`, "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey)],
          home,
        );
        assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, SERVICE, 200), 8000, 50), d.logs());
        assert.equal(await count(), 1);
      } finally {
        await d.stop();
        d.cleanup();
        try {
          assert.equal(await count(), null, "the queue rule is still there after fwknopd stopped");
          const nft = (await fw.exec(["nft", "list", "ruleset"])).stdout;
          assert.doesNotMatch(nft, /FWKNOP_NFQ/);
        } finally {
          await fw.stop();
          await rig.teardown();
        }
      }
    },
  );
});
