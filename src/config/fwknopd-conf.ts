/**
 * fwknopd.conf (and -O override files): every variable from the table in fwknopd-vars.ts, values
 * kept as text with where they came from (for -D and for errors), checked by kind as they are set.
 * An unknown name is a warning, as in C; a bad value is a ConfigError naming file, line and value.
 * `toSettings()` gives the typed view (camelCase, booleans, numbers, chain objects).
 */
import { readFileSync, statSync } from "node:fs";
import { ConfigError, InternalError } from "../errors.js";
import { isValidIpv4 } from "../spa/index.js";
import { NFT_NAME, parseChainSpec, parseNftChainRef, type ChainSpec } from "./chain-spec.js";
import { parseListenAddress } from "./listen-address.js";
import { expandVarRef, isBadLine, readConfLines, shortened } from "./conf-lines.js";
import { camelCase, type FwknopdSettings, type SettingOf } from "./fwknopd-settings.js";
import { FWKNOPD_VARS, VAR_BY_NAME, type VarDef, type VarName } from "./fwknopd-vars.js";

export interface Origin {
  file: string;
  line: number;
}

export interface RawValue {
  value: string;
  file: string;
  line: number;
}

export { parseChainSpec, type ChainSpec };

const COMMAND_LINE = "<command line>";

const errno = (e: unknown): string =>
  (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));

export class ServerConfig {
  private readonly values = new Map<string, { value: string; origin: Origin | null }>();

  /**
   * Set a variable, checking its value; origin null means the command line. A value read from a
   * file may start with `$NAME` (config_init.c:parse_config_file); unlike C, the reference may be
   * a variable still at its default (C sees only variables set earlier in the files).
   */
  set(name: string, value: string, origin: Origin | null): void {
    const def = VAR_BY_NAME.get(name);
    if (def === undefined) throw new InternalError(`unknown variable ${name}`);
    let v = value;
    if (origin !== null) {
      const x = expandVarRef(value, (ref) => (VAR_BY_NAME.has(ref) ? this.get(ref) : null));
      if (typeof x !== "string")
        bad(
          origin,
          def,
          value,
          VAR_BY_NAME.has(x.missing)
            ? `$${x.missing} is not set`
            : `$${x.missing} is not a fwknopd.conf variable`,
        );
      v = x;
    }
    checkValue(def, v, origin);
    this.values.set(name, { value: v, origin });
  }

  /** The value, or its default (with "$VAR/..." defaults resolved), or null when unset. */
  get(name: string): string | null {
    const v = this.values.get(name);
    if (v !== undefined) return v.value;
    const def = VAR_BY_NAME.get(name)?.def ?? null;
    if (def === null) return null;
    if (typeof def === "function") return def((n) => this.values.has(n));
    const x = expandVarRef(def, (ref) => this.get(ref));
    return typeof x === "string" ? x : null;
  }

  isSet(name: VarName): boolean {
    return this.values.has(name);
  }

  origin(name: VarName): Origin | null {
    return this.values.get(name)?.origin ?? null;
  }

  /** Every variable set by a file or the command line, as read (after $VAR expansion). */
  get raw(): ReadonlyMap<string, RawValue> {
    const out = new Map<string, RawValue>();
    for (const [name, { value, origin }] of this.values)
      out.set(name, { value, file: origin?.file ?? COMMAND_LINE, line: origin?.line ?? 0 });
    return out;
  }

  /** C's strncasecmp(value, "Y", 1). */
  bool(name: VarName): boolean {
    return (this.get(name) ?? "N").charAt(0).toUpperCase() === "Y";
  }

  int(name: VarName): number {
    return Number(this.get(name) ?? "0");
  }

  str(name: VarName): string | null {
    return this.get(name);
  }

  chain(name: VarName): ChainSpec {
    return this.chainOf(name, this.get(name) ?? "");
  }

  /** set() has checked every chain value, so one that does not parse here is a bug. */
  private chainOf(name: string, v: string): ChainSpec {
    const c = parseChainSpec(v);
    if (typeof c === "string") throw new InternalError(`${name} '${v}': ${c}`);
    return c;
  }

  /**
   * One variable, typed by the variable table (fwknopd-settings.ts): its kind's type, never null
   * when the table has a default, so no caller repeats a default.
   */
  value<N extends VarName>(name: N): SettingOf<N> {
    const def = VAR_BY_NAME.get(name);
    if (def === undefined) throw new InternalError(`unknown variable ${name}`);
    // typed() is the runtime twin of SettingOf, driven by the same table row.
    return this.typed(def) as SettingOf<N>;
  }

