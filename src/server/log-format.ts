/**
 * What one log line is made of, independent of where it goes: the syslog severity of each level
 * and the code of each facility (<syslog.h>), the priority prefixes of syslog (facility*8 +
 * severity, RFC 3164) and of the journal's stderr streams (severity only, sd-daemon(3)), the JSON
 * line of LOG_FORMAT json, and whether stderr is the journal (systemd.exec(5), $JOURNAL_STREAM).
 * Pure: the clock and the stat of stderr are passed in.
 */

export type Level = "err" | "warning" | "notice" | "info" | "debug";

/** <syslog.h> LOG_ERR .. LOG_DEBUG. */
export const SEVERITY: Readonly<Record<Level, number>> = {
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

/** The facilities SYSLOG_FACILITY takes (server/log_msg.c:init_logging), with <syslog.h>'s codes. */
const FACILITY: Readonly<Record<string, number>> = {
  LOG_DAEMON: 3,
  LOG_LOCAL0: 16,
  LOG_LOCAL1: 17,
  LOG_LOCAL2: 18,
  LOG_LOCAL3: 19,
  LOG_LOCAL4: 20,
  LOG_LOCAL5: 21,
  LOG_LOCAL6: 22,
  LOG_LOCAL7: 23,
};

/** The facility's code; LOG_DAEMON for a name the configuration check would have refused. */
export function facilityCode(name: string): number {
  return FACILITY[name.toUpperCase()] ?? 3;
}

/** RFC 3164's PRI, as `logger --prio-prefix` reads it: `<134>` is local0.info. */
export function syslogPrefix(facility: number, level: Level): string {
  return `<${facility * 8 + SEVERITY[level]}>`;
}

/** sd-daemon(3)'s prefix for a line on a stream the journal reads: `<4>` is a warning. */
export function journalPrefix(level: Level): string {
  return `<${SEVERITY[level]}>`;
}

/**
 * Stable names for what a line reports (LOG_FORMAT json's `event`); "message" for lines that are
 * only text.
 */
export type LogEvent =
  | "start"
  | "start_failed"
  | "stop"
  | "reload"
  | "reload_failed"
  | "listening"
  | "firewall"
  | "firewall_flushed"
  | "firewall_error"
  | "config_warning"
  | "grant_added"
  | "grant_expired"
  | "grant_revoked"
  | "grant_failed"
  | "connection_admitted"
  | "connection_refused"
  | "spa_rejected"
  | "spa_signed"
  | "packet_limit"
  | "log_suppressed"
  | "parser_started"
  | "parser_exited"
  | "request_refused"
  | "message";

/** The fields a line carries when they are known (LOG_FORMAT json). */
export interface EventFields {
  user?: string;
  stanza?: number;
  /** The client's address: the packet's source, or for a grant the address it admits. */
  src?: string;
  proto?: string;
  port?: number;
  /** Epoch seconds at which the grant ends. */
  expires?: number;
  /** A refusal's reason (refusals.ts), or why a grant was revoked or the daemon stopped. */
  reason?: string;
  /** NAT grants: where connections are sent, "address:port". */
  nat?: string;
  /** The daemon's grant number (connection_admitted). */
  grant?: number;
  /** A connection's source port and destination address (connection_admitted). */
  sport?: number;
  dst?: string;
}

export type LogFormat = "text" | "json";

/** One JSON object: ts, level, event, the known fields, then msg (the text line, C's wording). */
export function jsonLine(
  now: Date,
  level: Level,
  event: LogEvent,
  fields: EventFields,
  msg: string,
): string {
  return JSON.stringify({ ts: now.toISOString(), level, event, ...fields, msg });
}

/**
 * systemd.exec(5): $JOURNAL_STREAM is "DEVICE:INODE" of the stream a service's stderr was
 * connected to; only when stderr is still that stream does the journal read our prefixes (a
 * child whose stderr was redirected inherits the variable too).
 */
export function stderrIsJournal(
  journalStream: string | undefined,
  stderr: { dev: bigint; ino: bigint } | null,
): boolean {
  if (journalStream === undefined || stderr === null) return false;
  const m = /^(\d+):(\d+)$/.exec(journalStream);
  if (m === null) return false;
  return BigInt(m[1] ?? "") === stderr.dev && BigInt(m[2] ?? "") === stderr.ino;
}
