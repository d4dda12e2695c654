/**
 * Runs our bin/fwknopd in a rig's server namespace, in the foreground, with config files written
 * to a temporary directory that survives restarts (so the digest cache does too).
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, waitFor, type Rig } from "./rig.js";

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
  ) {
    mkdirSync(this.run, { mode: 0o700 });
    writeFileSync(this.conf, `${conf}\nFWKNOP_RUN_DIR ${this.run};\n`, { mode: 0o600 });
    writeFileSync(this.access, access, { mode: 0o600 });
  }

  argv(extra: readonly string[] = []): string[] {
    return [
      process.execPath,
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
    const p = this.rig.spawn(this.rig.serverNs, this.argv(["-f", ...extra]));
    this.proc = p;
    p.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    p.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
    const up = await waitFor(
      () => /Listening: UDP server/.test(this.output) || p.exitCode !== null,
      10_000,
    );
    if (!up || p.exitCode !== null) throw new Error(`fwknopd did not start:\n${this.output}`);
  }

  logs(): string {
    return this.output;
  }

  waitForLog(re: RegExp, ms = 5000): Promise<boolean> {
    return waitFor(() => re.test(this.output), ms);
  }

  /** One-shot command (--status, --fw-list, ...) in the server namespace. */
  command(args: readonly string[]) {
    return this.rig.run(this.rig.serverNs, this.argv(args));
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
