/**
 * access.conf reader (server/access.c:parse_access_file, parse_access_folder, include_keys_file).
 * A stanza starts at each SOURCE line; lines of a file before its first SOURCE are ignored.
 * Directives: %include FILE (files nest less than 3 deep), %include_folder DIR (every *.conf),
 * %include_keys FILE (inside a stanza; key and GPG variables only). `folder` alone reads a whole
 * directory (--access-folder). Each stanza is checked as acc_data_is_valid does when it ends.
 *
 * As in C, a stanza belongs to its file: after an %include, the including file's lines go on
 * filling its own current stanza, and an included file's lines before its first SOURCE are
 * ignored. Deliberate differences: relative include paths are taken from the including file's
 * directory (C: the working directory), folders are read in sorted order (C: readdir order), and
 * %include_keys outside a stanza is an error (C ignores it silently).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError, InternalError } from "../errors.js";
import { newStanza, validateStanza, type AccessStanza } from "./access-stanza.js";
import { parseAddressList, type Bad } from "./access-values.js";
import { STANZA_VAR_BY_NAME, type StanzaVar } from "./access-vars.js";
import {
  isBadLine,
  readConfLines,
  shortened,
  utf8,
  type BadLine,
  type ConfLine,
} from "./conf-lines.js";

export { stanzaSummary, type AccessStanza, type GpgStanza } from "./access-stanza.js";
export {
  parseAddressList,
  parsePortList,
  type AddressList,
  type PortEntry,
} from "./access-values.js";

export interface ParsedAccess {
  stanzas: AccessStanza[];
  warnings: string[];
}

export interface AccessConfOptions {
  /** -a / ACCESS_FILE */
  file?: string | null;
  /** --access-folder / ACCESS_FOLDER: read this directory instead of `file`. */
  folder?: string | null;
  readFile?: (path: string) => string;
  listDir?: (dir: string) => string[];
  isDirectory?: (path: string) => boolean;
}

/** access.c: MAX_DEPTH; the top file is depth 1 and a file at depth 3 may not %include. */
const MAX_DEPTH = 3;

const DIRECTIVES = new Set(["%include", "%include_folder", "%include_keys", "SOURCE"]);

interface Draft {
  stanza: AccessStanza;
  /** %include_keys lines used, for the warning when the stanza has to be dropped. */
  keysFrom: string[];
  dropped: boolean;
}

type From = { file: string; line: number } | null;

/** Decoded as latin1 so KEY and REQUIRE_USERNAME keep their bytes (see conf-lines.ts). */
const readLatin1 = (p: string): string => readFileSync(p, "latin1");

const errno = (e: unknown): string =>
  (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));

export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * One read of access.conf and what it includes (access.c:parse_access_file and its include
 * handling): stanzas as drafts until they are complete, warnings as C would print them.
 */
class AccessReader {
  readonly drafts: Draft[] = [];
  readonly warnings: string[] = [];
  private readonly read: (p: string) => string;
  private readonly listDir: (d: string) => string[];
  private readonly isDir: (p: string) => boolean;

  constructor(opts: AccessConfOptions) {
    this.read = opts.readFile ?? readLatin1;
    this.listDir = opts.listDir ?? ((d: string) => readdirSync(d));
    this.isDir = opts.isDirectory ?? isDirectory;
  }

  private readText(path: string, from: From): string {
    try {
      return this.read(path);
    } catch (e) {
      throw new ConfigError(
        from?.file ?? path,
        from?.line ?? 0,
        `cannot read ${path}: ${errno(e)}`,
      );
    }
  }

  /** A stanza completed by %include_keys that ends up invalid is dropped, as C does. */
  private finish(d: Draft | null): void {
    if (d === null || d.dropped) return;
    try {
      validateStanza(d.stanza, this.warnings);
    } catch (e) {
      if (d.keysFrom.length === 0 || !(e instanceof ConfigError)) throw e;
      this.warnings.push(
        `${e.message} (keys from %include_keys at ${d.keysFrom.join(", ")}); stanza skipped`,
      );
      d.dropped = true;
    }
  }

  /** access.c:include_keys_file: trouble in the keys file stops reading it, never the server. */
  private includeKeys(l: ConfLine, d: Draft): void {
    d.keysFrom.push(`${l.file}:${l.line}`);
    const path = resolve(dirname(l.file), utf8(l.value));
    let text: string;
    try {
      text = this.read(path);
    } catch (e) {
      this.warnings.push(`${l.file}:${l.line}: cannot read keys file ${path}: ${errno(e)}`);
      return;
    }
    try {
      for (const k of readConfLines(path, text)) this.keysLine(k, d);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.warnings.push(`${e.message}; rest of the keys file ignored`);
    }
  }

