/**
 * `npm run demo`: the whole job, for real, in two throwaway network namespaces.
 * The server namespace runs a TCP service on port 1234 behind an nftables ruleset that drops
 * everything by default; fwknop-ts's fwknopd guards it; the fwknop-ts client sends one SPA packet;
 * the port opens for this client only; the kernel closes it again when the grant expires.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor } from "../test/e2e/rig.js";
import { TsFwknopd } from "../test/e2e/ts-fwknopd.js";

const say = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const GRANT_SECS = 5;

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say("The demo needs root (it creates network namespaces). Run: sudo npm run demo");
    return 1;
  }
  const rig = await createRig();
  const home = mkdtempSync(join(tmpdir(), "fwknop-demo-"));
  const key = randomBytes(32).toString("base64");
  const hmacKey = randomBytes(64).toString("base64");
  const server = new TsFwknopd(
    rig,
    // No firewall lines: fwknopd reads the host's ruleset and finds where its accept must go.
    "ENABLE_UDP_SERVER Y;\n",
    `SOURCE ANY\nOPEN_PORTS tcp/1234\nREQUIRE_SOURCE_ADDRESS Y\nFW_ACCESS_TIMEOUT ${GRANT_SECS}\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
  );
  try {
    say(
      `[1] namespaces ${rig.serverNs} (server ${SERVER_IP}) and ${rig.clientNs} (client ${CLIENT_IP})`,
    );
    await rig.startService(1234);
    await rig.defaultDeny("debian-nftables", 1234);
    say(
      "[2] server: a service on tcp/1234; its nftables ruleset (Debian's nftables.conf shape) drops everything by default",
    );
    say(
      `    client -> ${SERVER_IP}:1234 ... ${(await rig.tcpConnect(SERVER_IP, 1234)) ? "OPEN (unexpected!)" : "no answer (dropped)"}`,
    );

    await server.start();
    say(`[3] fwknopd (fwknop-ts) on udp/62201, grants last ${GRANT_SECS} s, no firewall settings`);
    const backend = /Firewall backend: .*/.exec(server.logs());
    if (backend !== null) say(`    fwknopd: ${backend[0]}`);
    const parser = /Packet parser: .*/.exec(server.logs());
    if (parser !== null) say(`    fwknopd: ${parser[0]}`);

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

    const opened = await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000, 10);
    say(
      `[5] client -> ${SERVER_IP}:1234 ... ${opened ? `OPEN, ${Date.now() - t0} ms after the client started` : "still closed (failure)"}`,
    );
    const added = /Added access .*/.exec(server.logs());
    if (added !== null) say(`    fwknopd: ${added[0]}`);
    const status = await server.command(["--status"]);
    for (const line of status.stdout.trim().split("\n")) say(`    fwknopd --status: ${line}`);

    const closed = await waitFor(
      async () => !(await rig.tcpConnect(SERVER_IP, 1234, 200)),
      (GRANT_SECS + 5) * 1000,
      250,
    );
    say(
      `[6] grant expired: client -> ${SERVER_IP}:1234 ... ${closed ? `closed again after ${((Date.now() - t0) / 1000).toFixed(1)} s` : "STILL OPEN (failure)"}`,
    );
    say(
      opened && closed
        ? "\nDemo OK: closed -> one SPA packet -> open -> closed."
        : "\nDemo FAILED.",
    );
    return opened && closed ? 0 : 1;
  } finally {
    await server.stop();
    server.cleanup();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
    say("[7] namespaces removed");
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
