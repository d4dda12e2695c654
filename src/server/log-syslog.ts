/**
 * Syslog through one long-lived util-linux `logger` (Node has no syslog(3)): `-t IDENT`, the
 * daemon's PID as C's openlog(LOG_PID) shows it, and `--prio-prefix`, so each line written to its
 * stdin carries its own `<facility*8+severity>` (server/log_msg.c calls syslog() with the level of
 * each message). The program is found by absolute path, not through PATH; without one the daemon
 * says so once on stderr. Started at the first line, and again (at most every 5 s) if it dies.
 */
import { existsSync } from "node:fs";
import { spawnWriter, type WriterChild } from "../exec.js";
import { syslogPrefix, type Level } from "./log-format.js";

const LOGGER_PATHS = ["/usr/bin/logger", "/bin/logger"];
const RESPAWN_MS = 5000;
/** logger's own default is 1 KiB; JSON lines with a long message are longer. */
const MAX_LINE = 8192;

export interface SyslogDeps {
  /** Where to say, once, that syslog does not work. */
  complain: (line: string) => void;
  exists?: (path: string) => boolean;
  spawn?: (file: string, args: readonly string[]) => WriterChild;
  nowMs?: () => number;
}

export class SyslogWriter {
  private child: WriterChild | null = null;
  private lastSpawnMs = -Infinity;
  private complained = false;
  private readonly exe: string | null;

  constructor(
    readonly identity: string,
    readonly facility: number,
    private readonly deps: SyslogDeps,
  ) {
    const exists = deps.exists ?? existsSync;
    this.exe = LOGGER_PATHS.find((p) => exists(p)) ?? null;
  }

  write(level: Level, body: string): void {
    const child = this.child ?? this.start();
    if (child === null) return;
    child.stdin.write(`${syslogPrefix(this.facility, level)}${body.replace(/\n/g, " ")}\n`);
  }

  /** Close logger's stdin: it writes what it has read and exits. */
  close(): void {
    this.child?.stdin.end();
    this.child = null;
  }

  private start(): WriterChild | null {
    if (this.exe === null) {
      this.complainOnce(
        `fwknopd: no syslog: neither ${LOGGER_PATHS.join(" nor ")} exists (util-linux's logger); log lines go to stderr only`,
      );
      return null;
    }
    const now = (this.deps.nowMs ?? Date.now)();
    if (now - this.lastSpawnMs < RESPAWN_MS) return null;
    this.lastSpawnMs = now;
    const args = [
      "-t",
      this.identity,
      `--id=${process.pid}`,
      "--prio-prefix",
      "-S",
      String(MAX_LINE),
    ];
    const child = (this.deps.spawn ?? spawnWriter)(this.exe, args);
    const gone = (why: string): void => {
      if (this.child !== child) return;
      this.child = null;
      this.complainOnce(`fwknopd: syslog: ${this.exe ?? "logger"} ${why}; starting it again`);
    };
    child.on("error", (e) => {
      gone(`failed: ${e.message}`);
    });
    child.on("exit", (code, signal) => {
      gone(`exited (${signal ?? `status ${String(code)}`})`);
    });
    // A write after logger died must not take the daemon down with EPIPE.
    child.stdin.on("error", () => undefined);
    this.child = child;
    return child;
  }

  private complainOnce(line: string): void {
    if (this.complained) return;
    this.complained = true;
    this.deps.complain(line);
  }
}
