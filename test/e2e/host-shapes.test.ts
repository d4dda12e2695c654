/**
 * The rig's host shapes (host-shapes.ts) are the hosts they claim to be: before any SPA the
 * protected port is closed from the client (IPv4 and IPv6), the SPA port takes datagrams, another
 * UDP port does not, loopback works, and the ruleset lists as that host's does. Then the real C
 * fwknopd (built for iptables) with a C-style fwknopd.conf and the C client opens and closes the
 * port on the ufw-like host, the real ufw host and (FIREWALL_EXE iptables-legacy) the legacy host:
 * if C works there, the shape is faithful. With Debian's default FIREWALL_EXE (iptables, nf_tables)
 * on the legacy host C adds its rule and opens nothing: the binary must match the host's tables.
 * Afterwards the host's own ruleset, legacy tables, ufw files and the sysctls ufw sets are as they
 * were, and no namespace or process of ours is left.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CFwknopd } from "./c-fwknopd.js";
import { childrenOf } from "./ns-holder.js";
import { REAL_HOST_SHAPES, type HostShape } from "./host-shapes.js";
import { keyArgs, knock } from "./knock.js";
import { CLIENT_IP, SERVER_IP, SERVER_IP6, createRig, waitFor, type Rig } from "./rig.js";

const SPA_PORT = 62201;
const PROTECTED = 1234;
/** A UDP port no shape opens. */
const OTHER_UDP = 62202;

/** What each shape's ruleset must show (each line verbatim in `host.ruleset()`). */
const SHOWS: Record<(typeof REAL_HOST_SHAPES)[number], readonly string[]> = {
  "ufw-like": [
    "# iptables -S",
    "-P INPUT DROP",
    "-A INPUT -j ufw-before-input",
    "-A ufw-before-input -i lo -j ACCEPT",
    "-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    `-A ufw-user-input -p udp -m udp --dport ${SPA_PORT} -j ACCEPT`,
    "# ip6tables -S",
    `-A ufw6-user-input -p udp -m udp --dport ${SPA_PORT} -j ACCEPT`,
  ],
  "iptables-legacy": [
    "# iptables-legacy -S",
    "-P INPUT DROP",
    "-A INPUT -j ufw-before-input",
    `-A ufw-user-input -p udp -m udp --dport ${SPA_PORT} -j ACCEPT`,
    "# ip6tables-legacy -S",
    `-A ufw6-user-input -p udp -m udp --dport ${SPA_PORT} -j ACCEPT`,
  ],
  "debian-nftables": [
    "table inet filter {",
    "\t\ttype filter hook input priority filter; policy drop;",
    '\t\tiif "lo" accept',
    "\t\tct state established,related accept",
    `\t\tudp dport ${SPA_PORT} accept`,
    "\t\ttype filter hook forward priority filter; policy accept;",
    "\t\ttype filter hook output priority filter; policy accept;",
  ],
  "nftables-open": ["# nft list ruleset"],
  ufw: [
    "-P INPUT DROP",
    "-P FORWARD DROP",
    "-A INPUT -j ufw-before-logging-input",
    "-A INPUT -j ufw-before-input",
    "-A INPUT -j ufw-track-input",
    "-A ufw-before-input -j ufw-not-local",
    `-A ufw-user-input -p udp -m udp --dport ${SPA_PORT} -j ACCEPT`,
    `-A ufw6-user-input -p udp -m udp --dport ${SPA_PORT} -j ACCEPT`,
  ],
};

/** Files ufw would write (or read as its state) on the host, with their SHA-256. */
function ufwFiles(): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      out.push(`${p}: absent`);
      return;
    }
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n));
    else out.push(`${p}: ${createHash("sha256").update(readFileSync(p)).digest("hex")}`);
  };
  for (const p of ["/etc/ufw", "/etc/default/ufw", "/usr/lib/ufw", "/var/lib/ufw"]) walk(p);
  return out;
}

/** The host's firewall as seen from the host's namespace, read-only (never iptables-legacy here). */
function hostState(): string {
  const run = (argv: string[]): string => {
    try {
      return execFileSync(argv[0] ?? "", argv.slice(1), {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 10_000,
      });
    } catch (e) {
      return `failed: ${String(e)}`;
    }
  };
  const read = (p: string): string => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return "absent";
    }
  };
  const sysctls = [
    "net/ipv4/conf/all/accept_redirects",
    "net/ipv4/conf/default/accept_redirects",
    "net/ipv6/conf/all/accept_redirects",
    "net/ipv4/icmp_echo_ignore_broadcasts",
    "net/ipv4/icmp_ignore_bogus_error_responses",
    "net/ipv4/conf/all/log_martians",
  ];
  return [
    run(["iptables", "-S"]),
    run(["ip6tables", "-S"]),
    run(["nft", "list", "ruleset"]),
    `legacy tables: ${read("/proc/net/ip_tables_names")} / ${read("/proc/net/ip6_tables_names")}`,
    ...sysctls.map((k) => `${k}=${read(`/proc/sys/${k}`).trim()}`),
    ...ufwFiles(),
  ].join("\n");
}

