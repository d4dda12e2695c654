/**
 * `fwknopd --status --all-gateways` (ours): every live grant of every gateway that shares this
 * one's Redis, read from the grant journal (GRANT_JOURNAL Y, replay/grant-journal.ts). Needs no
 * running daemon here: it reads fwknopd.conf for REDIS_* and asks Redis.
 */
import { loadConfig } from "../server/load-config.js";
import type { ServerArgs } from "../server/options.js";
import { JOURNAL_KEY, liveFromJournal } from "../server/replay/grant-journal.js";
import { openRedisLink, redisWhere } from "../server/replay/redis-link.js";
import { waitUntil } from "../server/replay/wait-until.js";

/** The stream is capped (GRANT_JOURNAL_MAXLEN), so one read of all of it is bounded. */
const READ_COUNT = 1_000_000;

export async function printAllGateways(
  args: ServerArgs,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const s = loadConfig(args, { accessOptional: true }).daemon.redis;
  if (s?.journal == null) {
    err("fwknopd: --all-gateways needs REPLAY_STORE redis and GRANT_JOURNAL Y in fwknopd.conf");
    return 1;
  }
  const link = await openRedisLink(s, { log: () => undefined });
  try {
    if (!(await waitUntil(() => link.ready, Math.max(s.timeoutMs, 3000)))) {
      err(`fwknopd: Redis ${redisWhere(s)} unavailable`);
      return 1;
    }
    const raw = await link.send([
      "XRANGE",
      s.prefix + JOURNAL_KEY,
      "-",
      "+",
      "COUNT",
      String(READ_COUNT),
    ]);
    const now = Math.floor(Date.now() / 1000);
    const live = liveFromJournal(raw as [string, string[]][], now).sort(
      (a, b) => a.gateway.localeCompare(b.gateway) || a.expiresAt - b.expiresAt,
    );
    const gateways = new Set(live.map((g) => g.gateway));
    out(
      `Live grants on all gateways (Redis ${redisWhere(s)}): ${live.length} on ${gateways.size} gateway(s)`,
    );
    for (const g of live)
      out(
        `  ${g.gateway.padEnd(16)} #${String(g.id).padEnd(4)} ${g.user.padEnd(16)} ${g.address.padEnd(39)} ${`${g.proto}/${g.port}`.padEnd(10)} stanza #${g.stanza}  ${g.expiresAt - now} s left (SPA from ${g.source})`,
      );
    return 0;
  } finally {
    await link.close();
  }
}
