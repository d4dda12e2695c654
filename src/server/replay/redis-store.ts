/**
 * REPLAY_STORE redis in the process that grants (the privsep broker, or the one process with
 * PRIVSEP N): the shared claim before each grant with its failure policy (REDIS_FAIL), and the
 * grant journal. The pipeline's own replay check stays the local cache's (synchronous, O(1));
 * the claim here catches what only another gateway has seen.
 */
import { randomBytes } from "node:crypto";
import type { Grant } from "../firewall/types.js";
import type { Logger } from "../log.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { REFUSAL_LEVEL, Refusal } from "../refusals.js";
import type { ReplayMeta } from "./replay-cache.js";
import { GrantJournal, JOURNAL_KEY } from "./grant-journal.js";
import type { RedisSettings } from "./redis-config.js";
import { openRedisLink, redisWhere, type RedisLink } from "./redis-link.js";
import { SharedClaims } from "./shared-claims.js";

export interface RedisStoreDeps {
  nowMs: () => number;
  logger: Logger;
  metrics: DaemonMetrics;
}

/** What a claim needs of a decision: its digests and the packet's timestamp. */
export interface ClaimedDigests {
  digest: string | null;
  innerDigest: string | null;
  spaTime?: number;
}

export class RedisStore {
  private constructor(
    private readonly s: RedisSettings,
    private readonly link: RedisLink,
    private readonly claims: SharedClaims,
    readonly journal: GrantJournal | null,
    private readonly deps: RedisStoreDeps,
  ) {}

  static async open(s: RedisSettings, deps: RedisStoreDeps): Promise<RedisStore> {
    const log = (line: string, level: "info" | "warning" | "err"): void => {
      deps.logger.log(level, line);
    };
    // A holder for the claims, which exist only once the link does.
    const later: { claims: SharedClaims | null } = { claims: null };
    const link = await openRedisLink(s, {
      log,
      onReady: () => void later.claims?.reconcile(),
    });
    const run = `${process.pid}.${randomBytes(4).toString("hex")}`;
    const claims = new SharedClaims(
      link,
      {
        prefix: s.prefix,
        timeoutMs: s.timeoutMs,
        waitReplicas: s.waitReplicas,
        owner: `${s.gateway} ${run}`,
      },
      { nowMs: deps.nowMs, log },
    );
    later.claims = claims;
    const journal =
      s.journal === null
        ? null
        : new GrantJournal(
            link,
            { key: s.prefix + JOURNAL_KEY, maxLen: s.journal.maxLen, gateway: s.gateway, run },
            log,
          );
    log(
      `Replay store: Redis ${redisWhere(s)} as gateway ${s.gateway}, REDIS_FAIL ${s.fail}${journal !== null ? ", grant journal on" : ""}${s.waitReplicas > 0 ? `, WAIT ${s.waitReplicas}` : ""}`,
      "info",
    );
    return new RedisStore(s, link, claims, journal, deps);
  }

  /**
   * True: go on and grant. False: refused here (a replay another gateway granted, or Redis away
   * with REDIS_FAIL closed), logged and counted.
   */
  async claim(d: ClaimedDigests, meta: ReplayMeta, windowSecs: number | null): Promise<boolean> {
    if (d.digest === null) return true;
    const c = {
      digests: d.innerDigest === null ? [d.digest] : [d.digest, d.innerDigest],
      spaTime: d.spaTime ?? null,
      windowSecs,
    };
    const r = await this.claims.claim(c);
    if (r.kind === "claimed") return true;
    const { logger, metrics } = this.deps;
    if (r.kind === "taken") {
      metrics.refused(Refusal.Replay);
      // C's line (incoming_spa.c), as for a replay this gateway saw itself.
      logger.event(
        REFUSAL_LEVEL[Refusal.Replay],
        "spa_rejected",
        { src: meta.srcIp, reason: Refusal.Replay },
        `Replay detected from source IP: ${meta.srcIp}, destination IP: ${meta.dstIp}`,
      );
      logger.log("debug", `Replay store: digest claimed by ${r.by}`);
      return false;
    }
    if (this.s.fail === "local") {
      this.claims.keepForLater(c);
      logger.log(
        "warning",
        `Redis replay store unavailable (${r.why}): SPA packet from ${meta.srcIp} checked against this gateway's digest cache only (REDIS_FAIL local); another gateway could grant it too until Redis returns`,
      );
      return true;
    }
    metrics.refused(Refusal.ReplayStoreDown);
    logger.event(
      REFUSAL_LEVEL[Refusal.ReplayStoreDown],
      "spa_rejected",
      { src: meta.srcIp, reason: Refusal.ReplayStoreDown },
      `Redis replay store unavailable (${r.why}): refused SPA packet from source IP: ${meta.srcIp} (REDIS_FAIL closed)`,
    );
    return false;
  }

  granted(gs: readonly Grant[], source: string): void {
    this.journal?.granted(gs, source);
  }

  ended(gs: readonly Grant[]): void {
    this.journal?.ended(gs);
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
