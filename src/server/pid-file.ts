/**
 * The pid file: one instance per file. C locks it with lockf(); Node has no portable lock, so a
 * file whose pid is alive and is an fwknopd counts as held (a stale one is replaced).
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { EnvironmentError } from "../errors.js";

export function readPid(path: string): number | null {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Alive and an fwknopd (so a reused pid of another program is not mistaken for us). */
export function isFwknopd(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("fwknopd");
  } catch {
    return true;
  }
}

export function runningPid(path: string): number | null {
  const pid = readPid(path);
  return pid !== null && pid !== process.pid && isFwknopd(pid) ? pid : null;
}

export function acquirePidFile(path: string): void {
  const other = runningPid(path);
  if (other !== null)
    throw new EnvironmentError(`An instance of fwknopd is already running: (${other})`);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function releasePidFile(path: string): void {
  if (readPid(path) === process.pid) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}
