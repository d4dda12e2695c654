/**
 * What every bench prints: a header saying where it ran, percentiles, and the side-by-side table
 * "metric | ours | C fwknopd | ratio | goal | met?". Flags are `--name=value` (or `--name value`).
 */
import { loadavg, cpus } from "node:os";

/** Nearest-rank percentile of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank] ?? NaN;
}

export const median = (xs: readonly number[]): number => percentile(xs, 50);

/** Flags as a map; "--x" alone is "true". */
export function parseFlags(argv = process.argv.slice(2)): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (!a.startsWith("--")) continue;
    const eq = a.indexOf("=");
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !(argv[i + 1] ?? "").startsWith("--"))
      out.set(a.slice(2), argv[++i] ?? "");
    else out.set(a.slice(2), "true");
  }
  return out;
}

export function numFlag(flags: Map<string, string>, name: string, dflt: number): number {
  const v = flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a number, got '${v}'`);
  return n;
}

/** Where and when: figures from a shared 2-core VM mean little without this line. */
export function header(title: string): void {
  const [l1, l5] = loadavg();
  console.log(`\n=== ${title} ===`);
  console.log(
    `node ${process.version}, ${cpus().length} CPU(s), load average ${l1?.toFixed(2) ?? "?"} / ${l5?.toFixed(2) ?? "?"} (1/5 min) at start; other jobs may share this machine`,
  );
}

export function fmt(x: number | null, digits = 2): string {
  if (x === null || Number.isNaN(x)) return "-";
  if (!Number.isFinite(x)) return "∞";
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en");
  return x.toFixed(digits);
}

export type Goal = { text: string; met: (ours: number) => boolean } | null;

export interface Row {
  metric: string;
  ours: number | null;
  /** C fwknopd's figure (or another reference), null when not measured. */
  ref: number | null;
  goal?: Goal;
  digits?: number;
}

/** The side-by-side table. Ratio is ours / reference. */
export function table(title: string, refName: string, rows: readonly Row[]): void {
  const head = ["metric", "ours", refName, "ratio", "goal", "met?"];
  const body = rows.map((r) => {
    const ratio = r.ours !== null && r.ref !== null && r.ref !== 0 ? r.ours / r.ref : null;
    const goal = r.goal ?? null;
    const met = goal === null || r.ours === null ? "" : goal.met(r.ours) ? "yes" : "NO";
    return [
      r.metric,
      fmt(r.ours, r.digits),
      fmt(r.ref, r.digits),
      ratio === null ? "-" : `${fmt(ratio)}x`,
      goal?.text ?? "",
      met,
    ];
  });
  grid(title, head, body);
}

/** A plain table: the first column left-aligned, the others right-aligned. */
export function grid(title: string, head: readonly string[], body: readonly string[][]): void {
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0)))
      .join(" | ");
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(width.map((w) => "-".repeat(w)).join("-|-"));
  for (const b of body) console.log(line(b));
}

/** Run `main`, print a failure, set the exit code; the rig's own handlers tear down on signals. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => {
      process.exitCode = 0;
    },
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exitCode = 1;
    },
  );
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
