/**
 * Several gateways, one replay memory (REPLAY_STORE redis, ours; issue 16). Two fwknopd run in
 * two namespaces: gateway A in the rig's server namespace (198.18.0.1, PRIVSEP Y, REDIS_FAIL
 * closed, the URL with its password in REDIS_URL_FILE) and gateway B in one more namespace
 * (198.18.2.1, PRIVSEP N, REDIS_FAIL local). A real redis-server, started here with its own
 * configuration and a password, runs in the client namespace, which reaches both (198.18.0.2 and
 * 198.18.2.2); nothing listens outside the rig's namespaces. Redis is killed by its PID and
 * started again to show each failure policy and the reconciliation.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const PORT = 1234;
const B_IP = "198.18.2.1";
const B_CLIENT_IP = "198.18.2.2";
const REDIS_PORT = 6399;
const PASSWORD = randomBytes(12).toString("hex");
const keys = { key: randomBytes(32), hmac: randomBytes(64) };
const ACCESS = `SOURCE ANY\nOPEN_PORTS tcp/${PORT}\nFW_ACCESS_TIMEOUT 60\nKEY_BASE64 ${keys.key.toString("base64")}\nHMAC_KEY_BASE64 ${keys.hmac.toString("base64")}\n`;
const wire = (): string =>
  freshSpaWire(
    { mode: "cbc", key: keys.key, hmac: { type: "sha256", key: keys.hmac } },
    { messageType: 1, message: `${CLIENT_IP},tcp/${PORT}` },
  );
const GRANTED = /Added access for user/g;
const grantsIn = (log: string): number => (log.match(GRANTED) ?? []).length;
const common =
  "ENABLE_UDP_SERVER Y;\nREPLAY_STORE redis;\nGRANT_JOURNAL Y;\nREDIS_KEY_PREFIX e2e:;\n";

describe("several gateways, one replay memory (REPLAY_STORE redis)", () => {
  let rig: Rig;
  let nsB: string;
  let a: TsFwknopd;
  let b: TsFwknopd;
  let redis: ChildProcess | null = null;
  let redisDir: string;
  let redisLog = "";

  const startRedis = async (): Promise<void> => {
    redisLog = "";
    // Its own configuration on the command line: no persistence, a password, only the rig's addresses.
    const p = rig.spawn(rig.clientNs, [
      "/usr/bin/redis-server",
      "--port",
      String(REDIS_PORT),
      "--bind",
      `${CLIENT_IP} ${B_CLIENT_IP}`,
      "--requirepass",
      PASSWORD,
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      redisDir,
      "--maxmemory-policy",
      "noeviction",
    ]);
    p.stdout?.on("data", (d: Buffer) => (redisLog += d.toString()));
    redis = p;
    assert.ok(await waitFor(() => /Ready to accept connections/.test(redisLog), 10_000), redisLog);
  };
  const killRedis = async (): Promise<void> => {
    const p = redis;
    if (p === null || p.exitCode !== null) return;
    p.kill("SIGKILL");
    await waitFor(() => p.exitCode !== null || p.signalCode !== null, 5000);
    redis = null;
  };
  const logs = (): string => `--- A ---\n${a.logs()}\n--- B ---\n${b.logs()}`;

  before(async () => {
    rig = await createRig({ protectedPort: PORT, deny: "debian-nftables" });
    await rig.ask(rig.serverNs, { op: "listen", port: PORT });
    nsB = await rig.addNamespace("b");
    rig.veth(rig.clientNs, "veth1", nsB, "veth0");
    await rig.must(rig.clientNs, ["ip", "addr", "add", `${B_CLIENT_IP}/24`, "dev", "veth1"]);
    await rig.must(rig.clientNs, ["ip", "link", "set", "veth1", "up"]);
    await rig.must(nsB, ["ip", "addr", "add", `${B_IP}/24`, "dev", "veth0"]);
    await rig.must(nsB, ["ip", "link", "set", "veth0", "up"]);
    redisDir = rig.tempDir("fwkts-redis-");
    await startRedis();
    a = new TsFwknopd(
      rig,
      `${common}GATEWAY_NAME gw-a;\nREDIS_FAIL closed;\nREDIS_URL_FILE ${join(redisDir, "url")};\n`,
      ACCESS,
    );
    writeFileSync(join(redisDir, "url"), `redis://:${PASSWORD}@${CLIENT_IP}:${REDIS_PORT}/0\n`, {
      mode: 0o600,
    });
    b = new TsFwknopd(
      rig,
      `${common}GATEWAY_NAME gw-b;\nREDIS_FAIL local;\nPRIVSEP N;\nREDIS_URL redis://:${PASSWORD}@${B_CLIENT_IP}:${REDIS_PORT}/0;\n`,
      ACCESS,
      (argv) => ["ip", "netns", "exec", nsB, ...argv],
    );
    await Promise.all([a.start(), b.start()]);
    assert.ok(await a.waitForLog(/Redis replay store .*: connected/, 10_000), logs());
    assert.ok(await b.waitForLog(/Redis replay store .*: connected/, 10_000), logs());
  });
  after(async () => {
    await Promise.allSettled([a.stop(), b.stop()]);
    a.cleanup();
    b.cleanup();
    await killRedis();
    await rig.teardown();
  });

  it("one packet sent to both gateways at once: exactly one grant, the other says replay", async () => {
    const w = wire();
    await Promise.all([rig.sendUdp(SERVER_IP, 62201, w), rig.sendUdp(B_IP, 62201, w)]);
    const replay = /Replay detected from source IP: 198\.18\.\d\.2, destination IP: /;
    assert.ok(await waitFor(() => replay.test(a.logs() + b.logs()), 5000), logs());
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(grantsIn(a.logs()) + grantsIn(b.logs()), 1, logs());
  });

  it("a packet A granted, replayed to B: refused with C's replay line", async () => {
    const before = grantsIn(b.logs());
    const replaysB = (b.logs().match(/Replay detected/g) ?? []).length;
    const ga = grantsIn(a.logs());
    const w = wire();
    await rig.sendUdp(SERVER_IP, 62201, w);
    assert.ok(await waitFor(() => grantsIn(a.logs()) > ga, 5000), logs());
    assert.ok(await rig.tcpConnect(SERVER_IP, PORT, 1000), logs());
    await waitFor(() => false, 200);
    await rig.sendUdp(B_IP, 62201, w);
    const line = /Replay detected from source IP: 198\.18\.2\.2, destination IP: /g;
    assert.ok(await waitFor(() => (b.logs().match(line) ?? []).length > replaysB, 5000), logs());
    assert.equal(grantsIn(b.logs()), before, logs());
  });

  it("--status --all-gateways lists the grants of both gateways", async () => {
    await rig.sendUdp(B_IP, 62201, wire());
    assert.ok(await waitFor(() => grantsIn(b.logs()) >= 1, 5000), logs());
    await new Promise((r) => setTimeout(r, 300));
    const r = await a.command(["--status", "--all-gateways"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /on 2 gateway\(s\)/, r.stdout);
    assert.match(r.stdout, /gw-a .*198\.18\.0\.2 +tcp\/1234/, r.stdout);
    assert.match(r.stdout, /gw-b .*198\.18\.0\.2 +tcp\/1234 .*SPA from 198\.18\.2\.2/, r.stdout);
    assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
  });

  it("Redis killed: closed refuses, local grants with a warning; Redis back: shared again", async () => {
    const [ga, gb] = [grantsIn(a.logs()), grantsIn(b.logs())];
    await killRedis();
    assert.ok(await a.waitForLog(/Redis replay store .*: unavailable/, 5000), logs());
    await rig.sendUdp(SERVER_IP, 62201, wire());
    assert.ok(
      await a.waitForLog(
        /Redis replay store unavailable .*refused SPA packet from source IP: 198\.18\.0\.2 \(REDIS_FAIL closed\)/,
        5000,
      ),
      logs(),
    );
    assert.equal(grantsIn(a.logs()), ga, logs());
    const duringOutage = wire();
    await rig.sendUdp(B_IP, 62201, duringOutage);
    assert.ok(
      await b.waitForLog(
        /checked against this gateway's digest cache only \(REDIS_FAIL local\)/,
        5000,
      ),
      logs(),
    );
    assert.ok(await waitFor(() => grantsIn(b.logs()) === gb + 1, 5000), logs());
    // A burst during the outage: neither hangs nor crashes either gateway.
    await rig.sendUdpMany(SERVER_IP, 62201, Array.from({ length: 50 }, wire));
    await startRedis();
    assert.ok(
      await a.waitForLog(
        /Redis replay store .*: connected[\s\S]*: unavailable[\s\S]*: connected/,
        15_000,
      ),
      logs(),
    );
    assert.ok(await b.waitForLog(/reconciled 1 claim\(s\)/, 15_000), logs());
    // The packet B granted alone is now in Redis: A refuses it.
    const aReplays = (a.logs().match(/Replay detected/g) ?? []).length;
    await rig.sendUdp(SERVER_IP, 62201, duringOutage);
    assert.ok(
      await waitFor(() => (a.logs().match(/Replay detected/g) ?? []).length > aReplays, 5000),
      logs(),
    );
    // And a new packet to both is granted once.
    const [ga2, gb2] = [grantsIn(a.logs()), grantsIn(b.logs())];
    const w = wire();
    await Promise.all([rig.sendUdp(SERVER_IP, 62201, w), rig.sendUdp(B_IP, 62201, w)]);
    assert.ok(await waitFor(() => grantsIn(a.logs()) + grantsIn(b.logs()) > ga2 + gb2, 5000));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(grantsIn(a.logs()) + grantsIn(b.logs()), ga2 + gb2 + 1, logs());
    assert.equal(a.pid !== undefined && b.pid !== undefined, true);
  });
});
