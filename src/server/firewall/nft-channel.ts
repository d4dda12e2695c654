/**
 * A long-lived `nft -i` process fed one command line at a time (design.md: one nft process per
 * grant costs ~17 ms here, a line on a live channel ~0.5 ms). Every command is followed by a
 * listing of our tiny marker set; the listing's closing "}" says the command before it is done,
 * and an "Error: ..." on stderr in between says it failed. Not --echo: with echo, nft reads the
 * whole set back after each change, so an add costs 0.4 ms at 10 elements and 8 ms at 3,000
 * (measured here, nft 1.0.6); the marker listing stays at ~0.5 ms whatever the set size.
 * One command is in flight at a time, so a reply can never be misattributed.
 */
import { createInterface } from "node:readline";
import { CommandError, spawnConversation, stopChild, type ConversationChild } from "../../exec.js";
import { InternalError } from "../../errors.js";

/** What the nftables backend needs of a command channel (this one, or native/libnftables.ts). */
export interface NftCommands {
  readonly description: string;
  /** Run one nft command (a transaction); resolves when the kernel has committed it. */
  run(line: string): Promise<void>;
  close(): void;
}

interface Pending {
  line: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class NftChannel implements NftCommands {
  readonly description = "a long-lived `nft -i` process";
  private proc: ConversationChild | null = null;
  private queue: Pending[] = [];
  private inFlight: Pending | null = null;
  private error: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nft: readonly string[],
    /** A listing that always succeeds and ends with a "}" line, e.g. "list set inet fwknopd marker". */
    private readonly markerCommand: string,
    private readonly timeoutMs = 5000,
  ) {}

  private start(): ConversationChild {
    const [bin, ...pre] = this.nft;
    if (bin === undefined) throw new InternalError("empty nft command");
    const p = spawnConversation(bin, [...pre, "-i"]);
    createInterface({ input: p.stdout }).on("line", (l) => {
      if (l === "}" && this.proc === p) this.onMarker();
    });
    createInterface({ input: p.stderr }).on("line", (l) => {
      if (this.proc === p && this.inFlight !== null && l.startsWith("Error:")) this.error ??= l;
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
    if (line.includes("\n")) throw new InternalError("one nft command per line");
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight !== null) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    const p = this.proc ?? this.start();
    this.inFlight = next;
    this.error = null;
    this.timer = setTimeout(() => {
      this.onTimeout();
    }, this.timeoutMs);
    p.stdin.write(`${next.line}\n${this.markerCommand}\n`);
  }

  private settle(): Pending | null {
    const cur = this.inFlight;
    this.inFlight = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return cur;
  }

  private onMarker(): void {
    if (this.inFlight === null) return;
    // nft wrote any error before the listing; a stderr line that became readable in the same
    // poll as this stdout line is delivered before setImmediate callbacks run.
    setImmediate(() => {
      const cur = this.settle();
      if (cur === null) return;
      if (this.error === null) cur.resolve();
      else cur.reject(new CommandError([...this.nft, "-i", cur.line], 1, this.error));
      this.pump();
    });
  }

  private onTimeout(): void {
    const cur = this.settle();
    cur?.reject(new CommandError([...this.nft, "-i", cur.line], -1, "timed out"));
    // The stream state is unknown now: start over with a fresh process.
    this.proc?.kill("SIGKILL");
    this.proc = null;
    this.pump();
  }

  private failAll(e: Error): void {
    this.settle()?.reject(e);
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
      p.stdin.end();
      void stopChild(p, { killAfterMs: 1000 });
    }
  }
}
