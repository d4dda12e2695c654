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
import { after, before, describe, it } from "node:test";
import { SERVER_IP, waitFor, type Rig } from "./rig.js";
import type { TsFwknopd } from "./ts-fwknopd.js";
import { B_IP, PORT, RedisGateways, wire } from "./redis-gateways.js";

const GRANTED = /Added access for user/g;
const grantsIn = (log: string): number => (log.match(GRANTED) ?? []).length;
const common =
  "ENABLE_UDP_SERVER Y;\nREPLAY_STORE redis;\nGRANT_JOURNAL Y;\nREDIS_KEY_PREFIX e2e:;\n";

describe("several gateways, one replay memory (REPLAY_STORE redis)", () => {
  const g = new RedisGateways();
  let rig: Rig;
  let a: TsFwknopd;
  let b: TsFwknopd;
  const logs = (): string => `--- A ---\n${a.logs()}\n--- B ---\n${b.logs()}`;

  before(async () => {
    await g.setUp();
    rig = g.rig;
    a = g.gateway(
      "a",
      `${common}GATEWAY_NAME gw-a;\nREDIS_FAIL closed;\nREDIS_URL_FILE ${g.urlFile("a")};\n`,
    );
    b = g.gateway(
      "b",
      `${common}GATEWAY_NAME gw-b;\nREDIS_FAIL local;\nPRIVSEP N;\nREDIS_URL ${g.url("b")};\n`,
    );
    await Promise.all([a.start(), b.start()]);
    assert.ok(await a.waitForLog(/Redis replay store .*: connected/, 10_000), logs());
    assert.ok(await b.waitForLog(/Redis replay store .*: connected/, 10_000), logs());
  });
  after(async () => {
    await Promise.allSettled([a.stop(), b.stop()]);
    a.cleanup();
    b.cleanup();
    await g.teardown();
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
    assert.ok(!r.stdout.includes(g.password) && !r.stderr.includes(g.password));
  });

  it("Redis killed: closed refuses, local grants with a warning; Redis back: shared again", async () => {
    const [ga, gb] = [grantsIn(a.logs()), grantsIn(b.logs())];
    await g.killRedis();
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
    await g.startRedis();
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