  /** The typed view of every variable; computed on demand, so later set() calls show. */
  toSettings(): FwknopdSettings {
    const out: Record<string, unknown> = {};
    for (const d of FWKNOPD_VARS) out[camelCase(d.name)] = this.typed(d);
    return out as FwknopdSettings;
  }

  private typed(d: VarDef): unknown {
    const v = this.get(d.name);
    if (v === null) return null;
    switch (d.kind) {
      case "bool":
        return v.charAt(0).toUpperCase() === "Y";
      case "int":
        return Number(v);
      case "chain":
        return this.chainOf(d.name, v);
      case "facility":
        return v.toUpperCase();
      case "listen":
        return parseListenAddress(v);
      case "absdir":
      case "firewall":
      case "nftfamily":
      case "nftjump":
      case "nfqtable":
      case "ifname":
      case "nftname":
      case "logformat":
      case "path":
      case "string":
        return v;
    }
  }

  /** -D: every variable as C prints it ("%3i. %-28s =  '%s'"), secrets hidden. */
  dump(): string {
    return dumpConfig(this);
  }
}

export function dumpConfig(config: ServerConfig): string {
  return FWKNOPD_VARS.map((d: VarDef, n) => {
    const v = config.get(d.name);
    const shown = v === null ? "<not set>" : d.secret === true ? "<hidden>" : v;
    return `${String(n).padStart(3)}. ${d.name.padEnd(28)} =  '${shown}'`;
  }).join("\n");
}

function bad(origin: Origin | null, def: VarDef, value: string, why: string): never {
  const shown = def.secret === true ? "<hidden>" : shortened(value);
  throw new ConfigError(
    origin?.file ?? COMMAND_LINE,
    origin?.line ?? 0,
    `${def.name} '${shown}': ${why}`,
  );
}

const CHAIN_FIELDS = "target, table, from_chain, jump_pos, to_chain, rule_pos";
const NFT_FAMILIES = ["inet", "ip", "ip6"];
/** Tables (iptables) or hook priorities (nftables) that see the input hook. */
const NFQ_TABLES = ["raw", "mangle", "filter", "security"];

function checkValue(def: VarDef, value: string, origin: Origin | null): void {
  const no = (why: string): never => bad(origin, def, value, why);
  switch (def.kind) {
    case "bool":
      // C reads only the first character; we refuse what is neither Y nor N instead of reading N.
      if (!/^[YyNn]/.test(value)) no("expected Y or N");
      return;
    case "int": {
      if (!/^[0-9]+$/.test(value)) no("expected a whole number");
      const n = Number(value);
      if ((def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max))
        no(`out of range [${def.min ?? 0}-${def.max ?? Number.MAX_SAFE_INTEGER}]`);
      return;
    }
    case "chain": {
      const c = parseChainSpec(value);
      if (typeof c === "string") no(`expected '${CHAIN_FIELDS}': ${c}`);
      return;
    }
    case "facility":
      if (!/^LOG_(DAEMON|LOCAL[0-7])$/i.test(value))
        no("expected LOG_DAEMON or LOG_LOCAL0..LOG_LOCAL7");
      return;
    case "firewall":
      if (!["auto", "nftables", "iptables", "firewalld"].includes(value))
        no("expected auto, nftables, iptables or firewalld");
      return;
    case "absdir":
      if (!value.startsWith("/")) no("not an absolute path");
      return;
    case "nftname":
      if (!NFT_NAME.test(value)) no("not an nftables name (letters, digits, _ . -)");
      return;
    case "nftfamily":
      if (!NFT_FAMILIES.includes(value)) no("expected inet, ip or ip6");
      return;
    case "nftjump":
      if (parseNftChainRef(value) === null)
        no('expected "family table chain", e.g. "inet filter input"');
      return;
    case "nfqtable":
      if (!NFQ_TABLES.includes(value)) no("expected raw, mangle, filter or security");
      return;
    case "ifname":
      // Written into an nft rule as a quoted name: nothing that could end the quotes.
      if (!/^[A-Za-z0-9_.:@-]{0,15}$/.test(value)) no("not an interface name");
      return;
    case "listen": {
      const a = parseListenAddress(value);
      if (typeof a === "string") no(a);
      return;
    }
    case "logformat":
      if (value !== "text" && value !== "json") no("expected text or json");
      return;
    case "path":
    case "string":
      if (value === "") no("empty value");
      return;
  }
}

