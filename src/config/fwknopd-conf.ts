/**
 * fwknopd.conf (and -O override files): every variable from the table in fwknopd-vars.ts, values
 * kept as text with where they came from (for -D and for errors), checked by kind as they are read.
 * An unknown name is a warning, as in C; a bad value is a ConfigError naming file, line and value.
 */
import { readFileSync, statSync } from "node:fs";
import { ConfigError } from "../errors.js";
import { isValidIpv4 } from "../spa/index.js";
import { isBadLine, readConfLines } from "./conf-lines.js";
import { FWKNOPD_VARS, VAR_BY_NAME, type VarDef } from "./fwknopd-vars.js";

export interface Origin {
  file: string;
  line: number;
}

export interface ChainSpec {
  target: string;
  table: string;
  fromChain: string;
  jumpPos: number;
  toChain: string;
  rulePos: number;
}

/** server/config_init.c: $NAME at the start of a value, one expansion, suffix kept. */
const VAR_REF = /^\$([A-Z_]+)/;

export class ServerConfig {
  private readonly values = new Map<string, { value: string; origin: Origin | null }>();

  /** Set a variable, checking its value; origin null means the command line. */
  set(name: string, value: string, origin: Origin | null): void {
    const def = VAR_BY_NAME.get(name);
    if (def === undefined) throw new Error(`internal: unknown variable ${name}`);
    const expanded = this.expand(value, origin);
    checkValue(def, expanded, origin);
    this.values.set(name, { value: expanded, origin });
  }

  private expand(value: string, origin: Origin | null): string {
    const m = VAR_REF.exec(value);
    if (m === null) return value;
    const ref = m[1] ?? "";
    const v = this.get(ref);
    if (v === null)
      throw new ConfigError(
        origin?.file ?? "<command line>",
        origin?.line ?? 0,
        `'${value}': $${ref} is not set`,
      );
    return v + value.slice(m[0].length);
  }

  /** The value, or its default (with $VAR defaults resolved), or null when unset. */
  get(name: string): string | null {
    const v = this.values.get(name);
    if (v !== undefined) return v.value;
    const def = VAR_BY_NAME.get(name)?.def ?? null;
    if (def === null) return null;
    const m = VAR_REF.exec(def);
    return m === null ? def : (this.get(m[1] ?? "") ?? "") + def.slice(m[0].length);
  }

  isSet(name: string): boolean {
    return this.values.has(name);
  }

  origin(name: string): Origin | null {
    return this.values.get(name)?.origin ?? null;
  }

  bool(name: string): boolean {
    return (this.get(name) ?? "N").charAt(0).toUpperCase() === "Y";
  }

  int(name: string): number {
    return Number(this.get(name) ?? "0");
  }

  str(name: string): string | null {
    return this.get(name);
  }

  chain(name: string): ChainSpec {
    return (
      parseChainSpec(this.get(name) ?? "") ?? {
        target: "ACCEPT",
        table: "filter",
        fromChain: "INPUT",
        jumpPos: 1,
        toChain: "FWKNOP_INPUT",
        rulePos: 1,
      }
    );
  }

  /** -D: every variable as C prints it ("%3i. %-28s =  '%s'"), secrets hidden. */
  dump(): string {
    return FWKNOPD_VARS.map((d, n) => {
      const v = this.get(d.name);
      const shown = v === null ? "<not set>" : d.secret === true ? "<hidden>" : v;
      return `${String(n).padStart(3)}. ${d.name.padEnd(28)} =  '${shown}'`;
    }).join("\n");
  }
}

function bad(origin: Origin | null, def: VarDef, value: string, why: string): never {
  throw new ConfigError(
    origin?.file ?? "<command line>",
    origin?.line ?? 0,
    `${def.name} '${value}': ${why}`,
  );
}

