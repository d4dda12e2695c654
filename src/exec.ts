/**
 * The one place that runs external programs (style.md): argv arrays only, never a shell, a timeout,
 * captured output, and failures turned into errors that show the command and what it said.
 * One-shot runs (runProgram, runPiped) return what the program said; long-running children
 * (spawnWriter, spawnReader, spawnConversation, forkDetached) are handed to their owner, which
 * ends them with stopChild.
 */
import {
  execFile,
  fork,
  spawn,
  type ChildProcess,
  type ChildProcessByStdio,
} from "node:child_process";
import type { Duplex, Readable, Writable } from "node:stream";
import { FwknopTsError, messageOf } from "./errors.js";

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
  readonly blame = "environment";
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

/** What execFile may be told besides argv: never a shell, always a timeout. */
export interface ExecOptions {
  timeoutMs: number;
  /** Written to stdin, which is then closed; without it stdin stays an open pipe. */
  input?: string;
  /** Run as this user and group (CMD_EXEC_USER / CMD_EXEC_GROUP). */
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  /** SIGTERM by default (execFile's). */
  killSignal?: NodeJS.Signals;
  /** Bytes of stdout or stderr beyond which the child is killed; 1 MiB by default. */
  maxBuffer?: number;
}

/** Everything execFile says about a run, for callers that report more than an exit status. */
export interface ExecOutcome {
  /** 0 on success, the exit status on failure, null when there was none (killed, not started). */
  code: number | null;
  signal: string | null;
  /** Killed by execFile itself: the timeout or the output bound. */
  killed: boolean;
  /** The failure as Node words it (null on success); `spawnFailed` when it never ran (ENOENT...). */
  failure: string | null;
  spawnFailed: boolean;
  stdout: string;
  stderr: string;
}

export function runExec(
  file: string,
  args: readonly string[],
  opts: ExecOptions,
): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        timeout: opts.timeoutMs,
        maxBuffer: opts.maxBuffer ?? 1 << 20,
        encoding: "utf8",
        ...(opts.killSignal !== undefined ? { killSignal: opts.killSignal } : {}),
        ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
        ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
        ...(opts.env !== undefined ? { env: opts.env } : {}),
      },
      (e, stdout, stderr) => {
        resolve({
          code: e === null ? 0 : typeof e.code === "number" ? e.code : null,
          signal: e?.signal ?? null,
          killed: e?.killed === true,
          failure: e?.message ?? null,
          spawnFailed: typeof e?.code === "string",
          stdout,
          stderr,
        });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export const runProgram: Exec = async (file, args, opts = {}) => {
  const o = await runExec(file, args, {
    timeoutMs: opts.timeoutMs ?? 15_000,
    maxBuffer: 64 << 20,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  if (o.failure === null) return { code: 0, stdout: o.stdout, stderr: o.stderr };
  return { code: o.code ?? 127, stdout: o.stdout, stderr: o.stderr !== "" ? o.stderr : o.failure };
};

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

/** An extra descriptor (fd 3, 4, ...) of a child: bytes we write to it, or a channel we read. */
export type ExtraFd = { write: Uint8Array } | { read: true };

export interface PipedResult {
  /** null when the child was killed (by the timeout or a signal). */
  code: number | null;
  /** The signal that ended the child, if one did. */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: Buffer;
  stderr: string;
  /** What was read from each `{ read: true }` descriptor, by its index in `extraFds`. */
  extra: Buffer[];
}

/**
 * Binary stdin/stdout and extra descriptors, for programs such as gpg that take a secret on a
 * pipe (--passphrase-fd) and report on another (--status-fd). argv only, a hard timeout (SIGKILL),
 * every output capped at `maxOutput` bytes (the child is killed beyond it).
 */
export function runPiped(
  file: string,
  args: readonly string[],
  opts: {
    timeoutMs: number;
    stdin?: Uint8Array;
    extraFds?: readonly ExtraFd[];
    env?: NodeJS.ProcessEnv;
    maxOutput?: number;
  },
): Promise<PipedResult> {
  const extraFds = opts.extraFds ?? [];
  const max = opts.maxOutput ?? 1 << 20;
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        stdio: ["pipe", "pipe", "pipe", ...extraFds.map(() => "pipe" as const)],
        env: opts.env ?? process.env,
      });
    } catch (e) {
      resolve({
        code: 127,
        signal: null,
        timedOut: false,
        stdout: Buffer.alloc(0),
        stderr: messageOf(e),
        extra: [],
      });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const extra: Buffer[][] = extraFds.map(() => []);
    let size = 0;
    let timedOut = false;
    let spawnError: string | null = null;
    const collect = (into: Buffer[]) => (d: Buffer) => {
      size += d.length;
      if (size > max) child.kill("SIGKILL");
      else into.push(d);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    child.stdout?.on("data", collect(out));
    child.stderr?.on("data", collect(err));
    extraFds.forEach((fd, i) => {
      const s = child.stdio[3 + i] as Duplex | null | undefined;
      if (s === null || s === undefined) return;
      // A child that exits without reading gives EPIPE here; its exit status tells the story.
      s.on("error", () => undefined);
      if ("write" in fd) s.end(Buffer.from(fd.write));
      else s.on("data", collect(extra[i] ?? []));
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(opts.stdin === undefined ? undefined : Buffer.from(opts.stdin));
    child.once("error", (e) => {
      spawnError = e.message;
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: spawnError !== null ? 127 : code,
        signal: spawnError !== null ? null : signal,
        timedOut,
        stdout: Buffer.concat(out),
        stderr: spawnError ?? Buffer.concat(err).toString("utf8"),
        extra: extra.map((b) => Buffer.concat(b)),
      });
    });
  });
}

