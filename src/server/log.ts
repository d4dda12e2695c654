/**
 * fwknopd's log: stderr in the foreground, syslog when daemonised or with --syslog-enable
 * (server/log_msg.c). Syslog goes through one long-lived `logger` process (Node has no syslog
 * socket of its own), fed a line per message.
 */
import { spawnWriter, type WriterChild } from "../exec.js";

export type Level = "err" | "warning" | "notice" | "info" | "debug";

export interface Logger {
  log(level: Level, line: string): void;
  close(): void;
}

export interface LoggerOptions {
  stderr: boolean;
  syslog: boolean;
  identity: string;
  facility: string;
  verbosity: number;
}

const RANK: Record<Level, number> = { err: 3, warning: 4, notice: 5, info: 6, debug: 7 };

export function createLogger(o: LoggerOptions): Logger {
  let logger: WriterChild | null = null;
  if (o.syslog) {
    const facility = o.facility.toLowerCase().replace(/^log_/, "");
    logger = spawnWriter("logger", ["-t", o.identity, "-p", `${facility}.info`]);
    logger.on("error", () => (logger = null));
  }
  // LOG_INFO plus one level per -v, as C.
  const threshold = RANK.info + o.verbosity;
  return {
    log(level, line) {
      if (RANK[level] > threshold) return;
      if (o.stderr) process.stderr.write(`${line}\n`);
      logger?.stdin.write(`${line.replace(/\n/g, " ")}\n`);
    },
    close() {
      logger?.stdin.end();
      logger = null;
    },
  };
}
