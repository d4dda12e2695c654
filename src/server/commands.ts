/**
 * Commands fwknopd runs: type-0 command messages (ENABLE_CMD_EXEC, server/incoming_spa.c:
 * process_cmd_msg) and command cycles (CMD_CYCLE_OPEN/CLOSE, server/cmd_cycle.c).
 * - Never through a shell. The text is split into arguments (C splits on white space only,
 *   common/fko_util.c:strtoargv; quotes '...' and "..." also group here, with no expansion), and an
 *   admin who wants a shell writes one: /bin/sh -c '...'.
 * - $IP, $SRC, $PKT_SRC, $DST, $PORT, $PROTO, $TIMEOUT, $CLIENT_TIMEOUT are replaced inside each
 *   argument after splitting, so no value can add or split arguments.
 * - A timeout (C has none) and an optional user/group (CMD_EXEC_USER/GROUP) or sudo prefix.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { MAX_ARGS, splitArgs } from "../argv/split-args.js";

// Re-exported for the daemon, which reads command messages with them.
export { MAX_ARGS, splitArgs };

export type CycleVars = Record<
  "IP" | "SRC" | "PKT_SRC" | "DST" | "PORT" | "PROTO" | "TIMEOUT" | "CLIENT_TIMEOUT",
  string
>;

/** Longest names first, so $CLIENT_TIMEOUT is not read as $TIMEOUT preceded by "CLIENT_". */
const VAR_RE = /\$(CLIENT_TIMEOUT|PKT_SRC|TIMEOUT|PROTO|PORT|SRC|DST|IP)/g;

export function substitute(argv: readonly string[], vars: CycleVars): string[] {
  return argv.map((a) => a.replace(VAR_RE, (_m, name: keyof CycleVars) => vars[name]));
}

function lookup(file: string, name: string): { id: number; gid: number } | null {
  try {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === name || f[2] === name) return { id: Number(f[2]), gid: Number(f[3] ?? f[2]) };
    }
  } catch {
    return null;
  }
  return null;
}

export interface RunAs {
  uid: number;
  gid: number;
}

/** CMD_EXEC_USER / CMD_EXEC_GROUP: names or numbers; the group defaults to the user's primary one. */
export function resolveRunAs(
  user: string | null,
  group: string | null,
): RunAs | null | "unknown-user" | "unknown-group" {
  if (user === null) return null;
  const u = lookup("/etc/passwd", user);
  if (u === null) return "unknown-user";
  if (group === null) return { uid: u.id, gid: u.gid };
  const g = lookup("/etc/group", group);
  if (g === null) return "unknown-group";
  return { uid: u.id, gid: g.id };
}

export interface CommandResult {
  argv: string[];
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  stderr: string;
}

export function runCommand(
  argv: readonly string[],
  opts: { timeoutMs: number; runAs: RunAs | null },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    execFile(
      file ?? "",
      args,
      {
        timeout: opts.timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 1 << 20,
        ...(opts.runAs !== null ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
      },
      (err, _stdout, stderr) => {
        const e = err as
          | (NodeJS.ErrnoException & {
              killed?: boolean;
              signal?: string | null;
              code?: number | string;
            })
          | null;
        resolve({
          argv: [...argv],
          code: e === null ? 0 : typeof e.code === "number" ? e.code : null,
          signal: e?.signal ?? null,
          timedOut: e?.killed === true,
          stderr: e !== null && typeof e.code === "string" ? e.message : stderr.slice(0, 500),
        });
      },
    );
  });
}
