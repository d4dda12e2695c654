/**
 * Issue 11's matrix: our fwknopd on hosts shaped like real users' hosts (host-shapes.ts), with the
 * configuration that host's admin would have, knocked by the C client; a TCP connect is the proof
 * (closed before, open after the knock, closed after FW_ACCESS_TIMEOUT). `--fw-check` on each
 * host prints the verdict the daemon acts on. The firewalld rows live in
 * fwknopd-firewalld.test.ts (they need a private firewalld).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { HostShape } from "./host-shapes.js";
import { keyArgs, knock } from "./knock.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const home = mkdtempSync(join(tmpdir(), "host-matrix-home-"));
after(() => {
  rmSync(home, { recursive: true, force: true });
});
const b64 = (n: number): string => randomBytes(n).toString("base64");

/** The iptables part of Debian's stock fwknopd.conf, uncommented, as a C fwknopd admin has it. */
const C_STYLE = [
  "ENABLE_UDP_SERVER          Y;",
  "IPT_INPUT_ACCESS           ACCEPT, filter, INPUT, 1, FWKNOP_INPUT, 1;",
  "FLUSH_IPT_AT_INIT          Y;",
  "FLUSH_IPT_AT_EXIT          Y;",
].join("\n");

const access = (key: string, hmacKey: string): string =>
  `SOURCE ANY\nOPEN_PORTS tcp/1234\nREQUIRE_SOURCE_ADDRESS Y\nFW_ACCESS_TIMEOUT 3\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`;

interface Row {
  host: HostShape;
  conf: string;
  /** The start-up line: backend, how, and why auto chose it. */
  line: RegExp;
  /** What --fw-check says of it. */
  check: RegExp;
}

const ROWS: Row[] = [
  {
    host: "ufw-like",
    conf: C_STYLE,
    line: /Firewall backend: iptables \(auto: INPUT policy DROP in table ip filter, INPUT policy DROP in table ip6 filter, FLUSH_IPT_AT_INIT set, FLUSH_IPT_AT_EXIT set, IPT_INPUT_ACCESS set\)/,
    check:
      /backend: iptables \(auto: INPUT policy DROP in table ip filter[^\n]*\n {2}program: \/usr\/sbin\/iptables-nft\n {2}grants: would open/,
  },
  {
    host: "iptables-legacy",
    conf: `${C_STYLE}\nFIREWALL_EXE               /usr/sbin/iptables-legacy;`,
    line: /Firewall backend: iptables \(auto: INPUT policy DROP in table ip filter \(legacy\)/,
    check: /program: \/usr\/sbin\/iptables-legacy\n {2}grants: would open/,
  },
  {
    host: "ufw",
    conf: C_STYLE,
    line: /Firewall backend: iptables \(auto: INPUT policy DROP in table ip filter/,
    check:
      /ip filter INPUT\s+priority\s+0\s+policy drop[^\n]*\(iptables-nft\)[\s\S]*grants: would open/,
  },
  {
    host: "debian-nftables",
    conf: "ENABLE_UDP_SERVER Y;",
    line: /Firewall backend: nftables, set elements through [^\n]*\(auto: no firewalld, no iptables rules; inet filter input drops what is not allowed, our accept goes at its top\)/,
    check:
      /backend: nftables[^\n]*\n {2}our accept goes at the top of: inet filter input\n {2}grants: would open/,
  },
];

async function withHost(
  host: HostShape,
  conf: string,
  body: (rig: Rig, d: TsFwknopd, keys: string[]) => Promise<void>,
): Promise<void> {
  const rig = await createRig({ servicePort: 1234, deny: host });
  const key = b64(32);
  const hmacKey = b64(64);
  const d = new TsFwknopd(rig, conf, access(key, hmacKey));
  try {
    await body(rig, d, keyArgs(key, hmacKey));
  } finally {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  }
}

describe("C client -> our fwknopd on hosts as they are (issue 11 matrix)", () => {
  for (const row of ROWS) {
    it(`${row.host}: auto opens the port for the knock and closes it on time`, () =>
      withHost(row.host, row.conf, async (rig, d, keys) => {
        const check = await d.command(["--fw-check"]);
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.match(check.stdout, row.check);
        assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "closed before SPA");
        await d.start();
        assert.match(d.logs(), row.line);
        await knock(rig, "c", ["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, ...keys], home);
        const sent = Date.now();
        assert.ok(
          await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000, 50),
          `not opened:\n${d.logs()}`,
        );
        assert.ok(
          await waitFor(async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)), 8000, 200),
          `still open after FW_ACCESS_TIMEOUT:\n${d.logs()}`,
        );
        const held = (Date.now() - sent) / 1000;
        assert.ok(held > 2 && held < 6.5, `open for ${held.toFixed(1)} s, expected about 3`);
      }));
  }

  it("nftables host that drops nothing, NFT_PROTECT_PORTS off: start-up warns the port is open to everyone", () =>
    withHost("nftables-open", "ENABLE_UDP_SERVER Y;", async (rig, d) => {
      const check = await d.command(["--fw-check"]);
      assert.equal(check.code, 0, check.stderr);
      assert.match(
        check.stdout,
        /WARNING: open to everyone, with or without a grant: tcp\/1234 \(IPv4\), tcp\/1234 \(IPv6\) \(set NFT_PROTECT_PORTS Y/,
      );
      assert.equal(await rig.tcpConnect(SERVER_IP, 1234), true, "the host really is open");
      await d.start();
      assert.match(
        d.logs(),
        /Firewall: WARNING: nothing on this host drops new connections to tcp\/1234 \(IPv4\), tcp\/1234 \(IPv6\): open to everyone/,
      );
    }));

  it("explicit FIREWALL_TYPE nftables on the ufw-like host: refuses to start, naming the chain", () =>
    withHost("ufw-like", `${C_STYLE}\nFIREWALL_TYPE nftables;`, async (rig, d) => {
      const check = await d.command(["--fw-check"]);
      assert.equal(check.code, 1);
      assert.match(
        check.stdout,
        /grants: WOULD NOT OPEN:\n {4}ip filter INPUT would drop a granted tcp\/1234 \(IPv4\): policy drop of ip filter INPUT/,
      );
      const r = await d.command(["-f"]);
      // The host, not the configuration's syntax, is at fault: exit 2 (errors.ts).
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /fwknopd: firewall: a grant by the nftables backend would open nothing: ip filter INPUT would drop a granted tcp\/1234 \(IPv4\)[^\n]*FIREWALL_TYPE iptables[^\n]*--force-firewall/,
      );
      // Nothing was changed: no table of ours.
      const rs = await rig.must(rig.serverNs, ["nft", "list", "tables"]);
      assert.doesNotMatch(rs, /fwknopd/);
      // --force-firewall starts anyway, and says what it overrode.
      await d.start(["--force-firewall"]);
      assert.match(
        d.logs(),
        /Firewall: --force-firewall: starting although a grant by the nftables backend would open nothing: ip filter INPUT would drop/,
      );
    }));
});
