/**
 * OUTPUT rules (ENABLE_IPT_OUTPUT / ENABLE_FIREWD_OUTPUT, issue 17 item 2) on hosts whose output
 * default-drops, backend by backend: our client knocks, our fwknopd grants, and the connection to
 * the protected port succeeds only because the grant's OUTPUT rule lets the replies out. The same
 * host with the variable N is the control: the INPUT grant is made, the connection still fails.
 * The OUTPUT rule/element is listed by `--fw-list` while the grant lives and is gone after it.
 *
 * Hosts (shaped after real ones; none accepts established output, which is what makes C's OUTPUT
 * rule necessary):
 *  - iptables: `-P INPUT DROP`, `-P OUTPUT DROP`, loopback and inbound established/SPA allowed.
 *  - nftables: Debian's /etc/nftables.conf shape, input and output chains `policy drop`; our
 *    accepts go into the admin's chains (NFT_JUMP_CHAIN, NFT_OUTPUT_JUMP_CHAIN): an accept in our
 *    own table would not override the admin's drop.
 *  - firewalld, on both its backends (nftables, Debian 12's default: rich rules for input; and
 *    iptables: C's passthrough for both): firewalld itself accepts established output before its
 *    zones, policies and direct rules, so it never drops replies; an admin who drops output on such
 *    a host does it above that, with a passthrough at the top of iptables' OUTPUT (as here), and
 *    C's passthrough FWKNOP_OUTPUT jump, inserted at position 1, comes first.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { startFirewalld, type Firewalld } from "./firewalld.js";
import { keyArgs, knock } from "./knock.js";
import { nftOutputDropHost } from "./output-drop.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const PORT = 1234;
const SPA_PORT = 62201;
const TIMEOUT = 4;
const b64 = (n: number): string => randomBytes(n).toString("base64");

interface Host {
  rig: Rig;
  /** fwknopd.conf lines choosing and placing the backend. */
  conf: string;
  /** The switch under test. */
  variable: "ENABLE_IPT_OUTPUT" | "ENABLE_FIREWD_OUTPUT";
  /** Our OUTPUT rule/element for the client, as `fwknopd --fw-list` shows it. */
  listed: RegExp;
  wrap?: (argv: readonly string[]) => string[];
  /** What the start-up log must say about the backend with the variable Y. */
  started?: RegExp;
  /** The host's whole ruleset, to see that nothing of ours is left after fwknopd exits. */
  ruleset: () => Promise<string>;
}

/**
 * One fwknopd run with the variable Y or N: knock, then the connection must succeed (Y) or fail
 * (N) while the INPUT grant is there; with Y the OUTPUT rule is listed, then gone after expiry.
 */
async function knockAndConnect(h: Host, on: boolean): Promise<void> {
  const { rig } = h;
  const key = b64(32);
  const hmacKey = b64(64);
  const d = new TsFwknopd(
    rig,
    `ENABLE_UDP_SERVER Y;\n${h.conf}${h.variable} ${on ? "Y" : "N"};\n`,
    `SOURCE ANY\nOPEN_PORTS tcp/${PORT}\nFW_ACCESS_TIMEOUT ${TIMEOUT}\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
    h.wrap ?? null,
  );
  try {
    await d.start();
    if (on && h.started !== undefined) assert.match(d.logs(), h.started);
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT), false, "open before the knock");
    const args = ["-A", `tcp/${PORT}`, "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey)];
    await knock(rig, "ts", args, rig.tempDir("fwout-home-"));
    assert.ok(
      await d.waitForLog(/Added access .* from 198\.18\.0\.2 to tcp\/1234/, 10_000),
      d.logs(),
    );
    const list = async (): Promise<string> => (await d.command(["--fw-list"])).stdout;
    if (!on) {
      // The grant is made, yet the replies meet the host's output drop.
      assert.equal(await rig.tcpConnect(SERVER_IP, PORT, 1500), false, "connected with N");
      assert.doesNotMatch(await list(), h.listed);
      return;
    }
    assert.ok(
      await waitFor(() => rig.tcpConnect(SERVER_IP, PORT, 500), 5000, 100),
      `no connection with Y:\n${d.logs()}`,
    );
    const listed = await list();
    assert.match(listed, h.listed, listed);
    // Gone with the grant (kernel timeout or the daemon's expiry), and the port closed again.
    assert.ok(
      await waitFor(async () => !h.listed.test(await list()), (TIMEOUT + 12) * 1000, 500),
      `OUTPUT rule still listed after the grant:\n${await list()}`,
    );
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT, 800), false, "open after expiry");
  } finally {
    await d.stop();
    d.cleanup();
  }
  // FLUSH_*_AT_EXIT (Y by default): the OUTPUT chain or sets and our rules in the admin's go too.
  assert.doesNotMatch(await h.ruleset(), /FWKNOP_OUTPUT|fwknopd_out/);
}

/**
 * kill -9 with a grant open, no flushing: the next start finds the INPUT rule and its OUTPUT rule
 * as one live grant, keeps the connection possible, and removes both when it expires.
 */
async function reconciles(h: Host): Promise<void> {
  const { rig } = h;
  const key = b64(32);
  const hmacKey = b64(64);
  const d = new TsFwknopd(
    rig,
    `ENABLE_UDP_SERVER Y;\n${h.conf}${h.variable} Y;\nFLUSH_IPT_AT_INIT N;\nFLUSH_IPT_AT_EXIT N;\n`,
    `SOURCE ANY\nOPEN_PORTS tcp/${PORT}\nFW_ACCESS_TIMEOUT 8\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
  );
  try {
    await d.start();
    const args = ["-A", `tcp/${PORT}`, "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey)];
    await knock(rig, "ts", args, rig.tempDir("fwout-home-"));
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, PORT, 500), 5000, 100), d.logs());
    await d.stop("SIGKILL");
    await d.start();
    assert.match(d.logs(), /Reconciled firewall: 1 live grant\(s\) kept, 0 expired removed/);
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT, 1000), true, "the kept grant lost");
    const rules = (): Promise<string> => h.ruleset();
    assert.ok(
      await waitFor(async () => !/-A FWKNOP_(INPUT|OUTPUT) /.test(await rules()), 20_000, 500),
      `rules left after expiry:\n${await rules()}`,
    );
  } finally {
    await d.stop();
    d.cleanup();
  }
}

