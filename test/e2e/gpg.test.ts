/**
 * GPG mode end to end in the namespace rig, real gpg keyrings, grants proven by TCP connects:
 * - the C client (Debian fwknop) -> our fwknopd, signed and unsigned, RSA and Curve25519;
 * - our client -> our fwknopd with a passphrase-protected Curve25519 server key (wire not "hQ");
 * - our client -> the C fwknopd, signed and unsigned (RSA: the only kind C can read);
 * - a signer outside the stanza's lists is refused; a bad HMAC never reaches gpg.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CFwknopd } from "./c-fwknopd.js";
import { GPG, Keyrings, type TestKey } from "./gpg-keys.js";
import { knock, type Client } from "./knock.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");
const keyrings = new Keyrings();
let server: { rsa: TestKey; ecc: TestKey };
let client: TestKey;
let mallory: TestKey;
const SERVER_ECC_PW = "server-ecc-passphrase";

before(async () => {
  const serverHome = keyrings.home("server");
  const clientHome = keyrings.home("client");
  const malloryHome = keyrings.home("mallory");
  server = {
    rsa: await keyrings.make(serverHome, "fwknopd-rsa <srv@example.test>", "rsa"),
    ecc: await keyrings.make(serverHome, "fwknopd-ecc <srv@example.test>", "ecc", SERVER_ECC_PW),
  };
  client = await keyrings.make(clientHome, "alice <alice@example.test>", "rsa");
  mallory = await keyrings.make(malloryHome, "mallory <mallory@example.test>", "ecc");
  for (const k of [server.rsa, server.ecc]) {
    await keyrings.give(k, clientHome, false);
    await keyrings.give(k, malloryHome, false);
  }
  // The server's keyring must find both signers valid (C needs validity >= marginal); only
  // alice is in the stanzas' lists.
  await keyrings.give(client, serverHome, true);
  await keyrings.give(mallory, serverHome, true);
});
after(async () => {
  await keyrings.close();
});

/** The C client's and our client's shared GPG flags. */
function gpgArgs(o: {
  user: string;
  port: number;
  hmacKey: string;
  recipient?: TestKey;
  signer?: TestKey | null;
}): string[] {
  const signer = o.signer === undefined ? client : o.signer;
  const home = signer?.home ?? client.home;
  return [
    ...["-A", `tcp/${o.port}`, "-a", CLIENT_IP, "-D", SERVER_IP, "-U", o.user],
    ...["--gpg-recipient-key", (o.recipient ?? server.rsa).fpr, "--gpg-home-dir", home],
    ...(signer !== null ? ["--gpg-signer-key", signer.fpr, "--gpg-no-signing-pw"] : []),
    ...["--use-hmac", "--key-base64-hmac", o.hmacKey],
  ];
}

/** An access.conf stanza for user `user` (REQUIRE_USERNAME), GPG settings in `gpg`. */
function stanza(user: string, ports: string, hmacKey: string, gpg: string[]): string {
  return [
    "SOURCE ANY",
    `OPEN_PORTS ${ports}`,
    `REQUIRE_USERNAME ${user}`,
    "FW_ACCESS_TIMEOUT 3",
    ...gpg,
    `HMAC_KEY_BASE64 ${hmacKey}`,
    "",
  ].join("\n");
}

/** nobody's uid and gid, from /etc/passwd (65534 on Debian). */
const NOBODY = ((): number => {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("nobody:"));
  return Number(line?.split(":")[2] ?? "65534");
})();

/** chown -R uid:uid of each directory. */
function giveTo(uid: number, dirs: readonly string[]): void {
  for (const dir of dirs) {
    chownSync(dir, uid, uid);
    for (const e of readdirSync(dir, { recursive: true, encoding: "utf8" }))
      chownSync(join(dir, e), uid, uid);
  }
}

/** Our client, signing with mallory's key (good, trusted, but in no stanza's lists). */
const knockAsMallory = (rig: Rig, home: string, port: number, hmacKey: string): Promise<void> =>
  knock(rig, "ts", gpgArgs({ user: "signed", port, hmacKey, signer: mallory }), home);

