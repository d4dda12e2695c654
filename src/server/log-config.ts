/**
 * The log as the configuration sets it up: SYSLOG_IDENTITY, SYSLOG_FACILITY and LOG_FORMAT
 * applied, then the configuration's warnings logged, each at the level C gives it.
 */
import type { ServerConfig } from "../config/fwknopd-conf.js";
import type { LoadedConfig } from "./load-config.js";
import type { Level, Logger, LogSettings } from "./log.js";

export function logSettingsOf(conf: ServerConfig): LogSettings {
  return {
    identity: conf.value("SYSLOG_IDENTITY"),
    facility: conf.value("SYSLOG_FACILITY"),
    format: conf.value("LOG_FORMAT"),
  };
}

/**
 * C's level for a configuration warning: unknown variables at LOG_ERR
 * (config_init.c:parse_config_file, access.c:parse_access_file), the "Warning: ..." lines of
 * access.c:expand_acc_* and validate at LOG_INFO; file permissions (utils.c) and our own
 * warnings at LOG_WARNING.
 */
export function configWarningLevel(w: string): Level {
  if (/Ignoring unknown (configuration|access) parameter/.test(w)) return "err";
  if (/: Warning: |truncating encryption key in legacy mode/.test(w)) return "info";
  return "warning";
}

/** At start and at each reload: the log set up from `cfg`, then its warnings. */
export function logWithConfig(logger: Logger, cfg: LoadedConfig): void {
  logger.configure(logSettingsOf(cfg.conf));
  for (const w of cfg.warnings) logger.event(configWarningLevel(w), "config_warning", {}, w);
}
