/**
 * The two option tables (src/client/options.ts, src/server/options.ts) as the man pages and the
 * bash completion see them: the rows `-h` prints (a row with no help line is internal or an
 * undocumented alias, and stays out of both), each with the name of its argument and what kind of
 * word completes it. The client's rows name their argument (`metavar`); the server's do not, so
 * one is derived here from the option's name.
 */
import { CLIENT_OPTIONS, type ClientOption } from "../../src/client/options.js";
import { SERVER_OPTIONS } from "../../src/server/options.js";

/** What completes an option's argument: a file, a directory, or nothing we can list. */
export type ArgKind = "file" | "dir" | "word";

export interface DocOption {
  long: string;
  short?: string;
  /** null: the option takes no argument. */
  metavar: string | null;
  kind: ArgKind;
  help: string;
  /** The ~/.fwknoprc variable of a client option. */
  rc?: string;
  group?: ClientOption["group"];
}

/** Server arguments whose name says too little for the rules in derivedMetavar. */
const SERVER_METAVARS: Readonly<Record<string, string>> = {
  "override-config": "FILE[,FILE...]",
  "packet-limit": "N",
  interface: "IFACE",
  "pcap-filter": "FILTER",
  "hmac-digest-type": "TYPE",
  locale: "LOCALE",
};

/** An argument's name from the option's: `--pid-file` takes a FILE, `--run-dir` a DIR. */
export function derivedMetavar(long: string): string {
  if (/-file$/.test(long)) return "FILE";
  if (/-(dir|folder)$/.test(long)) return "DIR";
  if (/-(exe|cmd)$/.test(long)) return "PATH";
  if (/-len$|^fd$/.test(long)) return "N";
  if (/-type$|-code$/.test(long)) return "TYPE";
  return "VALUE";
}

export function argKind(metavar: string | null): ArgKind {
  if (metavar === null) return "word";
  if (/^FILE\b/.test(metavar) || metavar === "PATH") return "file";
  if (metavar === "DIR") return "dir";
  return "word";
}

function row(
  o: { long: string; short?: string; arg: "none" | "required"; help: string },
  metavar: string | undefined,
): DocOption {
  const m = o.arg === "none" ? null : (metavar ?? derivedMetavar(o.long));
  return {
    long: o.long,
    ...(o.short !== undefined ? { short: o.short } : {}),
    metavar: m,
    kind: argKind(m),
    help: o.help,
  };
}

export function clientDocOptions(): DocOption[] {
  return CLIENT_OPTIONS.filter((o) => o.help !== "").map((o) => ({
    ...row(o, o.metavar),
    ...(o.rc !== undefined ? { rc: o.rc } : {}),
    group: o.group,
  }));
}

export function serverDocOptions(): DocOption[] {
  return SERVER_OPTIONS.filter((o) => o.help !== "").map((o) => row(o, SERVER_METAVARS[o.long]));
}
