/**
 * FWKNOP_RUN_DIR checked before anything starts (server/fwknopd.c:check_dir_path and
 * make_dir_path): each part of the path that exists must be a directory, the rest is created
 * later. C says "Specified Run directory: DIR is NOT a directory" or "Component: PART of DIR is NOT
 * a directory"; we say the same at the line that set the variable, instead of mkdir's EEXIST.
 */
import { statSync } from "node:fs";
import type { ServerConfig } from "../config/fwknopd-conf.js";
import { ConfigError } from "../errors.js";

/** The part of `dir` that exists and is not a directory, or null. */
function notADirectory(dir: string): string | null {
  const parts = dir.split("/").filter((p) => p !== "");
  let path = "";
  for (const p of parts) {
    path += `/${p}`;
    let st;
    try {
      st = statSync(path, { throwIfNoEntry: false });
    } catch {
      // EACCES and the like: mkdir says it better when it gets there.
      return null;
    }
    if (st === undefined) return null;
    if (!st.isDirectory()) return path;
  }
  return null;
}

/** The ConfigError for a run directory that cannot be one, naming where it was set, or null. */
export function runDirProblem(conf: ServerConfig): ConfigError | null {
  const dir = conf.value("FWKNOP_RUN_DIR");
  const bad = notADirectory(dir);
  if (bad === null) return null;
  const why =
    bad === dir.replace(/\/+$/, "")
      ? `${bad} is NOT a directory`
      : `component ${bad} of ${dir} is NOT a directory`;
  const origin = conf.origin("FWKNOP_RUN_DIR");
  if (origin !== null)
    return new ConfigError(origin.file, origin.line, `FWKNOP_RUN_DIR '${dir}': ${why}`);
  if (conf.isSet("FWKNOP_RUN_DIR"))
    return new ConfigError("<command line>", 0, `-r/--run-dir '${dir}': ${why}`);
  return new ConfigError(
    conf.get("CONFIG_FILE") ?? "<default>",
    0,
    `FWKNOP_RUN_DIR (default '${dir}'): ${why}`,
  );
}
