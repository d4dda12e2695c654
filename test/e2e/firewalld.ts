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
 * How (argv only; H = the holder's PID):
 *   holder     ip netns exec NS unshare --mount --propagation private --pid --fork --kill-child -- cat
 *              New mount namespace (`ip netns exec` already made one and remounted /sys for NS) and
 *              new PID namespace whose init is `cat` on a pipe from this process: if the test process
 *              dies in any way, even SIGKILL, cat reads EOF and the kernel kills dbus and firewalld.
 *   /run       nsenter --mount=/proc/H/ns/mnt --net=/proc/H/ns/net -- mount -t tmpfs fwkts-run /run
 *              (so /run/dbus, /run/firewalld, /run/xtables.lock are private). Our files (a copy of
 *              /etc/firewalld with FirewallBackend set, a bus config) are written into that tmpfs
 *              through /proc/H/root/run/fwkts, then `mount --bind /run/fwkts/etc /etc/firewalld`.
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
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Rig, RunResult } from "./rig.js";

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

export interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      resolve(false);
    }, ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Signal a child of ours that has not been reaped yet (so its PID cannot have been reused). */
function signal(child: ChildProcess | null, sig: NodeJS.Signals): void {
  if (child === null || exited(child) || child.pid === undefined) return;
  try {
    process.kill(child.pid, sig);
  } catch {
    // already gone
  }
}

/** The PIDs of a process's children (Linux /proc/PID/task/PID/children). */
function childrenOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter((s) => s !== "")
      .map(Number);
  } catch {
    return [];
  }
}

function nsLink(pid: number, ns: string): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return null;
  }
}

