/**
 * ~/.fwknop.run: the last command line, saved after each packet made and read back by -l and
 * --show-last (client/fwknop.c:save_args, prev_exec).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { messageOf, UsageError } from "../errors.js";
import type { ClientConfig } from "./config.js";

function argsFile(cfg: ClientConfig, homeDir: () => string | null): string | null {
  const home = homeDir();
  return cfg.saveArgsFile ?? (home === null ? null : join(home, ".fwknop.run"));
}

export function saveArgs(
  argv: readonly string[],
  cfg: ClientConfig,
  homeDir: () => string | null,
  err: (s: string) => void,
): void {
  if (cfg.noSaveArgs) return;
  const path = argsFile(cfg, homeDir);
  if (path === null) return;
  try {
    writeFileSync(path, `fwknop ${argv.join(" ")}\n`, { mode: 0o600 });
  } catch (e) {
    err(`[-] Could not save arguments to ${path}: ${messageOf(e)}\n`);
  }
}

/** client/fwknop.c:prev_exec: the saved line, as it was written ("fwknop ARGS"). */
export function lastArgs(cfg: ClientConfig, homeDir: () => string | null): string {
  const file = argsFile(cfg, homeDir);
  let line = "";
  try {
    line = file === null ? "" : readFileSync(file, "latin1").trim();
  } catch {
    line = "";
  }
  if (line === "")
    throw new UsageError(`No saved arguments in ${file ?? "~/.fwknop.run"} yet`, "-l");
  return line;
}
