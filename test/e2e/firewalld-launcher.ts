/**
 * Runs inside a test's network namespace and a private mount namespace (see firewalld.ts): gives
 * dbus and firewalld private run directories (and a private firewalld.conf), starts a system bus
 * and firewalld, prints "READY" once `firewall-cmd --state` says running, and stops both when its
 * stdin closes. Nothing here touches the host's /run/dbus, /run/firewalld or /etc/firewalld.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const backend = process.argv[2] === "iptables" ? "iptables" : "nftables";
const run = (argv: string[]): string =>
  execFileSync(argv[0] ?? "", argv.slice(1), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });

for (const d of ["/run/dbus", "/run/firewalld", "/var/lib/firewalld"]) {
  run(["mkdir", "-p", d]);
  run(["mount", "-t", "tmpfs", "tmpfs", d]);
}
// A private copy of /etc/firewalld, so neither the backend choice nor anything firewalld writes
// reaches the host's configuration.
const etc = mkdtempSync(join(tmpdir(), "firewalld-etc-"));
run(["cp", "-a", "/etc/firewalld/.", etc]);
const confPath = join(etc, "firewalld.conf");
writeFileSync(
  confPath,
  readFileSync(confPath, "utf8").replace(/^FirewallBackend=.*$/m, `FirewallBackend=${backend}`),
);
run(["mount", "--bind", etc, "/etc/firewalld"]);

// Both stay our children (no --fork), so stopping the launcher stops them.
const dbus = spawn("dbus-daemon", ["--system", "--nofork", "--nopidfile"], { stdio: "ignore" });
const fw = spawn(
  "firewalld",
  ["--nofork", "--nopid", "--log-file", "/run/firewalld/firewalld.log"],
  { stdio: "ignore" },
);
const stopAll = (): void => {
  fw.kill("SIGTERM");
  dbus.kill("SIGTERM");
  setTimeout(() => {
    fw.kill("SIGKILL");
    dbus.kill("SIGKILL");
    process.exit(0);
  }, 500);
};
process.on("SIGTERM", stopAll);
process.on("SIGINT", stopAll);

const deadline = Date.now() + 30_000;
const wait = (): void => {
  let state = "";
  if (!existsSync("/run/dbus/system_bus_socket")) {
    setTimeout(wait, 100);
    return;
  }
  try {
    state = run(["firewall-cmd", "--state"]).trim();
  } catch {
    state = "";
  }
  if (state === "running") {
    process.stdout.write("READY\n");
    return;
  }
  if (Date.now() > deadline || fw.exitCode !== null) {
    process.stdout.write("FAILED\n");
    process.exit(1);
  }
  setTimeout(wait, 200);
};
wait();

process.stdin.resume();
process.stdin.on("end", stopAll);
