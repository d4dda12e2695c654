/**
 * A long-lived `nft -e -i` process fed one command line at a time (design.md: one nft process per
 * grant costs ~17 ms here, a line on a live channel ~0.7 ms). With --echo, every committed
 * transaction prints "# new generation N ..." on stdout, and a failure prints "Error: ..." on
 * stderr (followed by continuation lines). One command is in flight at a time; after a failure a
 * marker command is sent and everything up to its generation line is discarded, so the stream
 * can never be misattributed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { CommandError } from "../../exec.js";

interface Pending {
  line: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class NftChannel {
  private proc: ChildProcess | null = null;
  private queue: Pending[] = [];
  private inFlight: Pending | null = null;
  private resyncing = false;
  private stderrTail: string[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nft: readonly string[],
    /** An always-succeeding write used to resynchronise, e.g. "flush set inet fwknopd marker". */
    private markerCommand: string,
    private readonly timeoutMs = 5000,
  ) {}

  setMarker(cmd: string): void {
    this.markerCommand = cmd;
  }

  private start(): ChildProcess {
    const [bin, ...pre] = this.nft;
    if (bin === undefined) throw new Error("internal: empty nft command");
    const p = spawn(bin, [...pre, "-e", "-i"], { stdio: ["pipe", "pipe", "pipe"] });
    createInterface({ input: p.stdout }).on("line", (l) => {
      if (l.startsWith("# new generation")) this.onGeneration();
    });
    createInterface({ input: p.stderr }).on("line", (l) => {
      this.onStderr(l);
    });
    // Only the current process's death concerns the in-flight command; one we killed after a
    // timeout has been replaced already.
    p.once("error", (e) => {
      if (this.proc !== p) return;
      this.proc = null;
      this.failAll(e);
    });
    p.once("exit", () => {
      if (this.proc !== p) return;
      this.proc = null;
      this.failAll(new Error("nft exited"));
    });
    this.proc = p;
    return p;
  }

  /** Run one nft command (a transaction); resolves when the kernel has committed it. */
  run(line: string): Promise<void> {
    if (line.includes("\n")) throw new Error("internal: one nft command per line");
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight !== null || this.resyncing) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    const p = this.proc ?? this.start();
    this.inFlight = next;
    this.stderrTail = [];
    this.timer = setTimeout(() => {
      this.onTimeout();
    }, this.timeoutMs);
    p.stdin?.write(`${next.line}\n`);
  }

  private settle(): Pending | null {
    const cur = this.inFlight;
    this.inFlight = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return cur;
  }

  private onGeneration(): void {
    if (this.resyncing) {
      this.resyncing = false;
      this.pump();
      return;
    }
    this.settle()?.resolve();
    this.pump();
  }

  private onStderr(line: string): void {
    this.stderrTail.push(line);
    if (!line.startsWith("Error:") || this.resyncing) return;
    const cur = this.settle();
    if (cur === null) return;
    cur.reject(new CommandError([...this.nft, "-i", cur.line], 1, line));
    this.resyncing = true;
    this.proc?.stdin?.write(`${this.markerCommand}\n`);
  }

  private onTimeout(): void {
    const cur = this.settle();
    cur?.reject(new CommandError([...this.nft, "-i", cur.line], -1, "timed out"));
    // The stream state is unknown now: start over with a fresh process.
    this.resyncing = false;
    this.proc?.kill("SIGKILL");
    this.proc = null;
    this.pump();
  }

  private failAll(e: Error): void {
    this.settle()?.reject(e);
    this.resyncing = false;
    // Keep serving: the next command starts a new process.
    this.pump();
  }

  close(): void {
    for (const q of this.queue) q.reject(new Error("nft channel closed"));
    this.queue = [];
    this.settle()?.reject(new Error("nft channel closed"));
    const p = this.proc;
    this.proc = null;
    if (p !== null) {
      p.stdin?.end();
      setTimeout(() => p.kill("SIGKILL"), 1000).unref();
    }
  }
}
