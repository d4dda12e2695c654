/**
 * Running the commands of command messages (ENABLE_CMD_EXEC, server/incoming_spa.c:
 * process_cmd_msg) and command cycles (CMD_CYCLE_OPEN/CLOSE, server/cmd_cycle.c), through
 * src/exec.ts:
 * - $IP, $SRC, $PKT_SRC, $DST, $PORT, $PROTO, $TIMEOUT, $CLIENT_TIMEOUT are replaced inside each
 *   argument after splitting (../commands.ts:splitArgs), so no value can add or split arguments.
 * - A timeout (C has none) and an optional user/group (CMD_EXEC_USER/GROUP).
 */
import { readFileSync } from "node:fs";
import { runExec } from "../../exec.js";

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

/** Killed with SIGKILL after `timeoutMs`; stderr kept for the log line (500 chars at most). */
export async function runCommand(
  argv: readonly string[],
  opts: { timeoutMs: number; runAs: RunAs | null },
): Promise<CommandResult> {
  const [file, ...args] = argv;
  const o = await runExec(file ?? "", args, {
    timeoutMs: opts.timeoutMs,
    killSignal: "SIGKILL",
    ...(opts.runAs !== null ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
  });
  return {
    argv: [...argv],
    code: o.code,
    signal: o.signal,
    timedOut: o.killed,
    stderr: o.spawnFailed ? (o.failure ?? "") : o.stderr.slice(0, 500),
  };
}
