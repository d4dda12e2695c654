/**
 * The firewalld harness itself (firewalld.ts): a real firewalld in the rig's server namespace,
 * reached with firewall-cmd through its private bus. With FirewallBackend=iptables the default
 * zone keeps tcp/1234 closed, a direct passthrough ACCEPT like C fwknopd's opens it and deleting
 * the rule closes it again. With the nftables backend (Debian 12's default) the same passthrough
 * succeeds but opens nothing: firewalld's own nft table still rejects the packet.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { startFirewalld, type Firewalld, type FirewalldBackend } from "./firewalld.js";
import { CLIENT_IP, SERVER_IP, createRig, type Rig } from "./rig.js";

const skip =
  !existsSync("/usr/sbin/firewalld") && "firewalld is not installed (.ci/run installs it)";
const RULE = ["-p", "6", "-s", CLIENT_IP, "--dport", "1234", "-j", "ACCEPT"];
const passthrough = (args: readonly string[]): string[] => [
  "--direct",
  "--passthrough",
  "ipv4",
  "-t",
  "filter",
  ...args,
];

/** PIDs of all processes in a mount namespace (e.g. "mnt:[4026532246]"). */
function pidsInMountNs(ns: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readlinkSync(`/proc/${d}/ns/mnt`) === ns;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function harness(backend: FirewalldBackend, body: (ctx: () => [Rig, Firewalld]) => void): void {
  describe(`real firewalld in the server namespace (FirewallBackend=${backend})`, { skip }, () => {
    let rig: Rig | null = null;
    let fw: Firewalld | null = null;
    before(async () => {
      rig = await createRig();
      fw = await startFirewalld(rig, backend);
      await rig.startService(1234);
    });
    after(async () => {
      await fw?.stop();
      await rig?.teardown();
    });
    body(() => {
      assert.ok(rig !== null && fw !== null, "harness did not start");
      return [rig, fw];
    });
  });
}

const must = async (fw: Firewalld, args: readonly string[]): Promise<string> => {
  const r = await fw.firewallCmd(args);
  assert.equal(r.code, 0, `firewall-cmd ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

harness("iptables", (ctx) => {
  it("runs with a private bus, private /run and the chosen backend", async () => {
    const [, fw] = ctx();
    assert.equal((await must(fw, ["--state"])).trim(), "running");
    assert.equal((await must(fw, ["--get-default-zone"])).trim(), "public");
    const run = await fw.exec(["ls", "/run/dbus", "/run/firewalld"]);
    assert.match(run.stdout, /system_bus_socket/);
    const conf = await fw.exec(["grep", "^FirewallBackend=", "/etc/firewalld/firewalld.conf"]);
    assert.equal(conf.stdout.trim(), "FirewallBackend=iptables");
    // The host's own files are untouched: no bus socket, its firewalld.conf as it was.
    assert.equal(existsSync("/run/dbus/system_bus_socket"), false);
    assert.match(readFileSync("/etc/firewalld/firewalld.conf", "utf8"), /^FirewallBackend=/m);
    const rules = await fw.exec(["iptables", "-S", "INPUT"]);
    assert.match(rules.stdout, /-A INPUT -j INPUT_ZONES/);
  });

  it("tcp/1234 is closed, a direct passthrough ACCEPT opens it, deleting it closes it", async () => {
    const [rig, fw] = ctx();
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "closed by the default zone");
    assert.equal((await must(fw, passthrough(["-N", "FWKNOP_INPUT"]))).trim(), "success");
    await must(fw, passthrough(["-I", "INPUT", "1", "-j", "FWKNOP_INPUT"]));
    await must(fw, passthrough(["-A", "FWKNOP_INPUT", ...RULE]));
    const list = await must(fw, passthrough(["-L", "FWKNOP_INPUT", "-n"]));
    assert.match(list, /ACCEPT\s+(6|tcp)\s+--\s+198\.18\.0\.2\s+0\.0\.0\.0\/0\s+tcp dpt:1234/);
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), true, "opened by the ACCEPT");
    await must(fw, passthrough(["-D", "FWKNOP_INPUT", ...RULE]));
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "closed after the delete");
    const again = await fw.firewallCmd(passthrough(["-N", "FWKNOP_INPUT"]));
    assert.equal(again.code, 13, "COMMAND_FAILED for an existing chain");
    assert.match(again.stderr, /Chain already exists/);
  });

  it("spawn() runs a program there under its own PID; stop() leaves nothing behind", async () => {
    const [rig, fw] = ctx();
    const child = fw.spawn(["sleep", "60"]);
    const pid = child.pid ?? 0;
    // nsenter and setpriv exec, so the tracked PID soon is the program itself.
    for (let i = 0; i < 50 && readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "sleep"; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(readFileSync(`/proc/${pid}/comm`, "utf8").trim(), "sleep");
    const net = await rig.run(rig.serverNs, ["readlink", "/proc/self/ns/net"]);
    assert.equal(readlinkSync(`/proc/${pid}/ns/net`), net.stdout.trim());
    const mnt = readlinkSync(`/proc/${pid}/ns/mnt`);
    assert.ok(pidsInMountNs(mnt).length >= 3, "dbus-daemon, firewalld and sleep share it");
    await fw.stop();
    assert.notEqual(child.exitCode ?? child.signalCode, null, "spawned program was stopped");
    assert.deepEqual(pidsInMountNs(mnt), [], "nothing left in the private mount namespace");
  });
});

harness("nftables", (ctx) => {
  it("the same passthrough ACCEPT succeeds but opens nothing (firewalld's nft table rejects)", async () => {
    const [rig, fw] = ctx();
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false);
    await must(fw, passthrough(["-N", "FWKNOP_INPUT"]));
    await must(fw, passthrough(["-I", "INPUT", "1", "-j", "FWKNOP_INPUT"]));
    await must(fw, passthrough(["-A", "FWKNOP_INPUT", ...RULE]));
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "still closed");
    // The rule matched (its counter moved), yet `reject with icmpx admin-prohibited` in
    // table inet firewalld's filter_INPUT (priority filter + 10) had the last word.
    const counters = await fw.exec(["iptables", "-L", "FWKNOP_INPUT", "-n", "-v", "-x"]);
    assert.match(counters.stdout, /^\s*[1-9]\d*\s+\d+\s+ACCEPT/m);
    const tables = await fw.exec(["nft", "list", "tables"]);
    assert.match(tables.stdout, /table inet firewalld/);
  });
});