const ourNamespaces = (): string[] =>
  execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith(`fwkts-${process.pid}-`));

const hostBefore = hostState();
after(() => {
  assert.deepEqual(ourNamespaces(), [], "a namespace of ours was left behind");
  assert.deepEqual(childrenOf(process.pid), [], "a process of ours was left behind");
  assert.equal(hostState(), hostBefore, "the host's firewall, ufw files or sysctls changed");
});

for (const shape of REAL_HOST_SHAPES) {
  describe(`host shape "${shape}"`, () => {
    let rig: Rig;
    let setupMs = 0;
    before(async () => {
      const t0 = Date.now();
      rig = await createRig({ servicePort: PROTECTED, spaPort: SPA_PORT, deny: shape });
      setupMs = Date.now() - t0;
      await rig.udpListen(SPA_PORT);
      await rig.udpListen(OTHER_UDP);
    });
    after(async () => {
      await rig.teardown();
    });

    it("tells the test which host it is", (t) => {
      t.diagnostic(`rig with this host set up in ${setupMs} ms`);
      const host = rig.host;
      assert.ok(host !== null);
      assert.equal(host.name, shape);
      assert.equal(host.spaPort, SPA_PORT);
      assert.equal(host.protectedPort, PROTECTED);
      assert.equal(host.drops, shape !== "nftables-open");
      assert.equal(host.ufw !== null, shape === "ufw");
    });

    it(
      shape === "nftables-open"
        ? "drops nothing: the protected port answers (IPv4, IPv6)"
        : "the protected port is closed to the client (IPv4, IPv6)",
      async () => {
        const open = rig.host?.drops === false;
        assert.equal(await rig.tcpConnect(SERVER_IP, PROTECTED), open);
        assert.equal(await rig.tcpConnect(SERVER_IP6, PROTECTED), open);
      },
    );

    it("the SPA port takes datagrams (IPv4, IPv6); another UDP port only if nothing drops", async () => {
      await rig.sendUdp(SERVER_IP, SPA_PORT, "spa-v4");
      await rig.sendUdp(SERVER_IP6, SPA_PORT, "spa-v6");
      const got = [];
      while (got.length < 2) {
        const more = await rig.udpReceived(SPA_PORT, 2000);
        if (more.length === 0) break;
        got.push(...more.map((b) => b.toString()));
      }
      assert.deepEqual(got.sort(), ["spa-v4", "spa-v6"]);
      await rig.sendUdp(SERVER_IP, OTHER_UDP, "other");
      const other = await rig.udpReceived(OTHER_UDP, 300);
      assert.equal(other.length, rig.host?.drops === true ? 0 : 1);
    });

    it("loopback works on the server (127.0.0.1 and ::1)", async () => {
      assert.ok(await rig.tcpConnect("127.0.0.1", PROTECTED, 400, "server"));
      assert.ok(await rig.tcpConnect("::1", PROTECTED, 400, "server"));
    });

    it("its ruleset lists as that host's does", async () => {
      const ruleset = (await rig.host?.ruleset()) ?? "";
      const lines = ruleset.split("\n");
      for (const l of SHOWS[shape])
        assert.ok(lines.includes(l), `missing ${JSON.stringify(l)} in:\n${ruleset}`);
      const nft = await rig.must(rig.serverNs, ["nft", "list", "ruleset"]);
      // The legacy host and the open host have nothing in nf_tables.
      if (shape === "iptables-legacy" || shape === "nftables-open") assert.equal(nft, "");
      if (shape === "ufw") {
        const status = await rig.host?.ufw?.ufw(["status"]);
        assert.match(status?.stdout ?? "", /Status: active/);
        assert.match(status?.stdout ?? "", new RegExp(`${SPA_PORT}/udp\\s+ALLOW`));
      }
    });

    if (shape === "ufw")
      it("ufw's files are private to its namespace; spawn() and wrap() run there", async () => {
        const ufw = rig.host?.ufw;
        assert.ok(ufw);
        const inside = await ufw.exec(["cat", "/etc/ufw/ufw.conf"]);
        assert.match(inside.stdout, /^ENABLED=yes$/m);
        assert.match(readFileSync("/etc/ufw/ufw.conf", "utf8"), /^ENABLED=no$/m);
        const child = ufw.spawn(["cat", "/etc/ufw/user.rules"]);
        let out = "";
        child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
        await new Promise((r) => child.once("exit", r));
        assert.match(
          out,
          new RegExp(`^-A ufw-user-input -p udp --dport ${SPA_PORT} -j ACCEPT$`, "m"),
        );
        assert.deepEqual(ufw.wrap(["true"]).slice(-1), ["true"]);
      });
  });
}