export type WriterChild = ChildProcessByStdio<Writable, null, null>;
export type ReaderChild = ChildProcessByStdio<null, Readable, Readable>;
export type ConversationChild = ChildProcessByStdio<Writable, Readable, Readable>;

/**
 * A long-running child we only write to, a line at a time (the syslog `logger`): stdin a pipe, its
 * output dropped. A program that cannot start shows as an "error" event on the child.
 */
export function spawnWriter(file: string, args: readonly string[]): WriterChild {
  return spawn(file, args, { stdio: ["pipe", "ignore", "ignore"] });
}

/** A long-running child we only read (the `tcpdump` capture): no stdin, stdout and stderr pipes. */
export function spawnReader(file: string, args: readonly string[]): ReaderChild {
  return spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
}

/** A long-running child we converse with (`nft -i`): stdin, stdout and stderr all pipes. */
export function spawnConversation(file: string, args: readonly string[]): ConversationChild {
  return spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
}

/**
 * Node has no fork(2): daemonising starts this script again, detached from our session, with no
 * stdio and an IPC channel on which it says when it is serving; `execArgv` are its node flags.
 */
export function forkDetached(
  script: string,
  args: readonly string[],
  execArgv: readonly string[] = process.execArgv,
): ChildProcess {
  return fork(script, args, {
    detached: true,
    execArgv: [...execArgv],
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  });
}

export type { ChildProcess };

/**
 * fwknopd's packet parser (server/privsep/): node running `script` with an IPC channel (JSON:
 * faster than v8 serialisation for small messages, and no Buffer-pool slab per message for the
 * old generation to keep under a flood; bench/ipc.ts, bench/memory.ts), in a process group of its own so that what it starts
 * (tcpdump, gpg) can be ended with it; stdout and stderr shared with the daemon.
 */
export function forkParser(
  script: string,
  execArgv: readonly string[],
  env: NodeJS.ProcessEnv,
): ChildProcess {
  return fork(script, [], {
    detached: true,
    execArgv: [...execArgv],
    env,
    serialization: "json",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

/**
 * End a long-running child: `signal` now (none: the caller has asked it to go, e.g. by closing its
 * stdin), SIGKILL once `killAfterMs` have passed if it is still there. Resolves when it has exited.
 */
export function stopChild(
  child: ChildProcess,
  opts: { signal?: NodeJS.Signals; killAfterMs?: number },
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      resolve();
    });
    // A signal we may not send (EPERM: the child changed its user, as tcpdump does) is reported
    // as an error and the child stays: our stop must not wait for an exit that will not come.
    child.once("error", () => {
      resolve();
    });
  });
  if (opts.killAfterMs !== undefined) {
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs);
    // A daemon on its way out does not wait for this timer.
    timer.unref();
    void exited.then(() => {
      clearTimeout(timer);
    });
  }
  if (opts.signal !== undefined) child.kill(opts.signal);
  return exited;
}
