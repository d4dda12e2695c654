/**
 * Pending CMD_CYCLE_CLOSE commands. C keeps them in memory and loses them on restart
 * (server/cmd_cycle.c); here they are written to the run directory before they are scheduled, so a
 * restart (or a crash) still runs each close, late if need be, and never twice.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";

export interface PendingClose {
  at: number;
  stanza: number;
  user: string;
  argv: string[];
}

export class PendingCycles {
  private pending: PendingClose[] = [];
  private readonly timers = new Map<PendingClose, NodeJS.Timeout>();

  constructor(
    private readonly file: string,
    private readonly nowSecs: () => number,
    private readonly run: (p: PendingClose) => Promise<void>,
  ) {}

  private save(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.pending), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Read what a previous run left and schedule it; overdue closes run at once. */
  load(): number {
    let list: PendingClose[] = [];
    try {
      list = JSON.parse(readFileSync(this.file, "utf8")) as PendingClose[];
    } catch {
      list = [];
    }
    this.pending = list.filter(
      (p) =>
        Array.isArray(p.argv) &&
        p.argv.every((a) => typeof a === "string") &&
        typeof p.at === "number",
    );
    for (const p of this.pending) this.arm(p);
    return this.pending.length;
  }

  schedule(p: PendingClose): void {
    this.pending.push(p);
    this.save();
    this.arm(p);
  }

  private arm(p: PendingClose): void {
    const t = setTimeout(
      () => {
        this.timers.delete(p);
        this.pending = this.pending.filter((x) => x !== p);
        this.save();
        void this.run(p);
      },
      Math.max(0, (p.at - this.nowSecs()) * 1000),
    );
    t.unref();
    this.timers.set(p, t);
  }

  /** Stop the timers; what is pending stays on disk for the next start. */
  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
