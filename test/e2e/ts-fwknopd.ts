/**
 * Runs our bin/fwknopd in a rig's server namespace, in the foreground, with config files written
 * to a temporary directory that survives restarts (so the digest cache does too).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, waitFor, type Rig, type RunResult } from "./rig.js";

function runWrapped(argv: readonly string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(argv[0] ?? "", argv.slice(1), { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({
        code: err === null ? 0 : typeof err.code === "number" ? err.code : 1,
        stdout,
        stderr,
      });
    });
  });
}

export class TsFwknopd {
  readonly dir = mkdtempSync(join(tmpdir(), "ts-fwknopd-"));
  readonly conf = join(this.dir, "fwknopd.conf");
  readonly access = join(this.dir, "access.conf");
  readonly run = join(this.dir, "run");
  private proc: ChildProcess | null = null;
  private output = "";

  constructor(
    private readonly rig: Rig,
    conf: string,
    access: string,
    /** Runs argv where it must live (e.g. beside a namespaced firewalld); default: the server netns. */
    private readonly wrap: ((argv: readonly string[]) => string[]) | null = null,
    /** Node flags before bin/fwknopd (the privsep test preloads a module this way). */
    private readonly nodeFlags: readonly string[] = [],
  ) {
    mkdirSync(this.run, { mode: 0o700 });
    writeFileSync(this.conf, `${conf}\nFWKNOP_RUN_DIR ${this.run};\n`, { mode: 0o600 });
    writeFileSync(this.access, access, { mode: 0o600 });
  }

  argv(extra: readonly string[] = []): string[] {
    return [
      process.execPath,
      ...this.nodeFlags,
      join(REPO, "bin", "fwknopd"),
      "-c",
      this.conf,
      "-a",
      this.access,
      ...extra,
    ];
  }

  async start(extra: readonly string[] = []): Promise<void> {
    this.output = "";
    const argv = this.argv(["-f", ...extra]);
    let p: ChildProcess;
    if (this.wrap === null) p = this.rig.spawn(this.rig.serverNs, argv);
    else {
      const [bin, ...rest] = this.wrap(argv);
      p = spawn(bin ?? "", rest, { stdio: ["pipe", "pipe", "pipe"] });
      this.rig.track(p);
    }
    this.proc = p;
    p.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    p.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
    const up = await waitFor(
      () =>
        /Listening: (UDP server|pcap capture|NFQUEUE capture)/.test(this.output) ||
        p.exitCode !== null,
      // firewall-cmd calls take seconds on a loaded machine.
      20_000,
    );
    if (!up || p.exitCode !== null) throw new Error(`fwknopd did not start:\n${this.output}`);
  }

  /** The foreground daemon's PID (the privsep broker's), while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  logs(): string {
    return this.output;
  }

  waitForLog(re: RegExp, ms = 5000): Promise<boolean> {
    return waitFor(() => re.test(this.output), ms);
  }

  /** One-shot command (--status, --fw-list, ...) in the server namespace. */
  command(args: readonly string[]) {
    if (this.wrap === null) return this.rig.run(this.rig.serverNs, this.argv(args));
    return runWrapped(this.wrap(this.argv(args)));
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const p = this.proc;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    if (!(await waitFor(() => p.exitCode !== null || p.signalCode !== null, 8000)))
      p.kill("SIGKILL");
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
