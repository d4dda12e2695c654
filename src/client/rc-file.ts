/**
 * ~/.fwknoprc reading (client/config_init.c: is_rc_section, is_rc_param, parse_rc_param) and
 * creation when missing (create_fwknoprc). Syntax kept as C reads it:
 * - "[name]" starts a stanza; lines starting with '#' or ';' and blank lines are skipped;
 * - "VAR value": the value ends at the first space, tab, ';' or '#'; a trailing ':' on VAR is
 *   dropped; names are case-sensitive; an unknown variable is an error (fatal in C too);
 * - a line longer than C's fgets buffer (MAX_LINE_LEN - 1 bytes) is an error: C would read the
 *   rest as a line of its own, an invalid entry (see config/conf-lines.ts); comments are exempt.
 */
import { closeSync, constants, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { lineTooLong, shortened } from "../config/conf-lines.js";
import { ConfigError, messageOf } from "../errors.js";
import { OPTION_BY_RC, RC_ONLY_OPTIONS } from "./options.js";

export interface RcEntry {
  name: string;
  value: string;
  line: number;
}

export interface RcFile {
  path: string;
  /** Stanzas in file order, entries in line order. */
  stanzas: Map<string, RcEntry[]>;
}

const SECTION = /^\s*\[([^\]]*)\]/;
const PARAM = /^\s*(\S+)\s+([^ ;\t\n\r#]+)/;

export function isKnownRcVariable(name: string): boolean {
  return OPTION_BY_RC.has(name) || RC_ONLY_OPTIONS.has(name);
}

export function parseRcText(path: string, text: string): RcFile {
  const stanzas = new Map<string, RcEntry[]>();
  let current: RcEntry[] | null = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? "").replace(/\r$/, "");
    const lineNo = i + 1;
    const first = raw.charAt(0);
    if (raw.trim() === "" || first === "#" || first === ";") continue;
    const long = lineTooLong(path, lineNo, raw, "latin1");
    if (long !== null) throw long;
    const sec = SECTION.exec(raw);
    if (sec !== null) {
      const name = sec[1] ?? "";
      current = stanzas.get(name) ?? [];
      stanzas.set(name, current);
      continue;
    }
    const m = PARAM.exec(raw);
    if (m === null)
      throw new ConfigError(
        path,
        lineNo,
        `expected 'VARIABLE value', got '${shortened(raw.trim(), "latin1")}'`,
      );
    const name = (m[1] ?? "").replace(/:$/, "");
    if (!isKnownRcVariable(name))
      throw new ConfigError(path, lineNo, `unknown variable '${shortened(name, "latin1")}'`);
    // Entries before any [stanza] line belong to no stanza; C ignores them as well.
    current?.push({ name, value: m[2] ?? "", line: lineNo });
  }
  return { path, stanzas };
}

export function readRcFile(path: string): RcFile {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (e) {
    throw new ConfigError(path, 0, `cannot read rc file: ${messageOf(e)}`);
  }
  return parseRcText(path, text);
}

/** Permission problems only warn, as client/utils.c:verify_file_perms_ownership. */
export function rcPermissionWarning(path: string): string | null {
  try {
    const st = statSync(path);
    if (!st.isFile()) return `[-] ${path} is not a regular file`;
    if ((st.mode & 0o077) !== 0)
      return `[-] file: ${path} permissions should only be user read/write (0600, -rw-------)`;
    if (typeof process.getuid === "function" && st.uid !== process.getuid())
      return `[-] file: ${path} (owner: ${st.uid}) not owned by current effective user id: ${process.getuid()}`;
  } catch {
    return null;
  }
  return null;
}

const TEMPLATE = `# ~/.fwknoprc: settings for the fwknop client (also read by fwknop-ts).
#
# A stanza starts with a [name] line. [default] is read first; a stanza
# chosen with 'fwknop -n name' is read next and overrides it; command-line
# options override both. Lines starting with '#' are comments.
#
# Write one variable per line: NAME value. A value ends at the first space,
# tab, ';' or '#'. The variables are the long options in capitals, for
# example: SPA_SERVER, ACCESS, ALLOW_IP, KEY_BASE64, HMAC_KEY_BASE64,
# USE_HMAC, DIGEST_TYPE, HMAC_DIGEST_TYPE, ENCRYPTION_MODE, FW_TIMEOUT,
# SPA_SERVER_PORT, SPA_SERVER_PROTO, SPOOF_USER, TIME_OFFSET.
#
# 'fwknop -A tcp/22 -a IP -D SERVER --key-gen --use-hmac --save-rc-stanza'
# writes a ready stanza named after the server.

[default]
#DIGEST_TYPE         sha256
#SPA_SERVER_PORT     62201
#SPA_SERVER_PROTO    udp

#[myserver]
#SPA_SERVER          198.51.100.7
#ACCESS              tcp/22
#ALLOW_IP            source
#KEY_BASE64          <from --key-gen>
#HMAC_KEY_BASE64     <from --key-gen>
#USE_HMAC            Y
`;

/**
 * Create the rc file with mode 0600 if it does not exist (never replacing one that does).
 * Returns true when it was created.
 */
export function createRcFileIfMissing(path: string): boolean {
  // Usually the file exists: a stat says so for less than the EEXIST exception of the exclusive
  // open costs (bench/client.ts). Any other stat failure is left to the open to report.
  try {
    if (statSync(path, { throwIfNoEntry: false }) !== undefined) return false;
  } catch {
    // reported below
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new ConfigError(path, 0, `cannot create rc file: ${messageOf(e)}`);
  }
  try {
    writeSync(fd, TEMPLATE);
  } finally {
    closeSync(fd);
  }
  return true;
}