  /** One line of a keys file: a key or GPG variable, or a warning; a ConfigError stops the file. */
  private keysLine(k: ConfLine | BadLine, d: Draft): void {
    const name = isBadLine(k) ? k.bad : k.name;
    const def = STANZA_VAR_BY_NAME.get(name);
    if (def?.inKeysFile !== true) {
      this.warnings.push(
        `${k.file}:${k.line}: ignoring '${shortened(name, "latin1")}' in a keys file`,
      );
      return;
    }
    if (isBadLine(k)) throw new ConfigError(k.file, k.line, `${name}: missing value`);
    def.set(d.stanza, k.value, { bad: lineError(k, def), isDirectory: this.isDir });
  }

  folder(dir: string, depth: number, from: From): void {
    let names: string[];
    try {
      names = this.listDir(dir)
        .filter((n) => n.endsWith(".conf"))
        .sort();
    } catch (e) {
      throw new ConfigError(
        from?.file ?? dir,
        from?.line ?? 0,
        `cannot read folder ${dir}: ${errno(e)}`,
      );
    }
    for (const n of names) this.file(join(dir, n), depth, from);
  }

  file(path: string, depth: number, from: From): void {
    let current: Draft | null = null;
    for (const l of readConfLines(path, this.readText(path, from))) {
      // C refuses any line without a value; an unknown name alone only gets a warning here.
      if (isBadLine(l)) {
        if (DIRECTIVES.has(l.bad) || STANZA_VAR_BY_NAME.has(l.bad)) missingValue(l);
        this.warnings.push(unknownParameter(l, l.bad));
        continue;
      }
      current = this.line(l, current, depth);
    }
    this.finish(current);
  }

  /** One line of a file; returns the stanza that later lines belong to. */
  private line(l: ConfLine, current: Draft | null, depth: number): Draft | null {
    const def = STANZA_VAR_BY_NAME.get(l.name);
    const bad: Bad = lineError(l, def);
    switch (l.name) {
      case "%include":
        if (depth >= MAX_DEPTH)
          throw new ConfigError(
            l.file,
            l.line,
            `%include of ${utf8(l.value)}: refusing to go deeper than ${MAX_DEPTH} levels`,
          );
        this.file(resolve(dirname(l.file), utf8(l.value)), depth + 1, l);
        return current;
      case "%include_folder":
        this.folder(resolve(dirname(l.file), utf8(l.value)), depth + 1, l);
        return current;
      case "SOURCE": {
        this.finish(current);
        const d: Draft = {
          stanza: newStanza(l.file, l.line, parseAddressList(l.value, bad)),
          keysFrom: [],
          dropped: false,
        };
        this.drafts.push(d);
        return d;
      }
      case "%include_keys":
        if (current === null) bad("%include_keys must be inside a stanza (after a SOURCE line)");
        this.includeKeys(l, current);
        return current;
    }
    if (def === undefined) this.warnings.push(unknownParameter(l, l.name));
    else if (current === null)
      this.warnings.push(`${l.file}:${l.line}: ${l.name} before any SOURCE line is ignored`);
    else def.set(current.stanza, l.value, { bad, isDirectory: this.isDir });
    return current;
  }
}

function lineError(l: ConfLine, def: StanzaVar | undefined): Bad {
  return (why) => {
    const shown = def?.secret === true ? "<hidden>" : shortened(utf8(l.value));
    throw new ConfigError(l.file, l.line, `${l.name} '${shown}': ${why}`);
  };
}

function unknownParameter(l: { file: string; line: number }, name: string): string {
  return `${l.file}:${l.line}: Ignoring unknown access parameter: '${shortened(name, "latin1")}'`;
}

function missingValue(l: BadLine): never {
  throw new ConfigError(l.file, l.line, `${l.bad}: missing value`);
}

export function parseAccessConf(opts: AccessConfOptions): ParsedAccess {
  const reader = new AccessReader(opts);
  const top = opts.folder ?? opts.file ?? null;
  if (top === null) throw new InternalError("parseAccessConf needs a file or a folder");
  if (opts.folder !== undefined && opts.folder !== null) reader.folder(opts.folder, 1, null);
  else reader.file(top, 1, null);
  const stanzas = reader.drafts.filter((d) => !d.dropped).map((d) => d.stanza);
  stanzas.forEach((s, n) => (s.number = n + 1));
  if (stanzas.length === 0)
    throw new ConfigError(top, 0, "Fatal, could not find any valid access.conf stanzas");
  return { stanzas, warnings: reader.warnings };
}
