/**
 * A real firewalld inside a rig's server network namespace (design.md, "Firewall backends"), with
 * its own system bus, so firewall-cmd (and a fwknopd driving it) can be tested without touching the
 * host's firewall, dbus, /run or /etc/firewalld.
 *
 *   const fw = await startFirewalld(rig);            // FirewallBackend=iptables, see below
 *   await fw.firewallCmd(["--direct", "--passthrough", "ipv4", "-t", "filter", "-N", "FWKNOP_INPUT"]);
 *   const d = fw.spawn([process.execPath, "bin/fwknopd", "-f", ...]);  // killed by fw.stop()
 *   ... fw.wrap(argv) / fw.wrapperArgv() to spawn elsewhere ...
 *   await fw.stop(); await rig.teardown();
 *
 * How (argv only): an NsHolder (ns-holder.ts: private mount + PID namespaces in the rig's
 * server netns, held by `cat` on a pipe from this process, so dbus and firewalld die with the test
 * process even on SIGKILL; H = the holder's PID):
 *   /run       a private tmpfs (so /run/dbus, /run/firewalld, /run/xtables.lock are private). Our
 *              files (a copy of /etc/firewalld with FirewallBackend set, a bus config) are written
 *              into it through /proc/H/root/run/fwkts, then bind-mounted over /etc/firewalld.
 *   dbus       nsenter ... --pid=/proc/H/ns/pid_for_children -- dbus-daemon
 *              --config-file=/run/fwkts/dbus.conf --nofork --nopidfile --print-address
 *   firewalld  nsenter ... --pid=... -- firewalld --nofork --nopid --log-target console
 *   ready      `firewall-cmd --state` prints "running" (polled every 100 ms)
 * wrapperArgv() = nsenter --mount=/proc/H/ns/mnt --net=/proc/H/ns/net -- setpriv --pdeathsig SIGKILL --
 * Neither nsenter (no PID namespace given) nor setpriv forks, so a child spawned with it has the
 * program's own PID (signals for reload/stop reach it), and it dies with its parent.
 *
 * Measured here (Debian 12, firewalld 1.3.3, iptables 1.8.9 nf_tables, kernel 6.18, busy 2-vCPU VM):
 * firewalld spawn -> `--state` running 0.6-3 s (typically ~1.3 s; iptables backend a bit slower),
 * whole startFirewalld() 1.5-3.3 s, one firewall-cmd call 0.25-0.9 s (Python start-up + dbus),
 * stop() 0.2-0.4 s (firewalld exits on SIGTERM after its cleanup).
 *
 * Findings and pitfalls:
 * - Backend: Debian 12's /etc/firewalld/firewalld.conf has FirewallBackend=nftables. Then
 *   `firewall-cmd --direct --passthrough ipv4 ...` runs iptables (iptables-nft here): the rule lands
 *   in nft `table ip filter` (hook priority 0) and matches (its counter moves), but firewalld's own
 *   `table inet firewalld`, chain filter_INPUT (priority filter + 10), still ends in `reject with
 *   icmpx admin-prohibited`. An ACCEPT in one nft table is not final, so C fwknopd's firewalld mode
 *   opens NOTHING with the nftables backend. With FirewallBackend=iptables firewalld builds classic
 *   chains (INPUT: conntrack, lo, INPUT_direct, INPUT_ZONES -> IN_public ... REJECT
 *   icmp-port-unreachable, then REJECT icmp-host-prohibited) in that same `ip filter` table, and the
 *   passthrough `-I INPUT 1 -j FWKNOP_INPUT` comes first, so its ACCEPT is final. Hence the default
 *   here is "iptables" (the passthrough tests); "nftables" is for rich rules (and shows the trap).
 * - Rich rules (the nftables backend's way, src/server/firewall/firewalld-rich.ts):
 *     firewall-cmd --zone=public --add-rich-rule='rule priority="-32201" family="ipv4" source
 *       address="198.18.0.2" port port="1234" protocol="tcp" accept' --timeout=60s
 *   lands as `ip saddr 198.18.0.2 tcp dport 1234 accept` in chain filter_IN_public_pre (negative
 *   priorities; filter_IN_public jumps to _pre, _log, _deny, _allow, _post in that order), final in
 *   firewalld's own table. Adding it again prints "Warning: ALREADY_ENABLED: ..." on stderr and
 *   exits 0, keeping the old timeout; removing a missing one: "Warning: NOT_ENABLED", exit 0. Over
 *   D-Bus both are org.fedoraproject.FirewallD1.Exception errors with that text. firewalld ends a
 *   timed rule itself (a GLib timer), so a SIGKILLed fwknopd leaves nothing open past its time.
 *   firewall-cmd --list-rich-rules prints it back verbatim (firewall/core/rich.py's own form).
 * - Probing a closed port: firewalld rejects with ICMP errors, which the kernel rate-limits per
 *   peer (net.ipv4.icmp_ratelimit); past the first few, a probe's SYN goes unanswered and waits
 *   out its connect timeout. Latency benches set icmp_ratelimit=0 in the server namespace.
 * - These work (exit 0, print "success"):
 *     firewall-cmd --direct --passthrough ipv4 -t filter -N FWKNOP_INPUT
 *     firewall-cmd --direct --passthrough ipv4 -t filter -I INPUT 1 -j FWKNOP_INPUT
 *     firewall-cmd --direct --passthrough ipv4 -t filter -A FWKNOP_INPUT -p 6 -s 198.18.0.2 --dport 1234 -j ACCEPT
 *     firewall-cmd --direct --passthrough ipv4 -t filter -D FWKNOP_INPUT -p 6 -s 198.18.0.2 --dport 1234 -j ACCEPT
 *     (-D FWKNOP_INPUT 1 too; -L FWKNOP_INPUT -n [-v] --line-numbers prints the listing, no "success")
 *   `-p 6 --dport` needs no `-m tcp`. Failures exit 13 (COMMAND_FAILED), e.g. "Error: COMMAND_FAILED:
 *   '/usr/sbin/iptables -w10 -t filter -N FWKNOP_INPUT' failed: iptables: Chain already exists.";
 *   -C for a missing rule also exits 13. Passthroughs are not tracked (--get-all-passthroughs stays
 *   empty). On SIGTERM (CleanupOnExit=yes) the iptables backend flushes the whole filter table,
 *   passthrough chains included; the nftables backend leaves `table ip filter` in place.
 * - firewalld's default zone (public: ssh, dhcpv6-client) closes tcp/1234 by itself; a connect from
 *   the client namespace gets ECONNREFUSED (iptables backend) or EHOSTUNREACH (nftables backend).
 * - dbus: `dbus-daemon --system` reads the standard service dirs, so firewalld's polkit lookup makes
 *   it ACTIVATE polkitd through the setuid launch helper; that polkitd is re-parented to PID 1 and
 *   outlives everything. Our bus config (system.conf's default policy + the system.d policy dirs, no
 *   service dirs, no <user>, no <fork/>) has no activation: firewalld finds no polkit and falls back
 *   to "only uid 0", which is what firewall-cmd as root needs.
 * - Logging: firewalld's default log target "mixed" opens /var/log/firewalld on the HOST's disk (and
 *   syslog); `--log-target console` sends it to stdout, which logs() returns.
 * - /run is not a separate mount on this host: `mkdir -p /run/firewalld` (or /var/lib/...) before a
 *   tmpfs mount creates directories on the host's disk that stay. A tmpfs on /run itself needs no new
 *   mount point, and files written into it (not into /tmp) vanish even if the test is SIGKILLed.
 * - firewalld writes to /etc/firewalld only for --permanent changes, but it reads the backend from
 *   there, hence the bind-mounted private copy (`firewalld --system-config DIR` exists too, but
 *   some modules bind the paths at import time; the bind mount covers everything).
 * - Harmless noise: "ipset not usable, disabling ipset usage" (no ipset in this kernel), dbus-daemon
 *   "Failed to set fd limit to 65536".
 * - Debian's C fwknopd is built for iptables and never calls firewall-cmd.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Rig, RunResult } from "./rig.js";
import { NsHolder, childrenOf, exited, sleep, waitExit, type ExecOptions } from "./ns-holder.js";

export type { ExecOptions } from "./ns-holder.js";

export type FirewalldBackend = "iptables" | "nftables";

export interface Firewalld {
  readonly backend: FirewalldBackend;
  /** Milliseconds from spawning firewalld until `firewall-cmd --state` said "running". */
  readonly startupMs: number;
  /** argv prefix that runs a program in firewalld's mount and network namespaces. */
  readonly wrapperArgv: () => string[];
  /** wrapperArgv() followed by argv. */
  readonly wrap: (argv: readonly string[]) => string[];
  /** Run a program there and collect its exit code and output. */
  readonly exec: (argv: readonly string[], opts?: ExecOptions) => Promise<RunResult>;
  /** exec(["firewall-cmd", ...args]). */
  readonly firewallCmd: (args: readonly string[]) => Promise<RunResult>;
  /** Start a long-running program there; stop() (or process exit) kills it by PID. */
  readonly spawn: (argv: readonly string[], env?: NodeJS.ProcessEnv) => ChildProcess;
  /** What dbus-daemon and firewalld printed. */
  readonly logs: () => string;
  /** Kill what was spawned, stop firewalld (SIGTERM, so it cleans up), end the namespaces. */
  readonly stop: () => Promise<void>;
}

