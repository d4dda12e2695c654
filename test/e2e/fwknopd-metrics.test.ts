/**
 * METRICS_LISTEN (ours): /metrics counts a grant, a replay and a bad HMAC as they happened, and
 * /healthz answers; both read from inside the server's namespace, where the daemon runs.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): Buffer => randomBytes(n);
const key = b64(32);
const hmacKey = b64(64);
const keys = (hmac: Buffer) => ({ mode: "cbc", key, hmac: { type: "sha256", key: hmac } }) as const;

/** GET (or another method) from inside the server namespace, with node's fetch. */
async function http(
  rig: Rig,
  path: string,
  method = "GET",
): Promise<{ status: number; type: string; body: string }> {
  const script = `fetch(${JSON.stringify(`http://127.0.0.1:9930${path}`)}, { method: ${JSON.stringify(method)} })
    .then(async (r) => console.log(JSON.stringify({ status: r.status, type: r.headers.get("content-type"), body: await r.text() })))
    .catch((e) => { console.error(String(e)); process.exit(1); });`;
  const r = await rig.run(rig.serverNs, [process.execPath, "-e", script]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { status: number; type: string; body: string };
}

/** The value of one sample line, e.g. `fwknopd_spa_rejected_total{reason="replay"}`. */
function sample(text: string, name: string): number | null {
  for (const line of text.split("\n"))
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  return null;
}

describe("fwknopd metrics (METRICS_LISTEN)", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig({ servicePort: 1234 });
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE nftables;\nMETRICS_LISTEN 127.0.0.1:9930;\n",
      `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 30\nKEY_BASE64 ${key.toString("base64")}\nHMAC_KEY_BASE64 ${hmacKey.toString("base64")}\n`,
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("/healthz answers 200 with the parts up; other paths and methods are refused", async () => {
    // The line can come down the pipe after the "Listening" one that start() waits for.
    assert.ok(
      await d.waitForLog(/Metrics: http:\/\/127\.0\.0\.1:9930\/metrics and \/healthz/),
      d.logs(),
    );
    const h = await http(rig, "/healthz");
    assert.equal(h.status, 200);
    assert.deepEqual(JSON.parse(h.body), { ok: true, parts: { listeners: true, firewall: true } });
    assert.equal((await http(rig, "/")).status, 404);
    assert.equal((await http(rig, "/metrics", "POST")).status, 405);
  });

  it("counts a grant, a replay and a bad HMAC", async () => {
    const m0 = (await http(rig, "/metrics")).body;
    assert.equal(sample(m0, "fwknopd_spa_packets_total"), 0);
    assert.equal(sample(m0, 'fwknopd_spa_rejected_total{reason="replay"}'), 0);
    const good = freshSpaWire(keys(hmacKey), { message: `${CLIENT_IP},tcp/1234` });
    await rig.sendUdp(SERVER_IP, 62201, good);
    assert.ok(await d.waitForLog(/Added access/), d.logs());
    await rig.sendUdp(SERVER_IP, 62201, good);
    assert.ok(await d.waitForLog(/Replay detected/), d.logs());
    await rig.sendUdp(SERVER_IP, 62201, freshSpaWire(keys(b64(64))));
    assert.ok(await d.waitForLog(/Non-corresponding HMAC/), d.logs());

    const m = await http(rig, "/metrics");
    assert.equal(m.status, 200);
    assert.match(m.type, /^text\/plain; version=0\.0\.4/);
    const t = m.body;
    assert.equal(sample(t, "fwknopd_spa_packets_total"), 3, t);
    assert.equal(sample(t, 'fwknopd_spa_rejected_total{reason="replay"}'), 1, t);
    assert.equal(sample(t, 'fwknopd_spa_rejected_total{reason="hmac_mismatch"}'), 1, t);
    assert.equal(sample(t, 'fwknopd_spa_rejected_total{reason="decrypt_failed"}'), 0, t);
    assert.equal(sample(t, 'fwknopd_grants_total{backend="nftables"}'), 1, t);
    assert.equal(sample(t, "fwknopd_grants_active"), 1, t);
    assert.equal(sample(t, "fwknopd_grant_seconds_count"), 1, t);
    assert.ok((sample(t, "fwknopd_grant_seconds_sum") ?? 1) < 1, t);
    assert.equal(sample(t, "fwknopd_firewall_errors_total"), 0, t);
    assert.equal(sample(t, "fwknopd_replay_cache_entries"), 1, t);
    assert.ok((sample(t, "process_cpu_seconds_total") ?? -1) >= 0, "no process metrics");
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234), 2000), "the grant is open");
  });
});
