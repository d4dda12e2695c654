/** This process's user, group and capabilities as the kernel sees them, to check a drop. */
import { readFileSync } from "node:fs";

/** Uid, gid and effective capabilities of this process, from the kernel's own account. */
export function ownCredentials(): { uid: number[]; gid: number[]; capEff: string } {
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name: string): string =>
    new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim() ?? "";
  const ids = (name: string): number[] => field(name).split(/\s+/).map(Number);
  return { uid: ids("Uid"), gid: ids("Gid"), capEff: field("CapEff") };
}