const opens = (rig: Rig, port: number): Promise<boolean> =>
  waitFor(() => rig.tcpConnect(SERVER_IP, port, 200), 8000, 50);

describe("GPG: clients -> our fwknopd (nftables)", () => {
  const PORTS = [1234, 1235, 1236, 1237, 1238];
  const hkSigned = b64(32);
  const hkUnsigned = b64(32);
  let rig: Rig;
  let d: TsFwknopd;
  let home: string;
  let gpgRuns: string;

  before(async () => {
    rig = await createRig();
    home = rig.tempDir("gpg-client-home-");
    for (const p of PORTS) await rig.startService(p);
    // Every gpg run of the daemon goes through this wrapper, which counts it.
    const wrapDir = rig.tempDir("gpg-wrapper-");
    gpgRuns = join(wrapDir, "runs");
    const wrapper = join(wrapDir, "gpg");
    writeFileSync(
      wrapper,
      [
        `#!${process.execPath}`,
        `require("node:fs").appendFileSync(${JSON.stringify(gpgRuns)}, "run\\n");`,
        `const r = require("node:child_process").spawnSync(${JSON.stringify(GPG)}, process.argv.slice(2), { stdio: [0, 1, 2, 3, 4] });`,
        "process.exit(r.status ?? 1);",
        "",
      ].join("\n"),
    );
    chmodSync(wrapper, 0o755);
    appendFileSync(gpgRuns, "");
    // gpg runs in the packet parser, as RUN_AS_USER nobody (PRIVSEP Y): the keyring is its, the
    // wrapper and its tally reachable by it. Given back to root after.
    giveTo(NOBODY, [server.rsa.home]);
    chmodSync(wrapDir, 0o755);
    chmodSync(gpgRuns, 0o666);
    const ports = PORTS.map((p) => `tcp/${p}`).join(", ");
    d = new TsFwknopd(
      rig,
      [
        "ENABLE_UDP_SERVER Y;",
        "NFT_PROTECT_PORTS Y;",
        "FIREWALL_TYPE nftables;",
        `GPG_HOME_DIR ${server.rsa.home};`,
        `GPG_EXE ${wrapper};`,
        "RUN_AS_USER nobody;",
      ].join("\n"),
      [
        stanza("signed", ports, hkSigned, [
          `GPG_DECRYPT_ID ${server.rsa.id8}`,
          `GPG_DECRYPT_PW ${SERVER_ECC_PW}`,
          `GPG_REMOTE_ID ${client.id8}`,
          `GPG_FINGERPRINT_ID ${client.fpr}`,
        ]),
        stanza("unsigned", ports, hkUnsigned, ["GPG_ALLOW_NO_PW Y", "GPG_DISABLE_SIG Y"]),
      ].join("\n"),
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
    giveTo(0, [server.rsa.home]);
  });

  const cases: Array<{ name: string; client: Client; port: number; args: () => string[] }> = [
    {
      name: "C client, signed (RSA)",
      client: "c",
      port: 1234,
      args: () => gpgArgs({ user: "signed", port: 1234, hmacKey: hkSigned }),
    },
    {
      name: "C client, unsigned (RSA)",
      client: "c",
      port: 1235,
      args: () => gpgArgs({ user: "unsigned", port: 1235, hmacKey: hkUnsigned, signer: null }),
    },
    {
      name: "C client, signed, Curve25519 server key: C strips 'hF' blindly, we recover it",
      client: "c",
      port: 1236,
      args: () => gpgArgs({ user: "signed", port: 1236, hmacKey: hkSigned, recipient: server.ecc }),
    },
  ];
  for (const c of cases)
    it(c.name, async () => {
      assert.equal(await rig.tcpConnect(SERVER_IP, c.port), false, "closed before");
      await knock(rig, c.client, c.args(), home);
      assert.ok(await opens(rig, c.port), `not opened:\n${d.logs()}`);
    });

  it("our client, signed, to a passphrase-protected Curve25519 key: the wire keeps 'hF'", async () => {
    const pkt = join(home, "ecc.spa");
    await knock(
      rig,
      "ts",
      [
        ...gpgArgs({ user: "signed", port: 1237, hmacKey: hkSigned, recipient: server.ecc }),
        "-B",
        pkt,
      ],
      home,
    );
    assert.match(readFileSync(pkt, "latin1"), /^hF/);
    assert.ok(await opens(rig, 1237), `not opened:\n${d.logs()}`);
    assert.ok(
      await d.waitForLog(new RegExp(`Incoming SPA data signed by '${client.id8}'`)),
      d.logs(),
    );
  });

  it("a good signature from a key outside GPG_FINGERPRINT_ID is refused", async () => {
    const before = d.logs().length;
    await knockAsMallory(rig, home, 1238, hkSigned);
    assert.ok(
      await d.waitForLog(
        new RegExp(
          `signed by: ${mallory.fpr}, but that fingerprint is not in the GPG_FINGERPRINT_ID list`,
        ),
      ),
      d.logs().slice(before),
    );
    assert.equal(await rig.tcpConnect(SERVER_IP, 1238), false, "mallory got in");
  });

  it("checks the HMAC before running gpg", async () => {
    const runs = (): number => readFileSync(gpgRuns, "latin1").split("\n").length - 1;
    const start = runs();
    assert.ok(start >= 4, `the accepted packets ran gpg (${start} runs)`);
    const before = d.logs().length;
    await knock(rig, "ts", gpgArgs({ user: "signed", port: 1238, hmacKey: b64(32) }), home);
    assert.ok(
      await waitFor(
        () =>
          (
            d
              .logs()
              .slice(before)
              .match(/Non-corresponding HMAC for this stanza/g) ?? []
          ).length === 2,
        5000,
      ),
      d.logs().slice(before),
    );
    assert.equal(runs(), start, "gpg ran for a packet whose HMAC did not match");
    assert.equal(await rig.tcpConnect(SERVER_IP, 1238), false);
  });
});

describe("GPG: our client -> C fwknopd (iptables)", () => {
  const hkSigned = b64(32);
  const hkUnsigned = b64(32);
  let rig: Rig;
  let c: CFwknopd;
  let home: string;

  before(async () => {
    rig = await createRig({ servicePort: 1234, deny: "iptables" });
    await rig.startService(1235);
    await rig.defaultDeny("iptables", 1235);
    home = rig.tempDir("gpg-client-home-");
    c = new CFwknopd(rig, {
      // gpg 2.2 ignores GPGME's passphrase callback, so C fwknopd needs a key without one.
      access: [
        stanza("signed", "tcp/1234", hkSigned, [
          `GPG_HOME_DIR ${server.rsa.home}`,
          `GPG_DECRYPT_ID ${server.rsa.id8}`,
          "GPG_ALLOW_NO_PW Y",
          `GPG_REMOTE_ID ${client.id8}`,
        ]),
        stanza("unsigned", "tcp/1235", hkUnsigned, [
          `GPG_HOME_DIR ${server.rsa.home}`,
          "GPG_ALLOW_NO_PW Y",
          "GPG_DISABLE_SIG Y",
        ]),
      ].join("\n"),
    });
    await c.start();
  });
  after(async () => {
    await c.stop();
    await rig.teardown();
  });

  it("signed", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false);
    await knock(rig, "ts", gpgArgs({ user: "signed", port: 1234, hmacKey: hkSigned }), home);
    assert.ok(await opens(rig, 1234), `not opened:\n${c.logs()}`);
  });

  it("unsigned", async () => {
    assert.equal(await rig.tcpConnect(SERVER_IP, 1235), false);
    await knock(
      rig,
      "ts",
      gpgArgs({ user: "unsigned", port: 1235, hmacKey: hkUnsigned, signer: null }),
      home,
    );
    assert.ok(await opens(rig, 1235), `not opened:\n${c.logs()}`);
  });

  it("a signer outside GPG_REMOTE_ID is refused", async () => {
    const at = c.mark();
    await knockAsMallory(rig, home, 1234, hkSigned);
    assert.ok(
      await c.waitForLog(/but that ID is not in the GPG_REMOTE_ID list/, 8000, at),
      c.logs().slice(at),
    );
  });
});
