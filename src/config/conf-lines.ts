/**
 * The line syntax fwknopd.conf and access.conf share (server/config_init.c:parse_config_file,
 * server/access.c:parse_access_file, both read entries with sscanf "%s %[^;\n\r]"):
 * - a line whose first character is '#' or ';', or which is empty, is skipped;
 * - "NAME value": NAME is the first run of non-blanks, the value starts at the next non-blank and
 *   ends at ';' or the end of the line (so it may contain spaces), trailing white space removed;
 * - a trailing ':' on NAME is dropped (access.c does it; harmless for fwknopd.conf).
 *
 * Deliberate differences: blank-only lines and lines whose first non-blank is '#' or ';' are
 * skipped too (C calls the first an invalid entry and reads "#" as a variable name), and a UTF-8
 * byte order mark at the start of a file is ignored.
 *
 * access.conf is decoded as latin1, one character per byte, so KEY and REQUIRE_USERNAME keep C's
 * exact bytes; values that name files or commands go through `utf8()` to get the text back.
 *
 * Line length: C reads with fgets(buf, MAX_LINE_LEN), so a line of more than MAX_LINE_LEN - 1
 * bytes comes in pieces and the rest is read as a line of its own: access.conf then refuses the
 * file ("Invalid access file entry"), fwknopd.conf keeps the cut value and logs the rest as an
 * invalid or unknown entry. We refuse such a line in every file, naming file:line and showing
 * only its start and length. A comment line is skipped whatever its length (C would read the
 * rest of a long comment as an entry).
 */
import { ConfigError } from "../errors.js";

/** common/common.h: the fgets buffer of every config reader; a line holds MAX_LINE_LEN - 1 bytes. */
export const MAX_LINE_LEN = 1024;

/** How much of a value an error or warning echoes (`shortened`). */
const SHOWN_CHARS = 80;

/** A value as messages show it: whole when short, else its start and its length in bytes. */
export function shortened(value: string, encoding: BufferEncoding = "utf8"): string {
  if (value.length <= SHOWN_CHARS) return value;
  return `${value.slice(0, SHOWN_CHARS)}... (${Buffer.byteLength(value, encoding)} bytes)`;
}

/**
 * The ConfigError for a line longer than C reads in one piece, or null. `encoding` is how the
 * file was decoded, to count its bytes as C does.
 */
export function lineTooLong(
  file: string,
  line: number,
  raw: string,
  encoding: "latin1" | "utf8",
): ConfigError | null {
  const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  // Cheap first: a latin1 line has one byte per character, a UTF-8 one at least as many.
  if (text.length < MAX_LINE_LEN && (encoding === "latin1" || text.length * 3 < MAX_LINE_LEN))
    return null;
  const bytes = Buffer.byteLength(text, encoding);
  if (bytes < MAX_LINE_LEN) return null;
  return new ConfigError(
    file,
    line,
    `line too long: ${bytes} bytes, at most ${MAX_LINE_LEN - 1} (MAX_LINE_LEN in C fwknop): '${shortened(text.trim(), encoding)}'`,
  );
}
export interface ConfLine {
  name: string;
  value: string;
  file: string;
  line: number;
}

/** A line with a NAME but no value (C: "Invalid ... file entry"). */
export interface BadLine {
  /** The first word, with a trailing ':' or ';' dropped so callers can look it up. */
  bad: string;
  file: string;
  line: number;
}

const ENTRY = /^[ \t\f\v]*([^\s]+)[ \t\f\v]+([^;\r\n\s][^;\r\n]*)/;
const FIRST_WORD = /^\s*([^\s]+)/;
const BOMS = ["\ufeff", "\u00ef\u00bb\u00bf"];

/**
 * The entries of a file, in order; lazily, so a reader that stops at a bad line has used the
 * lines before it, as C's readers have. Throws a ConfigError at a line that is too long.
 */
export function* readConfLines(
  file: string,
  text: string,
  encoding: "latin1" | "utf8" = "latin1",
): Generator<ConfLine | BadLine> {
  const bom = BOMS.find((b) => text.startsWith(b)) ?? "";
  const lines = text.slice(bom.length).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const lead = raw.trimStart().charAt(0);
    if (lead === "" || lead === "#" || lead === ";") continue;
    const long = lineTooLong(file, i + 1, raw, encoding);
    if (long !== null) throw long;
    const m = ENTRY.exec(raw);
    if (m === null) {
      const word = FIRST_WORD.exec(raw)?.[1] ?? "";
      yield { bad: word.replace(/[:;]+$/, ""), file, line: i + 1 };
      continue;
    }
    yield {
      name: (m[1] ?? "").replace(/:$/, ""),
      value: (m[2] ?? "").trimEnd(),
      file,
      line: i + 1,
    };
  }
}

/** A value read from a latin1-decoded file, back to the UTF-8 text it was written as. */
export function utf8(latin1: string): string {
  return Buffer.from(latin1, "latin1").toString("utf8");
}

export function isBadLine(x: ConfLine | BadLine): x is BadLine {
  return "bad" in x;
}

/** server/config_init.c:parse_config_file: `$NAME` ([A-Z_]+) at the start of a value. */
const VAR_REF = /^\$([A-Z_]+)/;

/**
 * One expansion, only at the start, suffix kept: `$FWKNOP_RUN_DIR/digest.cache`. Returns the
 * value unchanged when it does not start with a reference, or `{ missing }` naming a reference
 * `lookup` cannot resolve. (C keeps the suffix only up to the first blank; we keep all of it.)
 */
export function expandVarRef(
  value: string,
  lookup: (name: string) => string | null,
): string | { missing: string } {
  const m = VAR_REF.exec(value);
  if (m === null) return value;
  const name = m[1] ?? "";
  const v = lookup(name);
  return v === null ? { missing: name } : v + value.slice(m[0].length);
}
