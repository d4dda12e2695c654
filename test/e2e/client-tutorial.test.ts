/**
 * The tutorial's client flow, for real in the namespace rig: `fwknop ... --key-gen --use-hmac
 * --save-rc-stanza` writes a stanza, the server is configured from it, `fwknop -n <server>` opens
 * the port. And -R: the allow IP comes from a resolver inside the namespaces.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tutorialAccessConf } from "../fixtures/tutorial.js";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { CFwknopd } from "./c-fwknopd.js";
import { TsFwknopd } from "./ts-fwknopd.js";

describe("the tutorial's client flow", () => {
  let rig: Rig;
  let d: TsFwknopd | null = null;
  const home = mkdtempSync(join(tmpdir(), "tutorial-home-"));
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    USER: "root",
    LOGNAME: "root",
  };
  const fwknop = (args: string[]) =>
    rig.run(rig.clientNs, [process.execPath, join(REPO, "bin", "fwknop"), ...args], { env });

  before(async () => {
    rig = await createRig();
    await rig.startService(1234);
    await rig.startService(2222);
    await rig.defaultDeny("nftables", 1234);
    await rig.acceptTcp(8080);
  });
  after(async () => {
    await d?.stop();
    d?.cleanup();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
  });

  it("--key-gen --use-hmac --save-rc-stanza, then fwknop -n <server> opens the port", async () => {
    const saved = await fwknop([
      "-A",
      "tcp/1234",
      "-a",
      CLIENT_IP,
      "-D",
      SERVER_IP,
      "--key-gen",
      "--use-hmac",
      "--save-rc-stanza",
    ]);
    assert.equal(saved.code, 0, saved.stderr);
    const rc = readFileSync(join(home, ".fwknoprc"), "latin1");
    const key = /^KEY_BASE64\s+(\S+)$/m.exec(rc)?.[1] ?? "";
    const hmacKey = /^HMAC_KEY_BASE64\s+(\S+)$/m.exec(rc)?.[1] ?? "";
    assert.ok(key !== "" && hmacKey !== "");
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet admin input;\n",
      tutorialAccessConf(key, hmacKey).replace(
        "OPEN_PORTS                 tcp/1234",
        "OPEN_PORTS                 tcp/1234, tcp/2222",
      ),
    );
    await d.start();
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false);
    const knock = await fwknop(["-n", SERVER_IP]);
    assert.equal(knock.code, 0, knock.stderr);
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 3000, 20), d.logs());
  });

  it("-R takes the allow IP from a resolver (--resolve-url, plain HTTP)", async () => {
    // A resolver in the server namespace that answers with the caller's address.
    rig.spawn(rig.serverNs, [
      process.execPath,
      "-e",
      "require('http').createServer((q,s)=>s.end(q.socket.remoteAddress.replace('::ffff:','')+'\\n')).listen(8080)",
    ]);
    await waitFor(
      async () =>
        (await rig.run(rig.serverNs, ["ss", "-Hltn", "sport = :8080"])).stdout.includes("8080"),
      5000,
    );
    const r = await fwknop([
      "-n",
      SERVER_IP,
      "-A",
      "tcp/2222",
      "-R",
      "--resolve-url",
      `http://${SERVER_IP}:8080/myip`,
      "--resolve-http-only",
      "-v",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `Resolved external IP \\(via http://${SERVER_IP.replace(/\./g, "\\.")}:8080/myip\\) as: ${CLIENT_IP.replace(/\./g, "\\.")}`,
      ),
    );
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 2222, 200), 3000, 20), d?.logs());
  });
});

describe("the tutorial's client flow against the C fwknopd (iptables)", () => {
  it("--key-gen --use-hmac --save-rc-stanza, the server configured from the stanza, fwknop -n opens the port", async () => {
    const rig = await createRig({ servicePort: 1234, deny: "iptables" });
    const home = mkdtempSync(join(tmpdir(), "tutorial-c-home-"));
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      USER: "root",
      LOGNAME: "root",
    };
    const fwknop = (args: string[]) =>
      rig.run(rig.clientNs, [process.execPath, join(REPO, "bin", "fwknop"), ...args], { env });
    let server: CFwknopd | null = null;
    try {
      const saved = await fwknop([
        "-A",
        "tcp/1234",
        "-a",
        CLIENT_IP,
        "-D",
        SERVER_IP,
        "--key-gen",
        "--use-hmac",
        "--save-rc-stanza",
      ]);
      assert.equal(saved.code, 0, saved.stderr);
      const rc = readFileSync(join(home, ".fwknoprc"), "latin1");
      const key = /^KEY_BASE64\s+(\S+)$/m.exec(rc)?.[1] ?? "";
      const hmacKey = /^HMAC_KEY_BASE64\s+(\S+)$/m.exec(rc)?.[1] ?? "";
      server = new CFwknopd(rig, { access: tutorialAccessConf(key, hmacKey) });
      await server.start();
      assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false);
      const knock = await fwknop(["-n", SERVER_IP]);
      assert.equal(knock.code, 0, knock.stderr);
      assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000, 20), server.logs());
    } finally {
      await server?.stop();
      await rig.teardown();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
