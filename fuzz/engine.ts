/**
 * A small coverage-guided fuzzer (libFuzzer's loop, in process): mutate an input from the corpus,
 * run the target, keep the input if it reached a code block, or a block-count bucket, that no
 * earlier input did. Coverage is V8's own block coverage, read through the inspector after each
 * run (Profiler.takePreciseCoverage, which also resets the counts). Jazzer.js, the usual choice,
 * does not load here: its prebuilt addon needs glibc 2.38 (Debian 12 has 2.36) and its older
 * releases fetch their binary from GitHub at install.
 *
 * A target may throw our typed errors (FwknopTsError: a config refusal is the expected answer to
 * bad input); anything else thrown, or a run over `hangMs`, is a finding, written to
 * fuzz/findings/<target>/ with the input.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";
import { FwknopTsError } from "../src/errors.js";

export interface FuzzTarget {
  name: string;
  /** Run one input; return normally or throw a FwknopTsError for a refusal. */
  run(input: Buffer): void;
  /** Tokens worth inserting (variable names, separators). */
  dictionary?: readonly string[];
  /** Inputs longer than this are cut (keeps runs fast and findings small). */
  maxLen?: number;
}

export interface Finding {
  input: Buffer;
  error: string;
  file: string;
}

export interface FuzzStats {
  execs: number;
  corpus: number;
  features: number;
  findings: Finding[];
  seconds: number;
}

interface Coverage {
  result: Array<{
    url: string;
    functions: Array<{ ranges: Array<{ startOffset: number; endOffset: number; count: number }> }>;
  }>;
}

/** libFuzzer's hit-count buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function bucket(n: number): number {
  if (n <= 3) return n;
  if (n < 8) return 4;
  if (n < 16) return 5;
  if (n < 32) return 6;
  return n < 128 ? 7 : 8;
}

class CoverageReader {
  private readonly session = new Session();
  constructor(private readonly only: (url: string) => boolean) {
    this.session.connect();
    this.post("Profiler.enable");
    this.post("Profiler.startPreciseCoverage", { callCount: true, detailed: true });
  }

  private post(method: string, params?: object): unknown {
    const box: { out: unknown; err: Error | null } = { out: null, err: null };
    // A session on this thread answers synchronously.
    this.session.post(method, params, (e, r) => {
      box.err = e;
      box.out = r;
    });
    if (box.err !== null) throw box.err;
    return box.out;
  }

  /** The blocks run since the last call, as feature strings. */
  take(): string[] {
    const cov = this.post("Profiler.takePreciseCoverage") as Coverage;
    const out: string[] = [];
    for (const script of cov.result) {
      if (!this.only(script.url)) continue;
      for (const fn of script.functions)
        for (const r of fn.ranges)
          if (r.count > 0)
            out.push(`${script.url}:${r.startOffset}:${r.endOffset}:${bucket(r.count)}`);
    }
    return out;
  }

  close(): void {
    this.session.disconnect();
  }
}

/** A small, seedable generator (xorshift32), so a run can be repeated. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x3a, 0x2c, 0x2f, 0x0a, 0x3d, 0x20, 0x2b, 0x25];

function mutate(
  src: Buffer,
  other: Buffer,
  dict: readonly string[],
  r: () => number,
  maxLen: number,
): Buffer {
  const pick = (n: number): number => Math.floor(r() * n);
  let b = Buffer.from(src);
  const rounds = 1 + pick(4);
  for (let i = 0; i < rounds; i++) {
    const at = b.length === 0 ? 0 : pick(b.length);
    switch (pick(8)) {
      case 0:
        if (b.length > 0) b[at] = (b[at] ?? 0) ^ (1 << pick(8));
        break;
      case 1:
        if (b.length > 0) b[at] = INTERESTING[pick(INTERESTING.length)] ?? 0;
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([pick(256)]), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + pick(8))]);
        break;
      case 4: {
        const len = 1 + pick(Math.min(32, Math.max(1, b.length)));
        const from = pick(Math.max(1, b.length));
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)]);
        break;
      }
      case 5: {
        const cut = pick(other.length + 1);
        b = Buffer.concat([b.subarray(0, at), other.subarray(cut)]);
        break;
      }
      case 6:
        if (dict.length > 0)
          b = Buffer.concat([
            b.subarray(0, at),
            Buffer.from(dict[pick(dict.length)] ?? "", "latin1"),
            b.subarray(at),
          ]);
        break;
      default:
        if (b.length > 0) b = b.subarray(0, pick(b.length));
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

/** The seed corpus of a target: every file in fuzz/corpus/<name>/. */
export function loadCorpus(dir: string): Buffer[] {
  try {
    return readdirSync(dir)
      .sort()
      .map((f) => readFileSync(join(dir, f)));
  } catch {
    return [];
  }
}

/** Run one input the way the fuzzer does: null if it passed, else why it is a finding. */
export function runOne(t: FuzzTarget, input: Buffer, hangMs: number): string | null {
  const t0 = performance.now();
  try {
    t.run(input);
  } catch (e) {
    if (!(e instanceof FwknopTsError))
      return e instanceof Error ? (e.stack ?? e.message) : String(e);
  }
  const ms = performance.now() - t0;
  return ms > hangMs ? `slow: ${ms.toFixed(0)} ms (limit ${hangMs} ms)` : null;
}

export function fuzz(
  t: FuzzTarget,
  opts: { seeds: Buffer[]; seconds: number; seed?: number; findingsDir: string; hangMs?: number },
): FuzzStats {
  const r = rng(opts.seed ?? Date.now());
  const hangMs = opts.hangMs ?? 1000;
  const maxLen = t.maxLen ?? 4096;
  const cov = new CoverageReader((url) => url.includes("/src/"));
  const seen = new Set<string>();
  const corpus: Buffer[] = [];
  const findings: Finding[] = [];
  const consider = (input: Buffer): void => {
    cov.take(); // what ran before this input is not its coverage
    const why = runOne(t, input, hangMs);
    const features = cov.take();
    if (why !== null) {
      const id = createHash("sha256").update(input).digest("hex").slice(0, 16);
      const dir = join(opts.findingsDir, t.name);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, id);
      writeFileSync(file, input);
      writeFileSync(`${file}.txt`, why);
      findings.push({ input, error: why.split("\n")[0] ?? why, file });
      return;
    }
    let fresh = false;
    for (const f of features)
      if (!seen.has(f)) {
        seen.add(f);
        fresh = true;
      }
    if (fresh) corpus.push(input);
  };
  const t0 = Date.now();
  let execs = 0;
  try {
    for (const s of opts.seeds.length > 0 ? opts.seeds : [Buffer.alloc(0)]) {
      consider(s);
      execs++;
    }
    if (corpus.length === 0) corpus.push(...opts.seeds, Buffer.alloc(0));
    const end = t0 + opts.seconds * 1000;
    while (Date.now() < end && findings.length < 10) {
      for (let i = 0; i < 64; i++) {
        const a = corpus[Math.floor(r() * corpus.length)] ?? Buffer.alloc(0);
        const b = corpus[Math.floor(r() * corpus.length)] ?? Buffer.alloc(0);
        consider(mutate(a, b, t.dictionary ?? [], r, maxLen));
        execs++;
      }
    }
  } finally {
    cov.close();
  }
  return {
    execs,
    corpus: corpus.length,
    features: seen.size,
    findings,
    seconds: (Date.now() - t0) / 1000,
  };
}
