/**
 * Command messages and command cycles, run by our fwknopd for real (no firewall involved), from the
 * C client and ours. Hostile text never reaches a shell; a pending close survives a restart.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { knock } from "./knock.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");

describe("fwknopd command messages and command cycles", () => {
  let rig: Rig;
  let d: TsFwknopd;
  const out = mkdtempSync(join(tmpdir(), "cmd-out-"));
  const home = mkdtempSync(join(tmpdir(), "cmd-home-"));
  const [k1, h1, k2, h2] = [b64(32), b64(64), b64(32), b64(64)];
  const cmdKeys = ["--key-base64-rijndael", k1, "--key-base64-hmac", h1, "--use-hmac"];
  const cycleKeys = ["--key-base64-rijndael", k2, "--key-base64-hmac", h2, "--use-hmac"];
  const ours = (args: string[]): Promise<void> =>
    knock(rig, "ts", ["-D", SERVER_IP, ...args], home);
  const theirs = (args: string[]): Promise<void> =>
    knock(rig, "c", ["-D", SERVER_IP, ...args], home);
  const files = (): string[] => readdirSync(out).sort();

  before(async () => {
    rig = await createRig();
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE nftables;\nCMD_EXEC_TIMEOUT 5;\nENABLE_SPA_PACKET_AGING N;\n",
      [
        "SOURCE ANY",
        "ENABLE_CMD_EXEC Y",
        `KEY_BASE64 ${k1}`,
        `HMAC_KEY_BASE64 ${h1}`,
        "",
        "SOURCE ANY",
        `CMD_CYCLE_OPEN /usr/bin/touch ${out}/open_$IP_$PROTO_$PORT_$CLIENT_TIMEOUT`,
        `CMD_CYCLE_CLOSE /usr/bin/touch ${out}/close_$IP_$PORT`,
        "CMD_CYCLE_TIMER 2",
        `KEY_BASE64 ${k2}`,
        `HMAC_KEY_BASE64 ${h2}`,
        "",
      ].join("\n"),
    );
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
    rmSync(out, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  it("runs a command message from the C client (-C)", async () => {
    await theirs(["-a", CLIENT_IP, "-C", `/usr/bin/touch ${out}/c-client-ran`, ...cmdKeys]);
    assert.ok(await waitFor(() => existsSync(join(out, "c-client-ran")), 3000), d.logs());
    assert.ok(
      await d.waitForLog(
        /SPA command for user 'root' \(stanza #1\): \/usr\/bin\/touch .*c-client-ran -> exit status 0/,
      ),
    );
  });

  it("never hands command text to a shell: ; $() backticks and newlines stay arguments", async () => {
    for (const cmd of [
      `/bin/echo hi;/usr/bin/touch ${out}/pwned1`,
      `/bin/echo $(/usr/bin/touch ${out}/pwned2)`,
      `/bin/echo \`/usr/bin/touch ${out}/pwned3\``,
      `/bin/echo one\n/usr/bin/touch ${out}/pwned4`,
      `/bin/echo |/usr/bin/touch ${out}/pwned5 && /usr/bin/touch ${out}/pwned6`,
    ]) {
      await ours(["-a", CLIENT_IP, "-C", cmd, ...cmdKeys]);
    }
    assert.ok(
      await waitFor(
        () =>
          (d.logs().match(/SPA command for user 'root' \(stanza #1\): \/bin\/echo/g) ?? [])
            .length === 5,
        5000,
      ),
      d.logs(),
    );
    assert.deepEqual(
      files().filter((f) => f.startsWith("pwned")),
      [],
    );
  });

  it("runs a command cycle: open at once with the substitutions, close after CMD_CYCLE_TIMER", async () => {
    await ours(["-A", "tcp/1234", "-a", CLIENT_IP, "-U", "$(touch x)`id`", ...cycleKeys]);
    assert.ok(
      await waitFor(() => files().includes("open_198.18.0.2_6_1234_2"), 3000),
      `${files().join(",")}\n${d.logs()}`,
    );
    assert.equal(files().includes("close_198.18.0.2_1234"), false, "closed too early");
    assert.ok(await waitFor(() => files().includes("close_198.18.0.2_1234"), 5000), d.logs());
    assert.ok(
      !existsSync(join(REPO, "x")) && !files().includes("x"),
      "the username reached a shell",
    );
  });

  it("keeps a pending close across a restart", async () => {
    await ours(["-A", "tcp/2222", "-a", CLIENT_IP, "-f", "3", ...cycleKeys]);
    assert.ok(await waitFor(() => files().includes("open_198.18.0.2_6_2222_3"), 3000), d.logs());
    await d.stop();
    assert.equal(files().includes("close_198.18.0.2_2222"), false);
    await d.start();
    assert.match(d.logs(), /Command cycles: 1 pending close command\(s\) rescheduled/);
    assert.ok(await waitFor(() => files().includes("close_198.18.0.2_2222"), 6000), d.logs());
  });
});
