/**
 * Command-line parsing with glibc getopt_long semantics, as the C tools use: unique prefixes of long
 * options ("--gpg-recipient" for "--gpg-recipient-key"), "--opt=value" and "--opt value", bundled
 * short flags ("-vT"), attached short values ("-p62201"), and "--" to end options. Non-option
 * arguments are returned in order (the C tools ignore them).
 */
import { UsageError } from "../errors.js";

export interface OptSpec {
  long: string;
  short?: string;
  arg: "none" | "required";
}

export interface ParsedOpt<S extends OptSpec = OptSpec> {
  spec: S;
  value: string | null;
  /** How the user spelled it, for messages. */
  given: string;
}

export function getoptLong<S extends OptSpec>(
  argv: readonly string[],
  specs: readonly S[],
  prog: string,
): { opts: ParsedOpt<S>[]; rest: string[] } {
  const byShort = new Map<string, S>();
  for (const s of specs) if (s.short !== undefined) byShort.set(s.short, s);
  const opts: ParsedOpt<S>[] = [];
  const rest: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const exact = specs.find((s) => s.long === name);
      const matches = exact !== undefined ? [exact] : specs.filter((s) => s.long.startsWith(name));
      const spec = matches[0];
      if (spec === undefined) throw new UsageError(`${prog}: unrecognized option '--${name}'`, a);
      if (matches.length > 1)
        throw new UsageError(
          `${prog}: option '--${name}' is ambiguous; possibilities: ${matches.map((m) => `'--${m.long}'`).join(" ")}`,
          a,
        );
      if (spec.arg === "none") {
        if (eq >= 0)
          throw new UsageError(`${prog}: option '--${spec.long}' doesn't allow an argument`, a);
        opts.push({ spec, value: null, given: `--${spec.long}` });
      } else if (eq >= 0) {
        opts.push({ spec, value: a.slice(eq + 1), given: `--${spec.long}` });
      } else {
        const v = argv[i + 1];
        if (v === undefined)
          throw new UsageError(`${prog}: option '--${spec.long}' requires an argument`, a);
        i++;
        opts.push({ spec, value: v, given: `--${spec.long}` });
      }
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const ch = a.charAt(j);
        const spec = byShort.get(ch);
        if (spec === undefined)
          throw new UsageError(`${prog}: invalid option -- '${ch}'`, `-${ch}`);
        if (spec.arg === "none") {
          opts.push({ spec, value: null, given: `-${ch}` });
          continue;
        }
        let v: string | undefined = a.slice(j + 1);
        if (v === "") {
          v = argv[i + 1];
          if (v === undefined)
            throw new UsageError(`${prog}: option requires an argument -- '${ch}'`, `-${ch}`);
          i++;
        }
        opts.push({ spec, value: v, given: `-${ch}` });
        break;
      }
      continue;
    }
    rest.push(a);
  }
  return { opts, rest };
}
