/**
 * REPLAY_STORE redis and its REDIS_* / GRANT_JOURNAL variables (ours; C fwknopd has no shared
 * replay memory) resolved and checked at load, each error naming its file:line. The URL may hold
 * a password: it is never shown, and REDIS_URL_FILE keeps it out of fwknopd.conf.
 */
import { readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import type { ServerConfig } from "../../config/fwknopd-conf.js";
import type { VarName } from "../../config/fwknopd-vars.js";
import { ConfigError } from "../../errors.js";

export type RedisFail = "closed" | "local";

export interface RedisNodeAddr {
  host: string;
  port: number;
}

export interface RedisSettings {
  /** redis[s]://...; secret (it may carry the password). */
  url: string;
  /** Sentinels to ask for the master (REDIS_SENTINELS), or null: REDIS_URL's host itself. */
  sentinels: RedisNodeAddr[] | null;
  masterName: string | null;
  prefix: string;
  timeoutMs: number;
  fail: RedisFail;
  waitReplicas: number;
  /** GRANT_JOURNAL Y: the stream's approximate cap; null: no journal. */
  journal: { maxLen: number } | null;
  gateway: string;
}

function at(conf: ServerConfig, name: VarName, fallback: string): { file: string; line: number } {
  const o = conf.origin(name);
  return { file: o?.file ?? fallback, line: o?.line ?? 0 };
}

function bad(conf: ServerConfig, name: VarName, file: string, why: string): ConfigError {
  const o = at(conf, name, file);
  return new ConfigError(o.file, o.line, `${name}: ${why}`);
}

/** A password file others can read is as good as none: refused, where C only warns for keys. */
function readUrlFile(conf: ServerConfig, path: string, fwknopdFile: string): string {
  let text: string;
  try {
    if ((statSync(path).mode & 0o007) !== 0)
      throw bad(
        conf,
        "REDIS_URL_FILE",
        fwknopdFile,
        `${path} is readable or writable by others; chmod o-rwx ${path}`,
      );
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw bad(conf, "REDIS_URL_FILE", fwknopdFile, `cannot read ${path}`);
  }
  return (text.split("\n")[0] ?? "").trim();
}

function checkUrl(conf: ServerConfig, url: string, name: VarName, file: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(conf, name, file, "not a URL (redis://[user:pass@]host:port/db)");
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:")
    throw bad(conf, name, file, `scheme ${u.protocol} (expected redis: or rediss:)`);
  if (!/^(\/[0-9]{0,2})?$/.test(u.pathname))
    throw bad(conf, name, file, "the path must be a database number (/0 ... /99)");
}

function sentinelsOf(conf: ServerConfig, file: string): RedisNodeAddr[] | null {
  const text = conf.value("REDIS_SENTINELS");
  if (text === null) return null;
  return text.split(",").map((part) => {
    const m = /^\s*\[?([^\]\s]+?)\]?:([0-9]{1,5})\s*$/.exec(part);
    const port = m === null ? 0 : Number(m[2]);
    if (m?.[1] === undefined || port < 1 || port > 65535)
      throw bad(conf, "REDIS_SENTINELS", file, `'${part.trim()}' is not host:port`);
    return { host: m[1], port };
  });
}

/** Null with REPLAY_STORE file (the default). Throws ConfigError for what cannot work. */
export function redisSettingsOf(conf: ServerConfig, fwknopdFile: string): RedisSettings | null {
  const store = conf.value("REPLAY_STORE");
  if (store !== "file" && store !== "redis")
    throw bad(conf, "REPLAY_STORE", fwknopdFile, `'${store}' (expected file or redis)`);
  const fail = conf.value("REDIS_FAIL");
  if (fail !== "closed" && fail !== "local")
    throw bad(conf, "REDIS_FAIL", fwknopdFile, `'${fail}' (expected closed or local)`);
  if (store === "file") {
    if (conf.value("GRANT_JOURNAL"))
      throw bad(
        conf,
        "GRANT_JOURNAL",
        fwknopdFile,
        "the journal is kept in Redis: needs REPLAY_STORE redis",
      );
    return null;
  }
  if (!conf.value("ENABLE_DIGEST_PERSISTENCE"))
    throw bad(conf, "REPLAY_STORE", fwknopdFile, "redis needs ENABLE_DIGEST_PERSISTENCE Y");
  const file = conf.value("REDIS_URL_FILE");
  const given = conf.value("REDIS_URL");
  if (file !== null && given !== null)
    throw bad(conf, "REDIS_URL_FILE", fwknopdFile, "set REDIS_URL or REDIS_URL_FILE, not both");
  const url =
    file !== null ? readUrlFile(conf, file, fwknopdFile) : (given ?? "redis://127.0.0.1:6379/0");
  checkUrl(conf, url, file !== null ? "REDIS_URL_FILE" : "REDIS_URL", fwknopdFile);
  const sentinels = sentinelsOf(conf, fwknopdFile);
  const masterName = conf.value("REDIS_MASTER_NAME");
  if (sentinels !== null && masterName === null)
    throw bad(conf, "REDIS_SENTINELS", fwknopdFile, "needs REDIS_MASTER_NAME");
  const prefix = conf.value("REDIS_KEY_PREFIX");
  return {
    url,
    sentinels,
    masterName,
    prefix,
    timeoutMs: conf.value("REDIS_TIMEOUT_MS"),
    fail,
    waitReplicas: conf.value("REDIS_WAIT_REPLICAS"),
    journal: conf.value("GRANT_JOURNAL") ? { maxLen: conf.value("GRANT_JOURNAL_MAXLEN") } : null,
    gateway: conf.value("GATEWAY_NAME") ?? hostname(),
  };
}