/** METRICS_LISTEN on the SPA port would put the metrics where every client knocks. */
function checkMetricsPort(config: ServerConfig): void {
  const m = config.value("METRICS_LISTEN");
  if (m === null) return;
  const clash =
    m.port === config.value("UDPSERV_PORT")
      ? "UDPSERV_PORT"
      : config.value("ENABLE_TCP_SERVER") && m.port === config.value("TCPSERV_PORT")
        ? "TCPSERV_PORT"
        : null;
  if (clash === null) return;
  const o = config.origin("METRICS_LISTEN");
  throw new ConfigError(
    o?.file ?? COMMAND_LINE,
    o?.line ?? 0,
    `METRICS_LISTEN '${config.get("METRICS_LISTEN") ?? ""}': port ${m.port} is the SPA port (${clash}); give the metrics a port of their own`,
  );
}

/** Checks across variables, from server/config_init.c:validate_options. */
function validateOptions(config: ServerConfig): void {
  checkMetricsPort(config);
  const snat = config.get("SNAT_TRANSLATE_IP");
  if (
    snat !== null &&
    (config.bool("ENABLE_IPT_SNAT") || config.bool("ENABLE_FIREWD_SNAT")) &&
    !isValidIpv4(snat)
  ) {
    const o = config.origin("SNAT_TRANSLATE_IP");
    throw new ConfigError(
      o?.file ?? COMMAND_LINE,
      o?.line ?? 0,
      `SNAT_TRANSLATE_IP '${snat}': not an IPv4 address (SNAT is enabled)`,
    );
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
  for (const l of readConfLines(file, text, "utf8")) {
    const name = isBadLine(l) ? l.bad : l.name;
    const def = VAR_BY_NAME.get(name);
    if (def === undefined) {
      warnings.push(
        `${file}:${l.line}: Ignoring unknown configuration parameter: '${shortened(name)}'`,
      );
      continue;
    }
    // C logs "Invalid config file entry" and goes on; a known name without a value is refused.
    if (isBadLine(l)) throw new ConfigError(file, l.line, `${name}: missing value`);
    if (def.dead === true)
      warnings.push(`${file}:${l.line}: ${name} is accepted but has no effect (${def.doc})`);
    config.set(name, l.value, { file, line: l.line });
  }
}

/**
 * server/utils.c:verify_file_perms_ownership: only a non-regular file is fatal; a group- or
 * world-accessible file, or one owned by another user, gets a warning (C also warns about modes
 * stricter than 0600; we do not).
 */
export function filePermissionWarning(path: string): string | null {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ConfigError(path, 0, `cannot stat: ${errno(e)}`);
  }
  if (!st.isFile()) throw new ConfigError(path, 0, "not a regular file");
  const out: string[] = [];
  if ((st.mode & 0o077) !== 0)
    out.push(`[-] file: ${path} permissions should only be user read/write (0600, -rw-------)`);
  const uid = typeof process.getuid === "function" ? process.getuid() : null;
  if (uid !== null && st.uid !== uid)
    out.push(`[-] file: ${path} (owner: ${st.uid}) not owned by current effective user id: ${uid}`);
  return out.length === 0 ? null : out.join("\n");
}

export interface FwknopdConfFiles {
  /** -c, default /etc/fwknop/fwknopd.conf */
  main: string;
  /** -O files, read in order after the main file. */
  overrides: readonly string[];
}

type ReadFile = (p: string) => string;
/** Only text here (paths, names); no key bytes to keep as in access.conf. */
const readUtf8: ReadFile = (p) => readFileSync(p, "utf8");

export function parseFwknopdConf(files: FwknopdConfFiles, readFile?: ReadFile): ParsedConf;
/** The positional form the loader in src/server uses. */
export function parseFwknopdConf(
  main: string,
  overrides: readonly string[],
  readFile?: ReadFile,
): ParsedConf;
export function parseFwknopdConf(
  a: FwknopdConfFiles | string,
  b?: readonly string[] | ReadFile,
  c?: ReadFile,
): ParsedConf {
  const files =
    typeof a === "string"
      ? { main: a, overrides: b === undefined || typeof b === "function" ? [] : b }
      : a;
  const read = (typeof b === "function" ? b : c) ?? readUtf8;
  const config = new ServerConfig();
  const warnings: string[] = [];
  for (const f of [files.main, ...files.overrides]) {
    let text: string;
    try {
      text = read(f);
    } catch (e) {
      throw new ConfigError(f, 0, `cannot read: ${errno(e)}`);
    }
    parseFwknopdConfText(config, f, text, warnings);
  }
  validateOptions(config);
  config.set("CONFIG_FILE", files.main, null);
  if (files.overrides.length > 0) config.set("OVERRIDE_CONFIG", files.overrides.join(","), null);
  return { config, warnings };
}
