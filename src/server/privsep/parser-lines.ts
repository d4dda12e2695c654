/**
 * Log lines and counts from the packet parser, taken as untrusted: a level and event from the
 * known sets, the known fields with their types, the text cut to one line of at most 1,024
 * characters. A parser taken over can still write lies in the log (as any sender of packets can
 * make lines appear), but not forge other events, break the line format, or flood past a budget.
 */
import { isIP } from "node:net";
import type { EventFields, Level, LogEvent } from "../log-format.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { REFUSAL_LEVEL, type RefusalReason } from "../refusals.js";

const LEVELS: ReadonlySet<string> = new Set(["err", "warning", "notice", "info", "debug"]);
/** The events the parser's code writes; anything else is logged as a plain "message". */
const EVENTS: ReadonlySet<string> = new Set([
  "spa_rejected",
  "spa_signed",
  "log_suppressed",
  "packet_limit",
  "message",
]);
const MAX_TEXT = 1024;
const MAX_COUNT = 10_000_000;

export interface ParserLine {
  level: Level;
  event: LogEvent;
  fields: EventFields;
  text: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;
/** One line of at most `max` characters, control characters shown as "?". */
export const clean = (v: string, max: number): string => v.slice(0, max).replace(CONTROL, "?");

function fieldsOf(raw: unknown): EventFields {
  const f = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const out: EventFields = {};
  if (typeof f.user === "string") out.user = clean(f.user, 64);
  if (typeof f.stanza === "number" && Number.isInteger(f.stanza)) out.stanza = f.stanza;
  if (typeof f.src === "string" && isIP(f.src) !== 0) out.src = f.src;
  if (typeof f.reason === "string") out.reason = clean(f.reason, 64);
  return out;
}

/** Null when the message is not a log line at all. */
export function parserLogLine(m: unknown): ParserLine | null {
  if (typeof m !== "object" || m === null) return null;
  const r = m as { level?: unknown; event?: unknown; fields?: unknown; text?: unknown };
  if (typeof r.level !== "string" || !LEVELS.has(r.level) || typeof r.text !== "string")
    return null;
  return {
    level: r.level as Level,
    event: (typeof r.event === "string" && EVENTS.has(r.event) ? r.event : "message") as LogEvent,
    fields: fieldsOf(r.fields),
    text: clean(r.text, MAX_TEXT),
  };
}

const count = (n: unknown): number =>
  typeof n === "number" && Number.isInteger(n) && n > 0 ? Math.min(n, MAX_COUNT) : 0;

/** The parser's tally since its last one, into the daemon's counters. */
export function parserCounts(m: unknown, metrics: DaemonMetrics): void {
  if (typeof m !== "object" || m === null) return;
  const r = m as { packets?: unknown; refused?: unknown };
  const packets = count(r.packets);
  if (packets > 0) metrics.packet(packets);
  const refused = (typeof r.refused === "object" && r.refused !== null ? r.refused : {}) as Record<
    string,
    unknown
  >;
  for (const [reason, n] of Object.entries(refused)) {
    const k = count(n);
    if (k > 0 && (reason === "http" || Object.hasOwn(REFUSAL_LEVEL, reason)))
      metrics.refused(reason as RefusalReason | "http", k);
  }
}
