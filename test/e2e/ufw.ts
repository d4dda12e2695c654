/**
 * The real ufw (Debian 12: ufw 0.36.2 on iptables 1.8.9 nf_tables) enabled inside a rig's server
 * network namespace, with private copies of everything it writes, so the host's /etc/ufw,
 * /lib/ufw, /etc/default/ufw and the host's firewall are never touched.
 *
 *   const u = await startUfw(rig, { allow: ["62201/udp"] });  // ufw --force enable; ufw allow ...
 *   await u.exec(["iptables", "-S"]);                           // ufw-before-input ..., -P INPUT DROP
 *   await u.ufw(["status", "verbose"]);
 *   const d = u.spawn([...]);   // or spawn(u.wrap(argv)) elsewhere; killed by stop()
 *   await u.stop();             // then rig.teardown() deletes the network namespace and its rules
 *
 * How: an NsHolder (ns-holder.ts: private mount + PID namespaces in the rig's server netns). In it
 * a tmpfs on /run (so /run/ufw.lock is private), copies of /etc/ufw, /lib/ufw (= /usr/lib/ufw on
 * merged-/usr Debian) and /etc/default/ufw written into that tmpfs through /proc/H/root, and each
 * bind-mounted over the original path, in that mount namespace only. Then the same commands an
 * admin types: `ufw --force enable` (runs /lib/ufw/ufw-init start: iptables-restore of
 * before/user/after rules for v4 and v6, `sysctl -p /etc/ufw/sysctl.conf`) and `ufw allow ...`.
 *
 * What ufw touches, read from its source (/usr/lib/python3/dist-packages/ufw, /lib/ufw/ufw-init*):
 * - writes /etc/ufw/ufw.conf (ENABLED=yes), /etc/ufw/user.rules, user6.rules (temp file + rename in
 *   the same directory), /etc/default/ufw (on `ufw default ...`), /run/ufw.lock: all private here.
 *   /lib/ufw is ufw's state_dir (read-only in 0.36, copied anyway); /var/lib/ufw does not exist in
 *   0.36 (it is bound over only where it exists: creating a mount point would leave it on the disk).
 * - `sysctl -p /etc/ufw/sysctl.conf` sets only net.ipv4/net.ipv6 keys, which are per network
 *   namespace: they change the rig's namespace, not the host (the test checks the host's values).
 * - modprobe of IPT_MODULES: empty in Debian's /etc/default/ufw.
 * - Python would write __pycache__ into the host's /usr/lib/python3/dist-packages/ufw if its .pyc
 *   were missing or stale: PYTHONDONTWRITEBYTECODE=1.
 * - /usr/share/ufw and /etc/ufw/applications.d are only read.
 * Measured here (2-vCPU VM): startUfw() with one allow ~1-2 s (each ufw call is a Python start).
 */
import { cpSync, existsSync, mkdirSync, realpathSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import type { Rig, RunResult } from "./rig.js";
import { NsHolder, type ExecOptions } from "./ns-holder.js";

export interface Ufw {
  /** Milliseconds from the first `ufw` call until the last allow rule was in. */
  readonly startupMs: number;
  /** argv prefix that runs a program in ufw's mount and network namespaces. */
  readonly wrapperArgv: () => string[];
  /** wrapperArgv() followed by argv. */
  readonly wrap: (argv: readonly string[]) => string[];
  /** Run a program there and collect its exit code and output. */
  readonly exec: (argv: readonly string[], opts?: ExecOptions) => Promise<RunResult>;
  /** exec(["ufw", ...args]) with ufw's environment. */
  readonly ufw: (args: readonly string[]) => Promise<RunResult>;
  /** Start a long-running program there; stop() (or process exit) kills it by PID. */
  readonly spawn: (argv: readonly string[], env?: NodeJS.ProcessEnv) => ChildProcess;
  /** Kill what was spawned, end the mount namespace (its rules stay in the rig's netns). */
  readonly stop: () => Promise<void>;
  /** For process exit: no waiting. */
  readonly stopSync: () => void;
}

/** Our copies, inside the private tmpfs on /run. */
const PRIVATE = "/run/fwkts";
/** What ufw writes or keeps state in; each gets a private copy. /lib/ufw is resolved (merged /usr). */
const UFW_PATHS = ["/etc/ufw", "/etc/default/ufw", "/lib/ufw", "/var/lib/ufw"];

const UFW_ENV: NodeJS.ProcessEnv = {
  PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  PYTHONDONTWRITEBYTECODE: "1",
};

/**
 * Enable the real ufw in `rig.serverNs` with private copies of its files, then `ufw allow` each
 * rule in `opts.allow` (ufw syntax, e.g. "62201/udp"); checks that ufw's chains are in place.
 */
export async function startUfw(rig: Rig, opts: { allow?: readonly string[] } = {}): Promise<Ufw> {
  const holder = await NsHolder.start(rig.serverNs);
  try {
    await holder.mountRunTmpfs();
    mkdirSync(`${holder.root}${PRIVATE}`, { mode: 0o700 });
    for (const [i, path] of UFW_PATHS.entries()) {
      if (!existsSync(path)) continue;
      const real = realpathSync(path);
      const copy = `${PRIVATE}/${i}`;
      cpSync(real, `${holder.root}${copy}`, { recursive: true, preserveTimestamps: true });
      await holder.bindOver(copy, real);
    }
    const exec = (argv: readonly string[], o: ExecOptions = {}): Promise<RunResult> =>
      holder.exec(argv, o);
    const ufw = (args: readonly string[]): Promise<RunResult> =>
      exec(["ufw", ...args], { env: UFW_ENV });
    const t0 = Date.now();
    for (const args of [["--force", "enable"], ...(opts.allow ?? []).map((a) => ["allow", a])]) {
      const r = await ufw(args);
      if (r.code !== 0) throw new Error(`ufw ${args.join(" ")} failed: ${r.stderr}${r.stdout}`);
    }
    const startupMs = Date.now() - t0;
    for (const bin of ["iptables", "ip6tables"]) {
      const rules = (await exec([bin, "-S", "INPUT"])).stdout;
      if (!rules.includes("-P INPUT DROP") || !/-A INPUT -j ufw6?-before-input/.test(rules))
        throw new Error(`ufw enabled, but ${bin} INPUT is not ufw's:\n${rules}`);
    }
    return {
      startupMs,
      wrapperArgv: () => holder.prefix(),
      wrap: (argv) => [...holder.prefix(), ...argv],
      exec,
      ufw,
      spawn: (argv, env) => holder.spawn(argv, env),
      stop: () => holder.stop(),
      stopSync: () => {
        holder.stopSync();
      },
    };
  } catch (e) {
    await holder.stop();
    throw e;
  }
}