/** C fwknopd's own iptables settings, as in its fwknopd.conf (Debian 2.6.10 defaults). */
const cConf = (firewallExe: string): string =>
  [
    `FIREWALL_EXE ${firewallExe};`,
    "IPT_INPUT_ACCESS ACCEPT, filter, INPUT, 1, FWKNOP_INPUT, 1;",
    "FLUSH_IPT_AT_INIT Y;",
    "FLUSH_IPT_AT_EXIT Y;",
    "ENABLE_IPT_FORWARDING N;",
  ].join("\n");

const tail = (s: string, n = 15): string => s.split("\n").slice(-n).join("\n");

/**
 * Where C fwknopd's binary matches the host's tables its grant opens the port; on the legacy host
 * Debian's default /usr/sbin/iptables (nf_tables) adds its rule, and x_tables still drops.
 */
const cCases: { shape: HostShape; exe: string; opens: boolean }[] = [
  { shape: "ufw-like", exe: "/usr/sbin/iptables", opens: true },
  { shape: "ufw", exe: "/usr/sbin/iptables", opens: true },
  { shape: "iptables-legacy", exe: "/usr/sbin/iptables-legacy", opens: true },
  { shape: "iptables-legacy", exe: "/usr/sbin/iptables", opens: false },
];

for (const { shape, exe, opens } of cCases) {
  describe(`C fwknopd (FIREWALL_EXE ${exe}) and the C client on host "${shape}"`, () => {
    let rig: Rig;
    let server: CFwknopd;
    const key = randomBytes(32).toString("base64");
    const hmacKey = randomBytes(64).toString("base64");
    const knockArgs = ["-A", `tcp/${PROTECTED}`, "-a", CLIENT_IP, "-D", SERVER_IP];
    knockArgs.push("-p", String(SPA_PORT), ...keyArgs(key, hmacKey));

    before(async () => {
      rig = await createRig({ servicePort: PROTECTED, spaPort: SPA_PORT, deny: shape });
      server = new CFwknopd(rig, {
        conf: cConf(exe),
        access: [
          "SOURCE ANY",
          `OPEN_PORTS tcp/${PROTECTED}`,
          `KEY_BASE64 ${key}`,
          `HMAC_KEY_BASE64 ${hmacKey}`,
          "FW_ACCESS_TIMEOUT 3",
          "",
        ].join("\n"),
        port: SPA_PORT,
      });
      await server.start();
    });
    after(async () => {
      await server.stop();
      await rig.teardown();
    });

    if (opens)
      it("closed before, open after the knock, closed again after FW_ACCESS_TIMEOUT 3", async (t) => {
        assert.equal(await rig.tcpConnect(SERVER_IP, PROTECTED), false, "closed before SPA");
        const at = server.mark();
        const t0 = Date.now();
        await knock(rig, "c", knockArgs, rig.tempDir("spa-home-"));
        assert.ok(
          await waitFor(() => rig.tcpConnect(SERVER_IP, PROTECTED, 200), 5000, 20),
          `port did not open; fwknopd said:\n${tail(server.logs())}`,
        );
        const openMs = Date.now() - t0;
        const listed = await rig.host?.ruleset();
        assert.match(listed ?? "", /-A INPUT -j FWKNOP_INPUT/);
        // C's expiry check runs on its loop: allow the timeout + 5 s.
        assert.ok(
          await waitFor(async () => !(await rig.tcpConnect(SERVER_IP, PROTECTED, 200)), 8000, 100),
          `port stayed open after the grant expired:\n${tail(server.logs())}`,
        );
        assert.ok(
          await server.waitForLog(/Removed rule 1 from FWKNOP_INPUT/, 3000, at),
          tail(server.logs()),
        );
        t.diagnostic(`knock -> open ${openMs} ms, -> closed ${Date.now() - t0} ms`);
      });
    else
      it("the grant is added (in nf_tables) and opens nothing: x_tables' INPUT policy drops", async () => {
        const at = server.mark();
        await knock(rig, "c", knockArgs, rig.tempDir("spa-home-"));
        assert.ok(
          await server.waitForLog(/Added access rule to FWKNOP_INPUT for 198\.18\.0\.2/, 5000, at),
          tail(server.logs()),
        );
        const nft = await rig.must(rig.serverNs, ["iptables", "-S", "FWKNOP_INPUT"]);
        assert.match(nft, /-A FWKNOP_INPUT -s 198\.18\.0\.2\/32 -p tcp .*--dport 1234 .*-j ACCEPT/);
        assert.equal(await rig.tcpConnect(SERVER_IP, PROTECTED, 1000), false, "the port opened");
      });
  });
}
