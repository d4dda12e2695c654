/**
 * ENABLE_X_FORWARDED_FOR: SPA over HTTP through a proxy. Our client knocks with -s (allow IP
 * 0.0.0.0) and --http-proxy; a small HTTP proxy started by the test, in the server namespace,
 * forwards the request to fwknopd's TCP server with an X-Forwarded-For header, as proxies do.
 * fwknopd sees the proxy's address as the packet's source and, as C does, grants the forwarded
 * address instead; a header holding a chain is refused with C's warning and the packet's own
 * source is used.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const PORT = 1240;
const home = mkdtempSync(join(tmpdir(), "fwknopd-xff-home-"));
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, USER: "root" };
const key = randomBytes(32).toString("base64");
const hmacKey = randomBytes(64).toString("base64");
const knock = (proxyPort: number): string[] => [
  process.execPath,
  join(REPO, "bin", "fwknop"),
  "--no-save-args",
  ...["-A", `tcp/${PORT}`, "-s", "-D", SERVER_IP, "-P", "http"],
  ...["--http-proxy", `${SERVER_IP}:${proxyPort}`],
  ...["--key-base64-rijndael", key, "--key-base64-hmac", hmacKey, "--use-hmac"],
];

/**
 * The proxy: absolute-URI request line to path form, X-Forwarded-For added (on 8080 the client's
 * address; on 8081 a chain, as a second proxy would leave it), the request passed to fwknopd.
 */
const PROXY = `
const net = require("node:net");
for (const port of [8080, 8081])
  net.createServer((c) => {
    let buf = "";
    c.on("error", () => undefined);
    c.on("data", (d) => {
      buf += d.toString("latin1");
      if (!buf.includes("\\r\\n\\r\\n")) return;
      const nl = buf.indexOf("\\r\\n");
      const line = buf.slice(0, nl).replace(/^GET http:\\/\\/[^/]+/, "GET ");
      const client = c.remoteAddress.replace(/^::ffff:/, "");
      const xff = port === 8080 ? client : "198.51.100.1, " + client;
      const up = net.connect(62201, ${JSON.stringify(SERVER_IP)}, () => {
        up.end(line + "\\r\\nX-Forwarded-For: " + xff + buf.slice(nl));
      });
      up.on("error", () => undefined);
      c.end("HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n");
    });
  }).listen(port, ${JSON.stringify(SERVER_IP)});
`;

describe("SPA over HTTP through a proxy (ENABLE_X_FORWARDED_FOR)", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig();
    await rig.startService(PORT);
    await rig.defaultDeny("nftables", PORT);
    for (const p of [62201, 8080, 8081]) await rig.acceptTcp(p);
    const dir = rig.tempDir("xff-proxy-");
    const script = join(dir, "proxy.cjs");
    writeFileSync(script, PROXY);
    rig.spawn(rig.serverNs, [process.execPath, script]);
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nENABLE_TCP_SERVER Y;\nTCPSERV_PORT 62201;\nENABLE_SPA_OVER_HTTP Y;\nENABLE_X_FORWARDED_FOR Y;\nFIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet admin input;\n",
      `SOURCE ANY\nOPEN_PORTS tcp/${PORT}\nFW_ACCESS_TIMEOUT 20\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
  });

  it("grants the address the proxy forwarded for, not the proxy's", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT), false, "open before the knock");
    const r = await rig.run(rig.clientNs, knock(8080), { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      await d.waitForLog(
        new RegExp(
          `Added access for user '\\w+' \\(stanza #1\\) from ${CLIENT_IP.replace(/\./g, "\\.")} to tcp/${PORT}`,
        ),
      ),
      d.logs(),
    );
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, PORT, 200), 3000, 20), d.logs());
  });

  it("refuses a chain as C does, and grants the packet's own source instead", async () => {
    const r = await rig.run(rig.clientNs, knock(8081), { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      await d.waitForLog(
        /Error parsing X-Forwarded-For header: value '198\.51\.100\.1,' is not an IP address/,
      ),
      d.logs(),
    );
    assert.ok(
      await d.waitForLog(
        new RegExp(
          `Added access for user '\\w+' \\(stanza #1\\) from ${SERVER_IP.replace(/\./g, "\\.")} to tcp/${PORT}`,
        ),
      ),
      d.logs(),
    );
  });
});
