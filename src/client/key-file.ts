/**
 * Key files for -G / --get-hmac-key (client/getpasswd.c:get_key_file): one "<destination>: <key>"
 * line per server; the line whose destination equals the -D text exactly wins, the last one if
 * several do. '#' and ';' start comments; leading blanks and '=' are skipped, as are blanks after
 * the colon.
 */
import { readFileSync } from "node:fs";
import { ConfigError, messageOf } from "../errors.js";

export function keyFromFile(path: string, destination: string): string {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (e) {
    throw new ConfigError(
      path,
      0,
      `cannot read key file: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`,
    );
  }
  let key: string | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "").replace(/^[ \t=]+/, "");
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    if (line.slice(0, colon) === destination) key = line.slice(colon + 1).replace(/^[ \t]+/, "");
  }
  if (key === null || key === "")
    throw new ConfigError(
      path,
      0,
      `no key for destination '${destination}' (lines look like "${destination}: <key>")`,
    );
  return key;
}