/** The two runs on one host: control first (N), then Y. */
function outputTests(shape: () => Promise<Host>, cleanup: () => Promise<void>): Promise<Host> {
  let h: Host;
  let ready: (h: Host) => void = () => undefined;
  const got = new Promise<Host>((resolve) => (ready = resolve));
  before(async () => {
    h = await shape();
    ready(h);
  });
  after(cleanup);
  it("N (control): the INPUT grant alone cannot answer on this host", () =>
    knockAndConnect(h, false));
  it("Y: the OUTPUT rule lets the replies out, listed while the grant lives, gone after", () =>
    knockAndConnect(h, true));
  return got;
}

const IPTABLES_HOST = [
  "*filter",
  ":INPUT DROP [0:0]",
  ":FORWARD DROP [0:0]",
  ":OUTPUT DROP [0:0]",
  "-A INPUT -i lo -j ACCEPT",
  "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
  `-A INPUT -p udp --dport ${SPA_PORT} -j ACCEPT`,
  "-A OUTPUT -o lo -j ACCEPT",
  "COMMIT",
  "",
].join("\n");

describe("ENABLE_IPT_OUTPUT, iptables host whose OUTPUT default-drops", () => {
  let rig: Rig | null = null;
  const host = outputTests(
    async () => {
      rig = await createRig({ servicePort: PORT });
      const r = await rig.run(rig.serverNs, ["iptables-restore"], { input: IPTABLES_HOST });
      assert.equal(r.code, 0, r.stderr);
      return {
        rig,
        conf: "FIREWALL_TYPE iptables;\n",
        variable: "ENABLE_IPT_OUTPUT",
        ruleset: () => rig?.must(rig.serverNs, ["iptables-save"]) ?? Promise.resolve(""),
        // iptables -L FWKNOP_OUTPUT -n: prot, source any, destination the client, spt.
        listed: /ACCEPT\s+6\s+--\s+0\.0\.0\.0\/0\s+198\.18\.0\.2\s+tcp spt:1234 \/\* _exp_\d+ \*\//,
      };
    },
    async () => {
      await rig?.teardown();
    },
  );
  it("a grant found at start with its OUTPUT rule is one grant, both removed at expiry", async () =>
    reconciles(await host));
});

describe("ENABLE_IPT_OUTPUT, nftables host (Debian-style, output policy drop)", () => {
  let rig: Rig | null = null;
  void outputTests(
    async () => {
      rig = await createRig({ servicePort: PORT });
      const r = await rig.run(rig.serverNs, ["nft", "-f", "-"], {
        input: nftOutputDropHost(SPA_PORT),
      });
      assert.equal(r.code, 0, r.stderr);
      return {
        rig,
        conf: "FIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet filter input;\nNFT_OUTPUT_JUMP_CHAIN inet filter output;\n",
        variable: "ENABLE_IPT_OUTPUT",
        ruleset: () => rig?.must(rig.serverNs, ["nft", "list", "ruleset"]) ?? Promise.resolve(""),
        listed: /set fwknopd_out4 \{[^}]*elements = \{ 198\.18\.0\.2 \. tcp \. 1234 /,
      };
    },
    async () => {
      await rig?.teardown();
    },
  );
});

for (const backend of ["nftables", "iptables"] as const)
  describe(
    `ENABLE_FIREWD_OUTPUT, firewalld (${backend} backend) with an admin's output drop`,
    {
      skip:
        !existsSync("/usr/sbin/firewalld") && "firewalld is not installed (.ci/run installs it)",
    },
    () => {
      let rig: Rig | null = null;
      let fw: Firewalld | null = null;
      void outputTests(
        async () => {
          rig = await createRig({ servicePort: PORT });
          fw = await startFirewalld(rig, backend);
          const cmd = async (args: string[]): Promise<void> => {
            const r = await (fw as Firewalld).firewallCmd(args);
            assert.equal(r.code, 0, r.stdout + r.stderr);
          };
          await cmd([`--add-port=${SPA_PORT}/udp`]);
          const top = ["--direct", "--passthrough", "ipv4", "-I", "OUTPUT", "1"];
          await cmd([...top, "-j", "DROP"]);
          await cmd([...top, "-o", "lo", "-j", "ACCEPT"]);
          return {
            rig,
            conf: "",
            variable: "ENABLE_FIREWD_OUTPUT",
            listed:
              /ACCEPT\s+6\s+--\s+0\.0\.0\.0\/0\s+198\.18\.0\.2\s+tcp spt:1234 \/\* _exp_\d+ \*\//,
            wrap: fw.wrap,
            started:
              backend === "nftables"
                ? /Firewall backend: firewalld, rich rules in zone public [^\n]*; OUTPUT rules by passthrough/
                : /Firewall backend: firewalld, passthrough over D-Bus \(firewalld backend iptables\)/,
            ruleset: async () => (await (fw as Firewalld).exec(["iptables-save"])).stdout,
          };
        },
        async () => {
          await fw?.stop();
          await rig?.teardown();
        },
      );
    },
  );
