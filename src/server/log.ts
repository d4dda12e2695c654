/**
 * fwknopd's log (server/log_msg.c): stderr in the foreground, syslog when daemonised or with
 * --syslog-enable, each line at its own level, shown up to LOG_INFO plus one level per -v.
 * Syslog carries the level in each line's priority, with SYSLOG_IDENTITY and SYSLOG_FACILITY
 * (log-syslog.ts); stderr lines get the journal's priority prefix when stderr is the journal.
 * LOG_FORMAT json (ours) writes every line, to both, as one JSON object (log-format.ts).
 * The configuration is read after the log is made, so `configure` applies it (at start and at
 * each reload, as C re-runs init_logging).
 */
import { fstatSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import {
  SEVERITY,
  facilityCode,
  journalPrefix,
  jsonLine,
  stderrIsJournal,
  type EventFields,
  type Level,
  type LogEvent,
  type LogFormat,
} from "./log-format.js";
import { SyslogWriter, type SyslogDeps } from "./log-syslog.js";

export type { EventFields, Level, LogEvent, LogFormat };

/** A line with what it is about; `text` is the line as text mode writes it (C's wording). */
export type EventLog = (level: Level, event: LogEvent, fields: EventFields, text: string) => void;

export interface Logger {
  /** A line that is only text (event "message"). */
  log(level: Level, line: string): void;
  event: EventLog;
  /** Would a line at this level be written (-v)? Lets the packet path skip building it. */
  wants(level: Level): boolean;
  /** SYSLOG_IDENTITY, SYSLOG_FACILITY and LOG_FORMAT from the configuration just read. */
  configure(c: LogSettings): void;
  close(): void;
}

export interface LogSettings {
  identity: string;
  facility: string;
  format: LogFormat;
}

export interface LoggerOptions {
  stderr: boolean;
  syslog: boolean;
  verbosity: number;
  /** Until configure(): C's defaults. */
  settings?: LogSettings;
  /** Where stderr lines go; process.stderr by default. */
  write?: (s: string) => void;
  /** $JOURNAL_STREAM and stderr's device and inode; read from the process by default. */
  journal?: { stream: string | undefined; stderr: { dev: bigint; ino: bigint } | null };
  now?: () => Date;
  syslogDeps?: Partial<SyslogDeps>;
}

export const DEFAULT_LOG_SETTINGS: LogSettings = {
  identity: "fwknopd",
  facility: "LOG_DAEMON",
  format: "text",
};

function stderrStat(): { dev: bigint; ino: bigint } | null {
  try {
    const st = fstatSync(2, { bigint: true });
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

/**
 * Where stderr lines go by default. With a file (or /dev/null) on stderr, process.stderr is a
 * SyncWriteStream, which turns each line into a Buffer from Node's 8 KB pool: a pool slab serves
 * ~100 lines, long enough to reach the old generation, and under a junk flood nothing fills that
 * generation, so no full GC frees them until V8's external-memory limit (64 MB) forces one; the
 * daemon's RSS crept ~0.4 MB per million junk datagrams with the flood's budgeted lines
 * (bench/memory.ts). writeSync of the string is what that stream does, without the Buffer. Pipes,
 * sockets and terminals (net.Socket) write strings without one.
 */
function stderrWriter(): (s: string) => void {
  if (process.stderr instanceof Socket)
    return (s) => {
      process.stderr.write(s);
    };
  return (s) => {
    writeSync(2, s);
  };
}

export function createLogger(o: LoggerOptions): Logger {
  const write = o.write ?? stderrWriter();
  const now = o.now ?? ((): Date => new Date());
  const j = o.journal ?? { stream: process.env.JOURNAL_STREAM, stderr: stderrStat() };
  const journal = o.stderr && stderrIsJournal(j.stream, j.stderr);
  let settings = o.settings ?? DEFAULT_LOG_SETTINGS;
  let syslog: SyslogWriter | null = null;
  const syslogFor = (s: LogSettings): SyslogWriter =>
    new SyslogWriter(s.identity, facilityCode(s.facility), {
      complain: (line) => {
        write(`${line}\n`);
      },
      ...o.syslogDeps,
    });
  if (o.syslog) syslog = syslogFor(settings);
  // LOG_INFO plus one level per -v, as C.
  const threshold = SEVERITY.info + o.verbosity;
  const event: EventLog = (level, ev, fields, text) => {
    if (SEVERITY[level] > threshold) return;
    const line = settings.format === "json" ? jsonLine(now(), level, ev, fields, text) : text;
    if (o.stderr) write(`${journal ? journalPrefix(level) : ""}${line}\n`);
    syslog?.write(level, line);
  };
  return {
    event,
    wants: (level) => SEVERITY[level] <= threshold,
    log(level, line) {
      event(level, "message", {}, line);
    },
    configure(c) {
      const restart =
        syslog !== null &&
        (c.identity !== syslog.identity || facilityCode(c.facility) !== syslog.facility);
      settings = c;
      if (!restart) return;
      syslog?.close();
      syslog = syslogFor(c);
    },
    close() {
      syslog?.close();
      syslog = null;
    },
  };
}
