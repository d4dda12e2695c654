/**
 * The one place that runs external programs (style.md): argv arrays only, never a shell, a timeout,
 * captured output, and failures turned into errors that show the command and what it said.
 */
import { execFile } from "node:child_process";
import { FwknopTsError } from "./errors.js";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Exec = (
  file: string,
  args: readonly string[],
  opts?: { timeoutMs?: number; input?: string },
) => Promise<ExecResult>;

/** A firewall (or other) command failed: the argv, its exit status and its stderr. */
export class CommandError extends FwknopTsError {
  readonly code = "E_COMMAND";
  constructor(
    readonly argv: readonly string[],
    readonly status: number,
    readonly stderr: string,
  ) {
    super(
      `command failed (exit ${status}): ${argv.join(" ")}${stderr.trim() !== "" ? `: ${stderr.trim()}` : ""}`,
    );
    this.name = "CommandError";
  }
}

export const runProgram: Exec = (file, args, opts = {}) =>
  new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 64 << 20, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const code = typeof err.code === "number" ? err.code : 127;
        resolve({ code, stdout, stderr: stderr !== "" ? stderr : err.message });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });

/** Run and require exit status 0. */
export async function runChecked(
  exec: Exec,
  file: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const r = await exec(file, args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new CommandError([file, ...args], r.code, r.stderr);
  return r.stdout;
}
