/**
 * REPLAY_STORE redis and its companions (ours: C fwknopd has no shared replay memory), resolved
 * by server/replay/redis-config.ts; -D lists them after the other variables of ours.
 */
import { b, i, k, p, s } from "./var-def.js";

export const REDIS_VARS = [
  k(
    "REPLAY_STORE",
    "string",
    "file",
    "file (the local DIGEST_FILE, the default) or redis: digests are also claimed in Redis (SET NX with an expiry) before each grant, so several gateways share one replay memory; the local file stays as a write-through copy",
    { ours: true },
  ),
  k(
    "REDIS_URL",
    "string",
    null,
    "REPLAY_STORE redis: redis://[user:pass@]host:port/db or rediss:// (TLS); with REDIS_SENTINELS only its user, password and db are used",
    { ours: true, secret: true },
  ),
  p(
    "REDIS_URL_FILE",
    null,
    "a file holding REDIS_URL on its first line, to keep the password out of fwknopd.conf (refused when others may read it)",
    { ours: true },
  ),
  s("REDIS_KEY_PREFIX", "fwknopd:", "prefix of every Redis key fwknopd writes", { ours: true }),
  i(
    "REDIS_TIMEOUT_MS",
    // 250 ms refused 2-17% of knocks at 2,000 claims/s on a loaded 2-core host (bench/redis.ts):
    // the wait is measured on our own event loop, which lags under load, not only Redis's.
    1000,
    1,
    60000,
    "a Redis claim (or connect) not answered within this many ms counts as Redis unavailable",
    { ours: true },
  ),
  k(
    "REDIS_FAIL",
    "string",
    "closed",
    "Redis unavailable: closed (refuse the SPA packet, the default) or local (grant on the local digest cache alone, warn, and claim in Redis when it returns)",
    { ours: true },
  ),
  s(
    "REDIS_SENTINELS",
    null,
    "host:port,... of Redis Sentinels to find the master through (with REDIS_MASTER_NAME)",
    { ours: true },
  ),
  s("REDIS_MASTER_NAME", null, "the master's name known to REDIS_SENTINELS", { ours: true }),
  i(
    "REDIS_WAIT_REPLICAS",
    0,
    0,
    100,
    "after each claim, WAIT for this many replicas to acknowledge it (within REDIS_TIMEOUT_MS; fewer counts as Redis unavailable); 0: no WAIT",
    { ours: true },
  ),
  b(
    "GRANT_JOURNAL",
    "N",
    "REPLAY_STORE redis: append each grant and its end to a Redis stream, read by fwknopd --status --all-gateways",
    { ours: true },
  ),
  s("GATEWAY_NAME", null, "this gateway's name in Redis (default: the host name)", {
    ours: true,
  }),
  i(
    "GRANT_JOURNAL_MAXLEN",
    100000,
    100,
    100000000,
    "about this many journal entries are kept (XADD MAXLEN ~)",
    { ours: true },
  ),
] as const;
