/**
 * fwknopd beyond UDP: the TCP server and SPA over HTTP (our client and the C client), reload on
 * SIGHUP without dropping live grants, running in the background with --status and -K, and
 * --fw-flush.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const home = mkdtempSync(join(tmpdir(), "fwknopd-life-home-"));
const env = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  USER: "root",
  LOGNAME: "root",
};
const b64 = (n: number): string => randomBytes(n).toString("base64");
const key = b64(32);
const hmacKey = b64(64);
const keyArgs = ["--key-base64-rijndael", key, "--key-base64-hmac", hmacKey, "--use-hmac"];
const ours = (args: string[]): string[] => [
  process.execPath,
  join(REPO, "bin", "fwknop"),
  "--no-save-args",
  ...args,
];
const access = (user: string): string =>
  `SOURCE ANY\nOPEN_PORTS tcp/1234, tcp/1235, tcp/1236, tcp/1237\nREQUIRE_USERNAME ${user}\nFW_ACCESS_TIMEOUT 20\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`;

describe("fwknopd transports and lifecycle", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig();
    for (const p of [1234, 1235, 1236, 1237]) await rig.startService(p);
    await rig.defaultDeny("nftables", 1234);
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nENABLE_TCP_SERVER Y;\nTCPSERV_PORT 62201;\nENABLE_SPA_OVER_HTTP Y;\nFIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet admin input;\n",
      access("root"),
    );
    // The admin table lets the SPA port through for UDP only; TCP/HTTP SPA needs tcp/62201 too.
    await rig.acceptTcp(62201);
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
  });

  const opens = async (port: number, client: string[]): Promise<void> => {
    assert.equal(await rig.tcpConnect(SERVER_IP, port), false, `tcp/${port} open before SPA`);
    const r = await rig.run(rig.clientNs, client, { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      await waitFor(() => rig.tcpConnect(SERVER_IP, port, 200), 3000, 20),
      `tcp/${port} did not open:\n${d.logs()}`,
    );
  };

  it("our client over TCP (-P tcp)", () =>
    opens(
      1234,
      ours(["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, "-P", "tcp", ...keyArgs]),
    ));
  it("our client over HTTP (-P http)", () =>
    opens(
      1235,
      ours(["-A", "tcp/1235", "-a", CLIENT_IP, "-D", SERVER_IP, "-P", "http", ...keyArgs]),
    ));
  it("the C client over HTTP (-P http)", () =>
    opens(1236, [
      "/usr/bin/fwknop",
      "--no-save-args",
      "-A",
      "tcp/1236",
      "-a",
      CLIENT_IP,
      "-D",
      SERVER_IP,
      "-P",
      "http",
      ...keyArgs,
    ]));

  it("reloads on fwknopd -R (SIGHUP): live grants stay, new packets meet the new policy", async () => {
    writeFileSync(d.access, access("alice"), { mode: 0o600 });
    const r = await d.command(["-R"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Sent restart signal to fwknopd/);
    assert.ok(await d.waitForLog(/Reloaded configuration: 1 access stanza/));
    assert.equal(
      await rig.tcpConnect(SERVER_IP, 1234),
      true,
      "a live grant was dropped by the reload",
    );
    const before = d.logs().length;
    const sent = await rig.run(
      rig.clientNs,
      ours(["-A", "tcp/1237", "-a", CLIENT_IP, "-D", SERVER_IP, "-U", "root", ...keyArgs]),
      { env },
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.ok(
      await waitFor(
        () => /does not match required username: alice/.test(d.logs().slice(before)),
        3000,
      ),
    );
    assert.equal(await rig.tcpConnect(SERVER_IP, 1237), false);
  });

  it("--fw-flush removes the grants", async () => {
    const r = await d.command(["--fw-flush"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false);
    assert.equal(await rig.tcpConnect(SERVER_IP, 1235), false);
  });
});

describe("fwknopd in the background", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig();
    d = new TsFwknopd(rig, "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE nftables;\n", access("root"));
  });
  after(async () => {
    // The daemon is not our child once detached: end it by its pid file if a test left it running.
    const pid = Number(
      readFileSync(join(d.run, "fwknopd.pid"), { encoding: "utf8", flag: "a+" }).trim(),
    );
    if (pid > 0)
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    d.cleanup();
    await rig.teardown();
  });

  it("starts detached, reports with --status, stops with -K", async () => {
    const start = await rig.run(rig.serverNs, d.argv([]));
    assert.equal(start.code, 0, start.stderr);
    // The background child runs with the daemon's node flags (src/server/node-flags.ts).
    const pid = readFileSync(join(d.run, "fwknopd.pid"), "utf8").trim();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    assert.ok(cmdline.includes("--max-semi-space-size=1"), cmdline.join(" "));
    const st = await d.command(["--status"]);
    assert.equal(st.code, 0);
    assert.match(st.stdout, /Detected fwknopd is running \(pid=\d+\)\.\nLive grants: 0/);
    const k = await d.command(["-K"]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /Killed fwknopd \(pid=\d+\)/);
    const st2 = await d.command(["--status"]);
    assert.equal(st2.code, 1);
    assert.match(st2.stdout, /No running fwknopd detected\./);
  });
});
