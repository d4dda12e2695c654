/**
 * A private mount + PID namespace inside one of the rig's network namespaces, held open by a
 * process of ours, so a real system tool (firewalld, ufw) can be given private copies of its /etc
 * and /run while its firewall changes stay in that network namespace. See firewalld.ts and ufw.ts.
 *
 * How (argv only; H = the holder's PID):
 *   holder   ip netns exec NS unshare --mount --propagation private --pid --fork --kill-child -- cat
 *            `ip netns exec` execs unshare, which makes a new mount namespace (not propagating to
 *            the host's) and a new PID namespace whose init is `cat` on a pipe from this process:
 *            if the test process dies in any way, even SIGKILL, cat reads EOF, and when init ends
 *            the kernel kills everything else in that PID namespace.
 *   enter    nsenter --mount=/proc/H/ns/mnt --net=/proc/H/ns/net -- setpriv --pdeathsig SIGKILL --
 *            (prefix()): neither forks, so a child spawned with it has the program's own PID, and
 *            it dies with its parent. infraPrefix() also enters the PID namespace, for daemons that
 *            must die with the holder.
 *   /run     mountRunTmpfs(): a tmpfs on /run itself (no mount point has to be created on the host's
 *            disk); files for the tool are written into it through /proc/H/root/run, and bind-mounted
 *            over the host paths with bindOver().
 * Stopping: close cat's stdin and SIGKILL unshare (`--kill-child` kills cat). PID 1 of a PID
 * namespace ignores signals it has no handler for, so SIGTERM would not end it.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import type { RunResult } from "./rig.js";

export interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
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
export function signal(child: ChildProcess | null, sig: NodeJS.Signals): void {
  if (child === null || exited(child) || child.pid === undefined) return;
  try {
    process.kill(child.pid, sig);
  } catch {
    // already gone
  }
}

/** The PIDs of a process's children (Linux /proc/PID/task/PID/children). */
export function childrenOf(pid: number | undefined): number[] {
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

/** Run argv (no shell); a failure, the timeout included, is a non-zero code, never a throw. */
export function runFile(argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
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

const live = new Set<NsHolder>();
process.on("exit", () => {
  for (const h of live) h.stopSync();
});

export class NsHolder {
  /** Programs started with spawn(); stop() kills them by PID. */
  readonly userProcs = new Set<ChildProcess>();
  private stopped = false;

  private constructor(private readonly holder: ChildProcess) {}

  /** Start the holder in network namespace `netns` and wait until its PID namespace exists. */
  static async start(netns: string): Promise<NsHolder> {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        netns,
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
    const h = new NsHolder(child);
    live.add(h);
    let err = "";
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString("utf8");
    });
    child.on("error", (e) => {
      err += e.message;
    });
    // Ready once unshare has forked `cat` into the new PID namespace (nsenter must not become
    // that namespace's init).
    const ownPidNs = nsLink(process.pid, "pid");
    for (let i = 0; ; i++) {
      const pid = child.pid;
      if (
        pid !== undefined &&
        !exited(child) &&
        nsLink(pid, "pid_for_children") !== ownPidNs &&
        childrenOf(pid).length > 0
      )
        return h;
      if (exited(child) || i > 200) {
        await h.stop();
        throw new Error(`namespace holder did not start: ${err.trim()}`);
      }
      await sleep(10);
    }
  }

  get pid(): number {
    const pid = this.holder.pid;
    if (pid === undefined || this.stopped) throw new Error("namespace holder is not running");
    return pid;
  }

  /** The holder's view of the file system (to write into its private /run). */
  get root(): string {
    return `/proc/${this.pid}/root`;
  }

  /** Enter the mount and network namespaces only; the program dies with its parent. */
  prefix(): string[] {
    const h = this.pid;
    const ns = [`--mount=/proc/${h}/ns/mnt`, `--net=/proc/${h}/ns/net`];
    return ["nsenter", ...ns, "--", "setpriv", "--pdeathsig", "SIGKILL", "--"];
  }

  /** Also enter the PID namespace, for daemons that must die with the holder. */
  infraPrefix(): string[] {
    const h = this.pid;
    const ns = [`--mount=/proc/${h}/ns/mnt`, `--net=/proc/${h}/ns/net`];
    return ["nsenter", ...ns, `--pid=/proc/${h}/ns/pid_for_children`, "--"];
  }

  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    return runFile([...this.prefix(), ...argv], opts);
  }

  async must(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A private tmpfs on /run: its files vanish with the namespace, even after a SIGKILL. */
  mountRunTmpfs(): Promise<string> {
    return this.must(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "fwkts-run", "/run"]);
  }

  /** Bind-mount `source` (a path inside the namespace) over `target`, in this namespace only. */
  bindOver(source: string, target: string): Promise<string> {
    return this.must(["mount", "--bind", source, target]);
  }

  /** Start a long-running program there; stop() (or process exit) kills it by PID. */
  spawn(argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const all = [...this.prefix(), ...argv];
    const child = spawn(all[0] ?? "", all.slice(1), {
      stdio: ["pipe", "pipe", "pipe"],
      env: env ?? process.env,
    });
    this.userProcs.add(child);
    child.once("exit", () => this.userProcs.delete(child));
    child.once("error", () => this.userProcs.delete(child));
    return child;
  }

  /** SIGTERM what spawn() started (SIGKILL after 3 s), then end the holder and its namespaces. */
  async stop(beforeHolder?: () => Promise<void>): Promise<void> {
    if (this.stopped) return;
    for (const p of this.userProcs) p.kill("SIGTERM");
    await Promise.all([...this.userProcs].map((p) => waitExit(p, 3000)));
    for (const p of this.userProcs) signal(p, "SIGKILL");
    if (beforeHolder !== undefined) await beforeHolder();
    this.stopped = true;
    live.delete(this);
    this.holder.stdin?.end();
    signal(this.holder, "SIGKILL");
    await waitExit(this.holder, 3000);
  }

  /** For process exit: no waiting, kill by PID. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    for (const p of this.userProcs) signal(p, "SIGKILL");
    signal(this.holder, "SIGKILL");
  }
}
