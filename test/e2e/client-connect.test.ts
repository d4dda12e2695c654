/**
 * fwknop --connect (ours) end to end: our fwknopd on nftables behind a default-drop host table
 * (NFT_JUMP_CHAIN), echo services in the server namespace on ports that stay closed until a grant,
 * and our client in the client namespace:
 * - the knock and the relay in one run, both ways, over -P udp, -P tcp and IPv6;
 * - a real ssh whose ProxyCommand is `fwknop -n %h --connect %h:%p`: the echo service hands ssh
 *   its own version line back, so ssh's "Remote protocol version" shows bytes went both ways;
 * - a wrong key: the port never opens, exit 1 by the deadline, the message on stderr, stdout empty.
 * Each case has its own port, so no grant left by one can open another's.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLIENT_IP, REPO, SERVER_IP, SERVER_IP6, createRig, type Rig } from "./rig.js";
import { keyArgs } from "./knock.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const home = mkdtempSync(join(tmpdir(), "fwknop-connect-e2e-"));
const env = {
  PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
  HOME: home,
  USER: "root",
  LOGNAME: "root",
};
const b64 = (n: number): string => randomBytes(n).toString("base64");
const key = b64(32);
const hmacKey = b64(64);
const PORTS = { udp: 2201, ssh: 2202, wrongKey: 2203, tcp: 2204, ipv6: 2205 } as const;
const fwknop = (args: readonly string[]): string[] => [
  join(REPO, "bin", "fwknop"),
  "--no-save-args",
  ...args,
];

describe("fwknop --connect against our fwknopd (nftables, default-drop host)", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig();
    for (const port of Object.values(PORTS))
      // ssh gets its own version line back, then the end: it stops there instead of hanging in
      // a key exchange with itself.
      await rig.startEchoService(port, port === PORTS.ssh ? { lines: 1 } : {});
    await rig.defaultDeny("nftables", PORTS.udp);
    // The admin table lets the SPA port through for UDP only; -P tcp needs tcp/62201 too.
    await rig.acceptTcp(62201);
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nENABLE_TCP_SERVER Y;\nTCPSERV_PORT 62201;\nFIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet admin input;\n",
      `SOURCE ANY\nOPEN_PORTS ${Object.values(PORTS)
        .map((p) => `tcp/${p}`)
        .join(", ")}\nFW_ACCESS_TIMEOUT 30\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
  });

  const closed = async (port: number, host = SERVER_IP): Promise<void> => {
    assert.equal(await rig.tcpConnect(host, port), false, `tcp/${port} open before the knock`);
  };

  /** One knock-and-relay run: what came back must be exactly what went in. */
  const relays = async (port: number, extra: readonly string[], host = SERVER_IP) => {
    await closed(port, host);
    const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const text = `through tcp/${port}: ${b64(24)}\n`.repeat(50);
    const t0 = Date.now();
    const r = await rig.run(
      rig.clientNs,
      fwknop(["-A", `tcp/${port}`, ...extra, ...keyArgs(key, hmacKey), "--connect", target]),
      { env, input: text, timeoutMs: 15_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, text, "stdout holds exactly the relayed bytes");
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    assert.ok(
      await d.waitForLog(new RegExp(`Added access .* to tcp/${port}`)),
      `no grant for tcp/${port}:\n${d.logs()}`,
    );
  };

  it("(a) knocks over UDP, then relays both ways through a port closed before", () =>
    relays(PORTS.udp, ["-a", CLIENT_IP, "-D", SERVER_IP, "-v"]));

  it("(d) the same with -P tcp", () =>
    relays(PORTS.tcp, ["-a", CLIENT_IP, "-D", SERVER_IP, "-P", "tcp"]));

  it("IPv6: --connect [addr]:port, with -s and no -D (the connect host is the SPA server)", () =>
    relays(PORTS.ipv6, ["-s"], SERVER_IP6));

  it("(b) ssh's ProxyCommand 'fwknop -n %h --connect %h:%p' carries ssh's bytes both ways", async () => {
    await closed(PORTS.ssh);
    const rc = join(home, ".fwknoprc");
    writeFileSync(
      rc,
      [
        `[${SERVER_IP}]`,
        `SPA_SERVER ${SERVER_IP}`,
        `ACCESS tcp/${PORTS.ssh}`,
        `ALLOW_IP ${CLIENT_IP}`,
        `KEY_BASE64 ${key}`,
        `HMAC_KEY_BASE64 ${hmacKey}`,
        "USE_HMAC Y",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const sshConfig = join(home, "ssh_config");
    writeFileSync(
      sshConfig,
      [
        "Host spa-target",
        `  HostName ${SERVER_IP}`,
        `  Port ${PORTS.ssh}`,
        `  ProxyCommand ${join(REPO, "bin", "fwknop")} --no-save-args -n %h --connect %h:%p`,
        "  BatchMode yes",
        "  StrictHostKeyChecking no",
        "  UserKnownHostsFile /dev/null",
        "  GlobalKnownHostsFile /dev/null",
        "  ConnectTimeout 5",
        "",
      ].join("\n"),
    );
    const r = await rig.run(
      rig.clientNs,
      ["/usr/bin/ssh", "-v", "-F", sshConfig, "spa-target", "true"],
      { env, timeoutMs: 20_000 },
    );
    // No sshd behind the port: the echo service sends ssh's version line back and closes.
    const local = /Local version string SSH-2\.0-(\S+)/.exec(r.stderr)?.[1];
    const remote = /Remote protocol version 2\.0, remote software version (\S+)/.exec(
      r.stderr,
    )?.[1];
    assert.ok(local !== undefined, r.stderr);
    assert.equal(remote, local, `ssh did not read its own version back:\n${r.stderr}`);
    assert.match(r.stderr, /Connection closed by UNKNOWN port 65535/);
    assert.equal(r.code, 255, "ssh ended by itself, not by the timeout");
    assert.doesNotMatch(r.stderr, /fwknop: /, "fwknop reported an error");
    assert.ok(await d.waitForLog(new RegExp(`Added access .* to tcp/${PORTS.ssh}`)), d.logs());
  });

  it("(c) a wrong key: the port never opens; exit 1 by the deadline, stderr says what to check", async () => {
    await closed(PORTS.wrongKey);
    const t0 = Date.now();
    const r = await rig.run(
      rig.clientNs,
      fwknop([
        "-A",
        `tcp/${PORTS.wrongKey}`,
        "-a",
        CLIENT_IP,
        "-D",
        SERVER_IP,
        ...keyArgs(b64(32), hmacKey),
        "--connect",
        `${SERVER_IP}:${PORTS.wrongKey}`,
        "--connect-timeout",
        "2",
      ]),
      { env, input: "never sent\n", timeoutMs: 15_000 },
    );
    const ms = Date.now() - t0;
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      new RegExp(
        `^fwknop: --connect ${SERVER_IP.replace(/\./g, "\\.")}:${PORTS.wrongKey}: port did not open within 2 s \\(\\d+ tries, last: no answer\\); the SPA packet was sent to 198\\.18\\.0\\.1:62201/udp: check`,
      ),
    );
    assert.ok(ms >= 2000 && ms < 4500, `${ms} ms`);
    await closed(PORTS.wrongKey);
  });
});
