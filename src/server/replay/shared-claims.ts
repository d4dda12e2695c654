/**
 * The replay claim several gateways share: before a grant, each digest of the packet is claimed
 * in Redis with `SET key value NX GET PX ms` (Redis 7+). The first gateway to set it wins; any
 * other gets the winner's value back and refuses the packet as a replay. The value names the
 * gateway and its run, so a claim that timed out here but landed is recognised as ours later.
 *
 * Expiry: a packet stamped t is accepted while |now - t| <= MAX_SPA_PACKET_AGE (policy.ts), so
 * its key must live until t + window, plus CLOCK_SLACK_SECS for gateways whose clocks lag this
 * one. Aging off: no expiry at all (as the local cache, which never drops a digest then).
 */
import type { RedisLink } from "./redis-link.js";

/** Gateways' clocks may differ by this much (NTP keeps them far closer) without a replay window. */
export const CLOCK_SLACK_SECS = 60;
/** Claims waiting for Redis at once; beyond, a knock is decided without Redis at once. */
export const MAX_PENDING_CLAIMS = 1000;
/** Claims granted on the local cache alone while Redis was away, kept to push when it returns. */
export const MAX_UNRECONCILED = 100_000;

export type ClaimOutcome =
  { kind: "claimed" } | { kind: "taken"; by: string } | { kind: "unavailable"; why: string };

export interface ClaimInput {
  digests: readonly string[];
  /** The packet's own timestamp (seconds), when it was decoded. */
  spaTime: number | null;
  /** MAX_SPA_PACKET_AGE with aging on; null with aging off. */
  windowSecs: number | null;
}

/**
 * When the key may go (epoch ms), or null for never. A packet whose timestamp is unknown was
 * still accepted within the window of now, so now + 2 windows covers it.
 */
export function claimDeadlineMs(c: ClaimInput, nowMs: number): number | null {
  if (c.windowSecs === null) return null;
  const stamp = c.spaTime ?? nowMs / 1000 + c.windowSecs;
  const end = (stamp + c.windowSecs + CLOCK_SLACK_SECS) * 1000;
  return Math.max(end, nowMs + CLOCK_SLACK_SECS * 1000);
}

interface Unreconciled {
  key: string;
  deadlineMs: number | null;
}

export interface SharedClaimsDeps {
  nowMs: () => number;
  log: (line: string, level: "info" | "warning" | "err") => void;
}

export class SharedClaims {
  private pending = 0;
  private unreconciled: Unreconciled[] = [];
  private reconciling = false;

  constructor(
    private readonly link: RedisLink,
    private readonly opts: {
      prefix: string;
      timeoutMs: number;
      waitReplicas: number;
      /** Identifies this gateway's run in each claim's value. */
      owner: string;
    },
    private readonly deps: SharedClaimsDeps,
  ) {}

  keyOf(digest: string): string {
    return `${this.opts.prefix}digest:${digest}`;
  }

  /** A command bounded by `ms`: a slow Redis is an unavailable one. */
  private timed(args: string[], ms: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no answer within ${ms} ms`));
      }, ms);
      this.link.send(args).then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  private setArgs(key: string, deadlineMs: number | null): string[] | null {
    const args = ["SET", key, this.opts.owner, "NX", "GET"];
    if (deadlineMs === null) return args;
    const px = Math.ceil(deadlineMs - this.deps.nowMs());
    return px > 0 ? [...args, "PX", String(px)] : null;
  }

  async claim(c: ClaimInput): Promise<ClaimOutcome> {
    if (!this.link.ready) return { kind: "unavailable", why: "not connected" };
    if (this.pending >= MAX_PENDING_CLAIMS)
      return { kind: "unavailable", why: `${this.pending} claims already waiting` };
    this.pending++;
    try {
      const deadline = claimDeadlineMs(c, this.deps.nowMs());
      for (const d of c.digests) {
        // The deadline is at least CLOCK_SLACK_SECS ahead: never null here.
        const args = this.setArgs(this.keyOf(d), deadline) ?? [];
        const was = await this.timed(args, this.opts.timeoutMs);
        if (was !== null && was !== this.opts.owner)
          return { kind: "taken", by: typeof was === "string" ? was : "?" };
      }
      const want = this.opts.waitReplicas;
      if (want > 0) {
        const t = this.opts.timeoutMs;
        const got = Number(await this.timed(["WAIT", String(want), String(t)], t + 1000));
        if (got < want)
          return { kind: "unavailable", why: `WAIT: ${got} of ${want} replica(s) acknowledged` };
      }
      return { kind: "claimed" };
    } catch (e) {
      return { kind: "unavailable", why: e instanceof Error ? e.message : String(e) };
    } finally {
      this.pending--;
    }
  }

  /** REDIS_FAIL local: a packet granted without Redis, claimed there when it returns. */
  keepForLater(c: ClaimInput): void {
    const deadlineMs = claimDeadlineMs(c, this.deps.nowMs());
    for (const d of c.digests) {
      if (this.unreconciled.length >= MAX_UNRECONCILED) {
        this.unreconciled.shift();
        this.deps.log(
          `Redis replay store: over ${MAX_UNRECONCILED} local claims wait for Redis; the oldest is not pushed`,
          "err",
        );
      }
      this.unreconciled.push({ key: this.keyOf(d), deadlineMs });
    }
  }

  get waiting(): number {
    return this.unreconciled.length;
  }

  /**
   * Redis is back: push the claims made without it. One another gateway also made means the
   * same packet was granted twice during the outage: said, since nothing can undo it now.
   */
  async reconcile(): Promise<void> {
    if (this.reconciling || this.unreconciled.length === 0) return;
    this.reconciling = true;
    let pushed = 0;
    let twice = 0;
    try {
      while (this.unreconciled.length > 0 && this.link.ready) {
        const u = this.unreconciled[0];
        if (u === undefined) break;
        const args = this.setArgs(u.key, u.deadlineMs);
        const was = args === null ? null : await this.timed(args, this.opts.timeoutMs * 4);
        this.unreconciled.shift();
        if (args !== null) pushed++;
        if (was !== null && was !== this.opts.owner) {
          twice++;
          this.deps.log(
            `Redis replay store: ${u.key} granted here while Redis was away was also claimed by ${typeof was === "string" ? was : "another gateway"}: the same SPA packet may have been granted on both`,
            "warning",
          );
        }
      }
    } catch (e) {
      this.deps.log(
        `Redis replay store: reconciling stopped (${e instanceof Error ? e.message : String(e)}); ${this.unreconciled.length} local claim(s) left for the next connection`,
        "err",
      );
    } finally {
      this.reconciling = false;
    }
    this.deps.log(
      `Redis replay store: reconciled ${pushed} claim(s) made on the local cache while Redis was away${twice > 0 ? `, ${twice} also claimed elsewhere` : ""}`,
      twice > 0 ? "warning" : "info",
    );
  }
}