export function parseChainSpec(v: string): ChainSpec | null {
  if (!/^[A-Za-z0-9_ ,]+$/.test(v)) return null;
  const f = v.split(",").map((x) => x.trim());
  if (f.length !== 6 || f.some((x) => x === "")) return null;
  const [target, table, fromChain, jumpPos, toChain, rulePos] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!/^[0-9]+$/.test(jumpPos) || !/^[0-9]+$/.test(rulePos)) return null;
  return { target, table, fromChain, jumpPos: Number(jumpPos), toChain, rulePos: Number(rulePos) };
}

function checkValue(def: VarDef, value: string, origin: Origin | null): void {
  switch (def.kind) {
    case "bool":
      if (!/^[YyNn]/.test(value)) bad(origin, def, value, "expected Y or N");
      return;
    case "int": {
      if (!/^[0-9]+$/.test(value)) bad(origin, def, value, "expected a whole number");
      const n = Number(value);
      if ((def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max))
        bad(origin, def, value, `out of range [${def.min ?? 0}-${def.max ?? Infinity}]`);
      return;
    }
    case "chain":
      if (parseChainSpec(value) === null)
        bad(
          origin,
          def,
          value,
          "expected 'target, table, from_chain, jump_pos, to_chain, rule_pos' (letters, digits, _)",
        );
      return;
    case "facility":
      if (!/^LOG_(DAEMON|LOCAL[0-7])$/.test(value))
        bad(origin, def, value, "expected LOG_DAEMON or LOG_LOCAL0..LOG_LOCAL7");
      return;
    case "firewall":
      if (!["auto", "nftables", "iptables", "firewalld"].includes(value))
        bad(origin, def, value, "expected auto, nftables, iptables or firewalld");
      return;
    case "ip":
      if (!isValidIpv4(value)) bad(origin, def, value, "expected an IPv4 address");
      return;
    case "path":
    case "string":
      if (value === "") bad(origin, def, value, "empty value");
      return;
  }
}

export interface ParsedConf {
  config: ServerConfig;
  warnings: string[];
}

export function parseFwknopdConfText(
  config: ServerConfig,
  file: string,
  text: string,
  warnings: string[],
): void {
  for (const l of readConfLines(file, text)) {
    if (isBadLine(l)) {
      const def = VAR_BY_NAME.get(l.bad);
      if (def !== undefined) throw new ConfigError(file, l.line, `${l.bad}: missing value`);
      warnings.push(`${file}:${l.line}: Ignoring unknown configuration parameter: '${l.bad}'`);
      continue;
    }
    const def = VAR_BY_NAME.get(l.name);
    if (def === undefined) {
      warnings.push(`${file}:${l.line}: Ignoring unknown configuration parameter: '${l.name}'`);
      continue;
    }
    if (def.dead === true)
      warnings.push(`${file}:${l.line}: ${l.name} is accepted but has no effect (${def.doc})`);
    config.set(l.name, l.value, { file, line: l.line });
  }
}

/** Only a non-regular file is fatal (server/utils.c:verify_file_perms_ownership); the rest warns. */
export function filePermissionWarning(path: string): string | null {
  const st = statSync(path);
  if (!st.isFile()) throw new ConfigError(path, 0, "not a regular file");
  if ((st.mode & 0o077) !== 0)
    return `[-] file: ${path} permissions should only be user read/write (0600, -rw-------)`;
  if (typeof process.getuid === "function" && st.uid !== process.getuid())
    return `[-] file: ${path} (owner: ${st.uid}) not owned by current effective user id: ${process.getuid()}`;
  return null;
}

export function parseFwknopdConf(
  main: string,
  overrides: readonly string[],
  read: (p: string) => string = (p) => readFileSync(p, "latin1"),
): ParsedConf {
  const config = new ServerConfig();
  const warnings: string[] = [];
  for (const f of [main, ...overrides]) {
    let text: string;
    try {
      text = read(f);
    } catch (e) {
      throw new ConfigError(
        f,
        0,
        `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    parseFwknopdConfText(config, f, text, warnings);
  }
  config.set("CONFIG_FILE", main, null);
  if (overrides.length > 0) config.set("OVERRIDE_CONFIG", overrides.join(","), null);
  return { config, warnings };
}
