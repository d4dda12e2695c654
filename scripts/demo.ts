/**
 * `npm run demo`: the whole job, for real, in two throwaway network namespaces.
 * A TCP service on port 1234 sits behind a default-deny; the fwknop-ts client sends one SPA packet;
 * the server opens the port for this client only; the grant expires and the port closes again.
 * The server here is the Debian C fwknopd until the fwknop-ts daemon lands.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CFwknopd } from "../test/e2e/c-fwknopd.js";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor } from "../test/e2e/rig.js";

const say = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const GRANT_SECS = 5;

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say("The demo needs root (it creates network namespaces). Run: sudo npm run demo");
    return 1;
  }
  if (!existsSync("/usr/sbin/fwknopd")) {
    say("The demo's server is the C fwknopd: apt-get install fwknop-server (see .ci/run)");
    return 1;
  }
  const rig = await createRig();
  const home = mkdtempSync(join(tmpdir(), "fwknop-demo-"));
  let server: CFwknopd | null = null;
  try {
    say(
      `[1] namespaces ${rig.serverNs} (server ${SERVER_IP}) and ${rig.clientNs} (client ${CLIENT_IP})`,
    );
    await rig.startService(1234);
    await rig.defaultDeny("iptables", 1234);
    say(`[2] server: a service on tcp/1234 behind a default-deny`);
    say(
      `    client -> ${SERVER_IP}:1234 ... ${(await rig.tcpConnect(SERVER_IP, 1234)) ? "OPEN (unexpected!)" : "refused"}`,
    );

    const key = randomBytes(32).toString("base64");
    const hmacKey = randomBytes(64).toString("base64");
    server = new CFwknopd(rig, {
      access: `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT ${GRANT_SECS}\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
    });
    await server.start();
    say(`[3] fwknopd listening on udp/62201, grants last ${GRANT_SECS} s`);

    const argv = ["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, "--key-base64-rijndael", key];
    argv.push("--key-base64-hmac", hmacKey, "--use-hmac", "--no-save-args");
    say(
      `[4] client: fwknop ${argv.join(" ").replace(key, "<KEY>").replace(hmacKey, "<HMAC_KEY>")}`,
    );
    const t0 = Date.now();
    const sent = await rig.run(
      rig.clientNs,
      [process.execPath, join(REPO, "bin", "fwknop"), ...argv],
      {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
      },
    );
    if (sent.code !== 0) throw new Error(`client failed: ${sent.stderr}`);

    const opened = await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000, 20);
    say(
      `[5] client -> ${SERVER_IP}:1234 ... ${opened ? `OPEN after ${Date.now() - t0} ms` : "still refused (failure)"}`,
    );
    const rule = /Added access rule to FWKNOP_INPUT for .*/.exec(server.logs());
    if (rule !== null) say(`    fwknopd: ${rule[0]}`);

    const closed = await waitFor(
      async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)),
      (GRANT_SECS + 6) * 1000,
      250,
    );
    say(
      `[6] grant expired: client -> ${SERVER_IP}:1234 ... ${closed ? `refused again after ${((Date.now() - t0) / 1000).toFixed(1)} s` : "STILL OPEN (failure)"}`,
    );
    say(
      opened && closed
        ? "\nDemo OK: closed -> one SPA packet -> open -> closed."
        : "\nDemo FAILED.",
    );
    return opened && closed ? 0 : 1;
  } finally {
    await server?.stop();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
    say(`[7] namespaces removed`);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
