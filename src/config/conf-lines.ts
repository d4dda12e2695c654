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
 */
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

export function readConfLines(file: string, text: string): Array<ConfLine | BadLine> {
  const out: Array<ConfLine | BadLine> = [];
  const bom = BOMS.find((b) => text.startsWith(b)) ?? "";
  const lines = text.slice(bom.length).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const lead = raw.trimStart().charAt(0);
    if (lead === "" || lead === "#" || lead === ";") continue;
    const m = ENTRY.exec(raw);
    if (m === null) {
      const word = FIRST_WORD.exec(raw)?.[1] ?? "";
      out.push({ bad: word.replace(/[:;]+$/, ""), file, line: i + 1 });
      continue;
    }
    out.push({
      name: (m[1] ?? "").replace(/:$/, ""),
      value: (m[2] ?? "").trimEnd(),
      file,
      line: i + 1,
    });
  }
  return out;
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
