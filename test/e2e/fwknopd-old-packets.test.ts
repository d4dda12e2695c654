/**
 * Our fwknopd and packets stamped long ago (issue 15):
 * - upstream's "Android 4.1.2" legacy-IV packet of 2012, granted with aging off as C grants it;
 * - a packet granted under a wide MAX_SPA_PACKET_AGE, its digest then dropped under a narrow one,
 *   is refused after a restart with the wide window again, and after -R with aging off; C fwknopd
 *   takes the resulting digest.cache (our eighth field) and finds the replay too.
 * No waiting: the packets are stamped 100 s ago, and the digest.cache lines are aged by the same
 * 100 s (their <time> field), which is the file a daemon run 100 s ago would have left.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { SpaKeys } from "../../src/spa/index.js";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CFwknopd } from "./c-fwknopd.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

/** From upstream's test/tests/rijndael_backwards_compatibility.pl ("Android compatibility", v4.1.2). */
const ANDROID_412 =
  "+59hIQhS1RlmqYLXNM/hPxtBAQTB5y3UKZq13O+r6qmg+APdQ+HQOI7d4QCsp14s8KJpW8qBzZ/n0aZCFCFdZnvdZeJJVb" +
  "oQu4joQFKZ8mmKwR/5DIO7k3qrXYGxYP0bnHYsih0HIE6CzSHlBGSfDJR92YhjYtL4Q";

describe("upstream's Android 4.1.2 packet, ENCRYPTION_MODE legacy, aging off", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig({ servicePort: 22, deny: "nftables" });
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nENABLE_SPA_PACKET_AGING N;\nFIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet admin input;\n",
      // upstream's test/conf/android_legacy_iv_access.conf
      "SOURCE ANY\nKEY asdfasdf\nFW_ACCESS_TIMEOUT 3\nENCRYPTION_MODE legacy\n",
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("opens tcp/22 for the client timeout the packet carries, and refuses it again as a replay", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, 22), false, "tcp/22 open before the packet");
    await rig.sendUdp(SERVER_IP, 62201, ANDROID_412);
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 22, 200), 3000, 20), d.logs());
    assert.match(d.logs(), /NO_USER/);
    await rig.sendUdp(SERVER_IP, 62201, ANDROID_412);
    assert.ok(await d.waitForLog(/Replay detected from source IP: 198\.18\.0\.2/), d.logs());
  });
});

describe("replay after the packet-age window changes", () => {
  const key = randomBytes(32);
  const hmacKey = randomBytes(64);
  const keys: SpaKeys = { mode: "cbc", key, hmac: { type: "sha256", key: hmacKey } };
  const access = [
    "SOURCE ANY",
    "OPEN_PORTS tcp/1234",
    "FW_ACCESS_TIMEOUT 2",
    `KEY_BASE64 ${key.toString("base64")}`,
    `HMAC_KEY_BASE64 ${hmacKey.toString("base64")}`,
    "",
  ].join("\n");
  const stamped = Math.floor(Date.now() / 1000) - 100;
  const P = freshSpaWire(keys, { timestamp: stamped, message: `${CLIENT_IP},tcp/1234` });
  const Q = freshSpaWire(keys, { timestamp: stamped, message: `${CLIENT_IP},tcp/1234` });
  let rig: Rig;
  let d: TsFwknopd;
  const digestFile = (): string => join(d.run, "digest.cache");
  const configure = (aging: string): void => {
    writeFileSync(
      d.conf,
      `ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet admin input;\n${aging}\nFWKNOP_RUN_DIR ${d.run};\n`,
      { mode: 0o600 },
    );
  };
  /** Send `wire`; resolve with the log lines it caused once `done` shows among them. */
  const send = async (wire: string, done: RegExp): Promise<string> => {
    const at = d.logs().length;
    await rig.sendUdp(SERVER_IP, 62201, wire);
    assert.ok(
      await waitFor(() => done.test(d.logs().slice(at)), 5000),
      `expected ${String(done)} in:\n${d.logs().slice(at)}`,
    );
    return d.logs().slice(at);
  };
  const refusedOld = async (wire: string): Promise<void> => {
    const out = await send(
      wire,
      /older than the digest cache remembers|Added access|Replay detected/,
    );
    assert.doesNotMatch(out, /Added access/, "granted again");
    assert.match(out, /older than the digest cache remembers/);
  };

  before(async () => {
    rig = await createRig({ servicePort: 1234, deny: "nftables" });
    d = new TsFwknopd(rig, "", access);
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("grants two packets stamped 100 s ago under MAX_SPA_PACKET_AGE 600", async () => {
    configure("MAX_SPA_PACKET_AGE 600;");
    await d.start();
    await send(P, /Added access/);
    await send(Q, /Added access/);
    await d.stop();
    // 100 s pass: the file as a daemon that granted them when they were fresh would have left it
    // (C's <time>, the seventh field, is when the line was written).
    const text = readFileSync(digestFile(), "latin1");
    writeFileSync(
      digestFile(),
      text.replace(
        /^((?:\S+ ){6})(\d+)/gm,
        (_, head: string, t: string) => `${head}${Number(t) - 100}`,
      ),
      { mode: 0o600 },
    );
  });

  it("drops their digests at a start with MAX_SPA_PACKET_AGE 5; -R to aging off still refuses Q", async () => {
    configure("MAX_SPA_PACKET_AGE 5;");
    await d.start();
    configure("ENABLE_SPA_PACKET_AGING N;");
    const r = await d.command(["-R"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await d.waitForLog(/Reloaded configuration/));
    await refusedOld(Q);
    assert.match(d.logs(), /2 dropped \(packets older than MAX_SPA_PACKET_AGE\)/);
    await d.stop();
  });

  it("refuses P after a restart with MAX_SPA_PACKET_AGE 600", async () => {
    configure("MAX_SPA_PACKET_AGE 600;");
    await d.start();
    await refusedOld(P);
    assert.match(d.logs(), /packets stamped before \d+ are refused/);
    await d.stop();
  });

  it("C fwknopd reads the file (eight fields) and finds the replay", async () => {
    const text = readFileSync(digestFile(), "latin1");
    assert.match(
      text,
      new RegExp(` 62201 \\d+ ${stamped}$`, "m"),
      "the burnt refusals, eight fields",
    );
    const c = new CFwknopd(rig, { access, testMode: true, conf: "ENABLE_SPA_PACKET_AGING N;" });
    mkdirSync(join(c.dir, "run"), { mode: 0o700, recursive: true });
    copyFileSync(digestFile(), c.digestFile);
    try {
      await c.start();
      assert.match(c.logs(), /Using Digest Cache: .* \(entry count = 2\)/);
      const at = c.mark();
      await rig.sendUdp(SERVER_IP, 62201, P);
      assert.ok(
        await c.waitForLog(/Replay detected from source IP: 198\.18\.0\.2/, 5000, at),
        c.logs(),
      );
    } finally {
      await c.stop();
    }
  });
});