const FIREWALLD_ETC = "/etc/firewalld";
/** Our files, inside the private tmpfs on /run. */
const PRIVATE = "/run/fwkts";

/** The standard system bus policy, without service activation (no polkitd), running as root. */
const DBUS_CONF = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
  <includedir>/etc/dbus-1/system.d</includedir>
</busconfig>
`;

class Instance {
  readonly infra: ChildProcess[] = [];
  firewalld: ChildProcess | null = null;
  log = "";

  constructor(readonly holder: NsHolder) {}

  startInfra(argv: readonly string[]): ChildProcess {
    const all = [...this.holder.infraPrefix(), ...argv];
    const child = spawn(all[0] ?? "", all.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const name = argv[0] ?? "?";
    const keep = (chunk: Buffer): void => {
      this.log += chunk.toString("utf8").replace(/^(?=.)/gm, `[${name}] `);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", (e) => {
      this.log += `[${name}] ${e.message}\n`;
    });
    this.infra.push(child);
    return child;
  }

  /** What the holder spawned first, then firewalld (SIGTERM: CleanupOnExit), then the rest. */
  async stop(): Promise<void> {
    await this.holder.stop(async () => {
      // firewalld is the child of its nsenter (which waits for it, so the PID is still
      // firewalld's): SIGTERM it so CleanupOnExit removes its rules.
      const fw = this.firewalld;
      if (fw === null || exited(fw)) return;
      for (const pid of childrenOf(fw.pid)) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      await waitExit(fw, 3000);
    });
    // Ending the holder ended the PID namespace's init; the kernel kills all that is left in it.
    await Promise.all(this.infra.map((p) => waitExit(p, 3000)));
  }
}

/**
 * Start dbus-daemon and firewalld in `rig.serverNs`, in private mount and PID namespaces, and wait
 * until `firewall-cmd --state` says running. The host's /etc/firewalld is only read.
 */
export async function startFirewalld(
  rig: Rig,
  backend: FirewalldBackend = "iptables",
  opts: { startTimeoutMs?: number } = {},
): Promise<Firewalld> {
  const inst = new Instance(await NsHolder.start(rig.serverNs));
  const holder = inst.holder;
  try {
    await holder.mountRunTmpfs();
    // Files go into that tmpfs, written through /proc/PID/root (the holder's view of the file
    // system), so nothing is created on the host's disk and all of it vanishes with the namespace.
    const root = holder.root;
    mkdirSync(`${root}/run/dbus`, { mode: 0o755 });
    mkdirSync(`${root}${PRIVATE}`, { mode: 0o700 });
    cpSync(FIREWALLD_ETC, `${root}${PRIVATE}/etc`, { recursive: true });
    const conf = `${root}${PRIVATE}/etc/firewalld.conf`;
    const text = readFileSync(conf, "utf8");
    writeFileSync(
      conf,
      /^FirewallBackend=/m.test(text)
        ? text.replace(/^FirewallBackend=.*$/m, `FirewallBackend=${backend}`)
        : `${text}\nFirewallBackend=${backend}\n`,
    );
    writeFileSync(`${root}${PRIVATE}/dbus.conf`, DBUS_CONF);
    await holder.bindOver(`${PRIVATE}/etc`, FIREWALLD_ETC);

    const dbus = inst.startInfra([
      "dbus-daemon",
      `--config-file=${PRIVATE}/dbus.conf`,
      "--nofork",
      "--nopidfile",
      "--print-address",
    ]);
    // dbus-daemon prints its address once it listens.
    const dbusOut = dbus.stdout;
    if (dbusOut === null) throw new Error("dbus-daemon has no stdout");
    const address = await new Promise<string | null>((resolve) => {
      const t = setTimeout(() => {
        resolve(null);
      }, 10_000);
      createInterface({ input: dbusOut }).once("line", (l) => {
        clearTimeout(t);
        resolve(l);
      });
      dbus.once("exit", () => {
        resolve(null);
      });
    });
    if (address === null) throw new Error(`dbus-daemon did not start:\n${inst.log}`);

    const t0 = Date.now();
    const fw = inst.startInfra(["firewalld", "--nofork", "--nopid", "--log-target", "console"]);
    inst.firewalld = fw;
    const env = { ...process.env };
    delete env.DBUS_SYSTEM_BUS_ADDRESS;
    const deadline = t0 + (opts.startTimeoutMs ?? 30_000);
    for (;;) {
      const r = await holder.exec(["firewall-cmd", "--state"], { env });
      if (r.code === 0 && r.stdout.trim() === "running") break;
      if (exited(fw) || Date.now() > deadline)
        throw new Error(`firewalld did not come up (${r.stdout}${r.stderr}):\n${inst.log}`);
      await sleep(100);
    }
    const startupMs = Date.now() - t0;

    const exec = (argv: readonly string[], o: ExecOptions = {}): Promise<RunResult> =>
      holder.exec(argv, { ...o, env: o.env ?? env });
    return {
      backend,
      startupMs,
      wrapperArgv: () => holder.prefix(),
      wrap: (argv) => [...holder.prefix(), ...argv],
      exec,
      firewallCmd: (args) => exec(["firewall-cmd", ...args]),
      spawn: (argv, e) => holder.spawn(argv, e),
      logs: () => inst.log,
      stop: () => inst.stop(),
    };
  } catch (e) {
    await inst.stop();
    throw e;
  }
}
