/**
 * The line syntax fwknopd.conf and access.conf share (server/config_init.c:parse_config_file,
 * server/access.c:parse_access_file):
 * - lines whose first character is '#' or ';', and empty lines, are skipped;
 * - "NAME value": the value may contain spaces and ends at ';' or the end of the line
 *   (sscanf "%s %[^;\n\r]"), trailing white space removed; a trailing ':' on NAME is dropped.
 */
export interface ConfLine {
  name: string;
  value: string;
  file: string;
  line: number;
}

const ENTRY = /^\s*(\S+)\s+([^;\r\n]*)/;

export function readConfLines(
  file: string,
  text: string,
): Array<ConfLine | { bad: string; file: string; line: number }> {
  const out: Array<ConfLine | { bad: string; file: string; line: number }> = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? "").replace(/\r$/, "");
    const first = raw.charAt(0);
    if (raw.trim() === "" || first === "#" || first === ";") continue;
    const m = ENTRY.exec(raw);
    if (m === null) {
      out.push({ bad: raw.trim(), file, line: i + 1 });
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

export function isBadLine(
  x: ConfLine | { bad: string },
): x is { bad: string; file: string; line: number } {
  return "bad" in x;
}
