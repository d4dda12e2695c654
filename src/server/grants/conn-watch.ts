/**
 * Attribution (issue 14): which connections a grant let in. Every accept of a grant marks its
 * connection (nft-counted.ts: CT_MARK_BIT), and conntrack reports each new marked connection as
 * it is confirmed; `conntrack -E` (conntrack-tools) runs as a long-lived child and its event
 * lines are read here. Only connections a grant admitted carry the mark, so nothing else is
 * reported, and a dropped SYN is never confirmed, so it is not either.
 */
import { existsSync } from "node:fs";
import { spawnReader, stopChild, type ReaderChild } from "../../exec.js";
import { CT_MARK_BIT } from "../firewall/nft-counted.js";

/** A connection as conntrack lists it: its original direction. */
export interface ConnTuple {
  proto: "tcp" | "udp";
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

/** One connection a grant admitted. */
export interface AdmittedConn extends ConnTuple {
  /** The reply comes from another port than the one dialled: redirected (the token gate). */
  redirected: boolean;
}

const CONNTRACK_PATHS = ["/usr/sbin/conntrack", "/sbin/conntrack"];

/** The conntrack program, or null when conntrack-tools is not installed. */
export function conntrackProgram(): string | null {
  return CONNTRACK_PATHS.find((p) => existsSync(p)) ?? null;
}

/**
 * One line of `conntrack -L -o extended`, or of `conntrack -E` (then led by its event, "[NEW]"),
 * e.g. `[NEW] ipv4 2 tcp 6 120 SYN_SENT src=198.18.0.2 dst=198.18.0.1 sport=33282 dport=1234
 * [UNREPLIED] src=...`: the first src/dst/sport/dport are the original direction, the second
 * sport the reply's. Anything else is null.
 */
export function parseConntrackLine(line: string): AdmittedConn | null {
  const m =
    /^\s*(?:\[\w+\]\s+)?ipv[46]\s+\d+\s+(tcp|udp)\s+\d+\s.*?\bsrc=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)(?:.*?\bsrc=\S+ dst=\S+ sport=(\d+))?/.exec(
      line,
    );
  if (m === null) return null;
  return {
    proto: m[1] as "tcp" | "udp",
    src: m[2] ?? "",
    dst: m[3] ?? "",
    sport: Number(m[4]),
    dport: Number(m[5]),
    redirected: m[6] !== undefined && m[6] !== m[5],
  };
}

/** An event line of `conntrack -E`: only new connections count. */
export function parseConntrackEvent(line: string): AdmittedConn | null {
  return /^\s*\[NEW\]/.test(line) ? parseConntrackLine(line) : null;
}

const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

export class ConnWatch {
  private child: ReaderChild | null = null;
  private rest = "";

  constructor(
    private readonly onConn: (c: AdmittedConn) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Start watching; a conntrack that cannot run or stops is logged. */
  start(program: string): void {
    const bit = `${CT_MARK_BIT}/${CT_MARK_BIT}`;
    const argv = ["-E", "-e", "NEW", "-o", "extended", "--mark", bit];
    // conntrack outlives a killed fwknopd otherwise (it only notices its reader is gone at its
    // next event): setpriv (util-linux) asks the kernel to kill it when its parent dies.
    const child =
      SETPRIV === undefined
        ? spawnReader(program, argv)
        : spawnReader(SETPRIV, ["--pdeathsig", "KILL", program, ...argv]);
    this.child = child;
    child.stdout.setEncoding("latin1");
    child.stdout.on("data", (chunk: string) => {
      const lines = (this.rest + chunk).split("\n");
      this.rest = lines.pop() ?? "";
      // A line that runs on without a newline is not conntrack's; keep memory bounded.
      if (this.rest.length > 4096) this.rest = "";
      for (const l of lines) {
        const c = parseConntrackEvent(l);
        if (c !== null) this.onConn(c);
      }
    });
    child.stderr.resume();
    child.on("error", (e) => {
      this.log(`Connection attribution stopped: ${program}: ${e.message}`);
      this.child = null;
    });
    child.on("exit", (code, signal) => {
      if (this.child === child)
        this.log(
          `Connection attribution stopped: ${program} exited (${signal ?? `status ${code ?? "?"}`})`,
        );
      this.child = null;
    });
  }

  async close(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c !== null) await stopChild(c, { signal: "SIGTERM", killAfterMs: 1000 });
  }
}