function runFile(argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0] ?? "",
      argv.slice(1),
      { timeout: opts.timeoutMs ?? 20_000, env: opts.env ?? process.env, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

class Instance {
  readonly userProcs = new Set<ChildProcess>();
  readonly infra: ChildProcess[] = [];
  holder: ChildProcess | null = null;
  firewalld: ChildProcess | null = null;
  log = "";
  private stopped = false;

  get holderPid(): number {
    const pid = this.holder?.pid;
    if (pid === undefined) throw new Error("firewalld namespace holder is not running");
    return pid;
  }

  /**
   * Enter mount + network namespaces only (no fork: the PID stays the program's), and have the
   * program killed if its parent (this test process) dies.
   */
  prefix(): string[] {
    const h = this.holderPid;
    return [
      "nsenter",
      `--mount=/proc/${h}/ns/mnt`,
      `--net=/proc/${h}/ns/net`,
      "--",
      "setpriv",
      "--pdeathsig",
      "SIGKILL",
      "--",
    ];
  }

  /** Also enter the PID namespace, for the daemons that must die with it. */
  infraPrefix(): string[] {
    const h = this.holderPid;
    return [
      "nsenter",
      `--mount=/proc/${h}/ns/mnt`,
      `--net=/proc/${h}/ns/net`,
      `--pid=/proc/${h}/ns/pid_for_children`,
      "--",
    ];
  }

  startInfra(argv: readonly string[]): ChildProcess {
    const all = [...this.infraPrefix(), ...argv];
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

  spawnUser(argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const all = [...this.prefix(), ...argv];
    const child = spawn(all[0] ?? "", all.slice(1), {
      stdio: ["pipe", "pipe", "pipe"],
      env: env ?? process.env,
    });
    this.userProcs.add(child);
    child.once("exit", () => this.userProcs.delete(child));
    return child;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    for (const p of this.userProcs) p.kill("SIGTERM");
    await Promise.all([...this.userProcs].map((p) => waitExit(p, 3000)));
    for (const p of this.userProcs) signal(p, "SIGKILL");
    // firewalld is the child of its nsenter (which waits for it, so the PID is still firewalld's):
    // SIGTERM it so CleanupOnExit removes its rules.
    const fw = this.firewalld;
    if (fw !== null && !exited(fw)) {
      for (const pid of childrenOf(fw.pid)) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      await waitExit(fw, 3000);
    }
    // Ending the holder ends the PID namespace's init, and the kernel kills all that is left in it.
    this.holder?.stdin?.end();
    signal(this.holder, "SIGKILL");
    await Promise.all(
      [...this.infra, ...(this.holder === null ? [] : [this.holder])].map((p) => waitExit(p, 3000)),
    );
  }

  /** For process exit: no waiting, kill by PID. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.userProcs) signal(p, "SIGKILL");
    signal(this.holder, "SIGKILL");
  }
}

const live = new Set<Instance>();
process.on("exit", () => {
  for (const i of live) i.stopSync();
});

/**
 * Start dbus-daemon and firewalld in `rig.serverNs`, in private mount and PID namespaces, and wait
 * until `firewall-cmd --state` says running. The host's /etc/firewalld is only read.
 */
export async function startFirewalld(
  rig: Rig,
  backend: FirewalldBackend = "iptables",
  opts: { startTimeoutMs?: number } = {},
): Promise<Firewalld> {
  const inst = new Instance();
  live.add(inst);
  try {
    const holder = spawn(
      "ip",
      [
        "netns",
        "exec",
        rig.serverNs,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--kill-child",
        "--",
        "cat",
      ],
      { stdio: ["pipe", "ignore", "pipe"] },
    );
    inst.holder = holder;
    let holderErr = "";
    holder.stderr.on("data", (c: Buffer) => {
      holderErr += c.toString("utf8");
    });
    holder.on("error", (e) => {
      holderErr += e.message;
    });
    // `ip netns exec` execs unshare, which unshares and forks `cat` as PID 1 of the new PID
    // namespace: ready once that child exists (nsenter must not become that namespace's init).
    const ownPidNs = nsLink(process.pid, "pid");
    for (let i = 0; ; i++) {
      const pid = holder.pid;
      if (
        pid !== undefined &&
        !exited(holder) &&
        nsLink(pid, "pid_for_children") !== ownPidNs &&
        childrenOf(pid).length > 0
      )
        break;
      if (exited(holder) || i > 200)
        throw new Error(`namespace holder did not start: ${holderErr.trim()}`);
      await sleep(10);
    }

    const must = async (argv: readonly string[]): Promise<void> => {
      const r = await runFile([...inst.prefix(), ...argv]);
      if (r.code !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.trim()}`);
    };
    await must(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "fwkts-run", "/run"]);
    // Files go into that tmpfs, written through /proc/PID/root (the holder's view of the file
    // system), so nothing is created on the host's disk and all of it vanishes with the namespace.
    const root = `/proc/${inst.holderPid}/root`;
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
    await must(["mount", "--bind", `${PRIVATE}/etc`, FIREWALLD_ETC]);

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
      const r = await runFile([...inst.prefix(), "firewall-cmd", "--state"], { env });
      if (r.code === 0 && r.stdout.trim() === "running") break;
      if (exited(fw) || Date.now() > deadline)
        throw new Error(`firewalld did not come up (${r.stdout}${r.stderr}):\n${inst.log}`);
      await sleep(100);
    }
    const startupMs = Date.now() - t0;

    const exec = (argv: readonly string[], o: ExecOptions = {}): Promise<RunResult> =>
      runFile([...inst.prefix(), ...argv], { ...o, env: o.env ?? env });
    return {
      backend,
      startupMs,
      wrapperArgv: () => inst.prefix(),
      wrap: (argv) => [...inst.prefix(), ...argv],
      exec,
      firewallCmd: (args) => exec(["firewall-cmd", ...args]),
      spawn: (argv, e) => inst.spawnUser(argv, e),
      logs: () => inst.log,
      stop: () => inst.stop(),
    };
  } catch (e) {
    await inst.stop();
    throw e;
  }
}
