/**
 * Node flags for the daemon, where we start node ourselves (the background child of a
 * daemonising fwknopd) and in contrib/systemd/fwknopd.service (NODE_OPTIONS). Under a steady flood
 * of junk V8 grows the young generation's semi-spaces from 1 MB towards 16 MB, though what
 * survives a scavenge stays under 1 MB and nothing is retained (heap snapshots after 100,000 and
 * 1,000,000 datagrams differ by 56 KB, all compiled code). Capped at 1 MB the daemon's RSS is
 * ~5 MB lower and its warm-up growth ~2 MB instead of ~6 MB, at no CPU cost we could measure
 * (bench/memory.ts, README "Performance"). V8 reads the cap when the heap is set up, so it cannot
 * be set from inside the running process (v8.setFlagsFromString has no effect on it).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1"];

/** "--max_semi_space_size=2" -> "--max-semi-space-size": node takes either spelling. */
const flagName = (f: string): string => (f.split("=")[0] ?? "").replace(/_/g, "-");

/**
 * The node flags for the background child: the parent's, plus ours that neither its command line
 * nor NODE_OPTIONS (which the child inherits) set already.
 */
export function daemonExecArgv(execArgv: readonly string[], nodeOptions?: string): string[] {
  const given = new Set(
    [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].filter((f) => f !== "").map(flagName),
  );
  return [...execArgv, ...DAEMON_NODE_FLAGS.filter((f) => !given.has(flagName(f)))];
}
