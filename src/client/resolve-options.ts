/**
 * The client's settings from their sources, in client/config_init.c's order: the early flags
 * (which rc file, which stanza, -v, -h...), the rc file's [default] stanza, the named stanza (-n),
 * then the rest of the command line, which beats both.
 */
import { join } from "node:path";
import { ConfigError, UsageError } from "../errors.js";
import type { ParsedOpt } from "../argv/getopt.js";
import type { ClientConfig } from "./config.js";
import { OPTION_BY_RC, RC_ONLY_OPTIONS, type Bad, type ClientOption } from "./options.js";
import { createRcFileIfMissing, rcPermissionWarning, readRcFile, type RcEntry } from "./rc-file.js";

/** Where the rc file is looked for, and where its notices go. */
export interface RcFileIo {
  homeDir: () => string | null;
  out: (s: string) => void;
  err: (s: string) => void;
}

/**
 * Apply command-line options; returns the rc variables they correspond to (for
 * --save-rc-stanza), with the value as given (Y for flags).
 */
export function applyArgv(
  cfg: ClientConfig,
  opts: readonly ParsedOpt<ClientOption>[],
  onlyEarly: boolean,
): Map<string, string> {
  const rcValues = new Map<string, string>();
  for (const o of opts) {
    const opt = o.spec;
    if (onlyEarly && opt.early !== true) continue;
    if (opt.rc !== undefined) rcValues.set(opt.rc, o.value ?? "Y");
    if (opt.long === "source-ip") rcValues.set("ALLOW_IP", "source");
    if (opt.impliesGpg === true && !onlyEarly) {
      cfg.useGpg = true;
      rcValues.set("USE_GPG", "Y");
    }
    const bad: Bad = (msg) => {
      throw new UsageError(`${o.given}: ${msg}`, o.given);
    };
    opt.set(cfg, o.value ?? "", bad);
  }
  return rcValues;
}

/**
 * The whole command line, after the rc file: returns its rc variables as applyArgv does. The
 * command line beats the rc file: -s or -R given there means no ALLOW_IP from a stanza (unless
 * -a is given there too).
 */
export function applyCommandLine(
  cfg: ClientConfig,
  opts: readonly ParsedOpt<ClientOption>[],
): Map<string, string> {
  const rcValues = applyArgv(cfg, opts, false);
  const cmdAllow = rcValues.get("ALLOW_IP");
  const cmdResolve = [
    "RESOLVE_IP_HTTPS",
    "RESOLVE_IP_HTTP",
    "RESOLVE_URL",
    "RESOLVE_HTTP_ONLY",
  ].some((v) => rcValues.has(v));
  if (cmdAllow === "source" || (cmdAllow === undefined && cmdResolve)) cfg.allowIp = null;
  return rcValues;
}

function applyRc(cfg: ClientConfig, file: string, entries: readonly RcEntry[]): void {
  for (const e of entries) {
    const set = OPTION_BY_RC.get(e.name)?.set ?? RC_ONLY_OPTIONS.get(e.name);
    if (set === undefined) continue;
    const bad: Bad = (msg) => {
      throw new ConfigError(file, e.line, `${e.name} '${e.value}': ${msg}`);
    };
    set(cfg, e.value, bad);
  }
}

export function rcPath(cfg: ClientConfig, io: Pick<RcFileIo, "homeDir">): string {
  if (cfg.rcFile !== null) return cfg.rcFile;
  const home = cfg.noHomeDir ? null : io.homeDir();
  if (home === null)
    throw new UsageError("No home directory for ~/.fwknoprc: use --rc-file FILE or --no-rc-file");
  return join(home, ".fwknoprc");
}

/** The rc file's [default] and named stanzas, or with --stanza-list the list of stanzas. */
export function loadRcFile(cfg: ClientConfig, io: RcFileIo): void {
  if (cfg.noRcFile) return;
  const path = rcPath(cfg, io);
  if (createRcFileIfMissing(path)) io.out(`[*] Creating initial rc file: ${path}.\n`);
  const warn = rcPermissionWarning(path);
  if (warn !== null) io.err(`${warn}\n`);
  const rc = readRcFile(path);
  applyRc(cfg, path, rc.stanzas.get("default") ?? []);
  if (cfg.stanzaList) {
    io.out(`The following stanzas are configured in ${path} :\n`);
    for (const name of rc.stanzas.keys()) if (name !== "default") io.out(` - ${name}\n`);
    return;
  }
  if (cfg.namedConfig !== null) {
    const named = rc.stanzas.get(cfg.namedConfig);
    // A stanza about to be created by --save-rc-stanza need not exist yet.
    if (named === undefined && cfg.saveRcStanza) return;
    if (named === undefined)
      throw new UsageError(
        `Named configuration stanza '${cfg.namedConfig}' not found in ${path}`,
        "-n",
      );
    applyRc(cfg, path, named);
  }
}
