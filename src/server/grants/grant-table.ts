/**
 * What is open, for whom, until when. Grants arrive from the packet path and are handed to the
 * firewall in batches: a batch starts once the current turn of the event loop has handed over
 * every packet it read (setImmediate), and while one batch is being applied new grants queue and
 * go together in the next, so the receive loop never waits on the firewall and a burst costs a
 * few firewall calls. (libnftables answers in-process within the same turn: without the deferral
 * every grant of a burst was its own transaction, and a 5,000/s burst opened 1,600 grants/s
 * instead of 3,000+; measured with bench/grants.ts.)
 * Expiry: one timer for the soonest grant of an ExpiryQueue (a heap), on every backend. Backends
 * that do not expire grants themselves (iptables, firewalld's passthrough) have them removed
 * then; nftables set elements and firewalld's timed rich rules are removed by the firewall, and
 * the timer only logs it, as C logs each removal.
 */
import type { FirewallBackend, Grant } from "../firewall/types.js";
import { grantKey } from "../firewall/types.js";
import type { EventLog } from "../log.js";
import { messageOf } from "../../errors.js";
import { ExpiryQueue } from "./expiry-queue.js";
import { logExpired } from "./grant-log.js";

interface Waiter {
  grants: Grant[];
  done: (err: Error | null) => void;
}

/** After a failed removal, the next attempt. */
const RETRY_MS = 1000;

export class GrantTable {
  private readonly live = new Map<string, Grant>();
  private readonly due = new ExpiryQueue((d) => this.live.get(d.key)?.expiresAt === d.at);
  private queue: Waiter[] = [];
  private applying = false;
  private applyScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly fw: FirewallBackend,
    private readonly nowSecs: () => number,
    private readonly log: EventLog,
    /** Grants that ended on time (not replaced): after their expiry line. */
    private readonly onEnded: (grants: readonly Grant[]) => void = () => undefined,
  ) {}

  /** Live grants, soonest expiry first. */
  list(): Grant[] {
    const now = this.nowSecs();
    return [...this.live.values()]
      .filter((g) => g.expiresAt > now)
      .sort((a, b) => a.expiresAt - b.expiresAt);
  }

  /** Open these grants; resolves once the firewall has them. */
  add(grants: readonly Grant[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        grants: [...grants],
        done: (err) => {
          if (err === null) resolve();
          else reject(err);
        },
      });
      this.scheduleApply();
    });
  }

  private scheduleApply(): void {
    if (this.applyScheduled || this.applying) return;
    this.applyScheduled = true;
    setImmediate(() => {
      this.applyScheduled = false;
      void this.apply();
    });
  }

  private async apply(): Promise<void> {
    if (this.applying || this.queue.length === 0) return;
    this.applying = true;
    const batch = this.queue;
    this.queue = [];
    const now = this.nowSecs();
    // The newest request for an address/port wins; an existing one is replaced, which refreshes
    // its lifetime (an nftables element cannot be re-added with a new timeout).
    const wanted = new Map<string, Grant>();
    for (const w of batch) for (const g of w.grants) wanted.set(grantKey(g), g);
    const replacing = [...wanted.keys()].flatMap((k) => {
      const old = this.live.get(k);
      return old !== undefined && old.expiresAt > now ? [old] : [];
    });
    let err: Error | null = null;
    try {
      if (replacing.length > 0) await this.fw.revoke(replacing);
      await this.fw.grant([...wanted.values()], now);
      for (const [k, g] of wanted) this.setLive(k, g);
      this.schedule();
    } catch (e) {
      err = e as Error;
    }
    for (const w of batch) w.done(err);
    this.applying = false;
    if (this.queue.length > 0) this.scheduleApply();
  }

  /** Take over grants found in the firewall at start (left by a previous run). */
  adopt(grants: readonly Grant[]): void {
    for (const g of grants) this.setLive(grantKey(g), g);
    this.schedule();
  }

  private setLive(key: string, g: Grant): void {
    this.live.set(key, g);
    this.due.push(g.expiresAt, key);
  }

  /** One timer, for the soonest expiry (or a retry after a failed removal). */
  private schedule(retryMs: number | null = null): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    const next = this.due.peek();
    if (next === null && retryMs === null) return;
    // nowSecs() is whole seconds: the timer fires within a second after the expiry time, as the
    // kernel does for a set element whose timeout was counted from that second.
    const ms = retryMs ?? Math.max(0, ((next?.at ?? 0) - this.nowSecs()) * 1000) + 50;
    this.timer = setTimeout(() => {
      void this.expire();
    }, ms);
    this.timer.unref();
  }

  /** Remove what has expired (from the firewall unless it does that itself), each logged. */
  async expire(): Promise<void> {
    const gone: Grant[] = [];
    for (const d of this.due.takeDue(this.nowSecs())) {
      const g = this.live.get(d.key);
      if (g === undefined) continue; // a second entry for the same grant and time
      this.live.delete(d.key);
      gone.push(g);
    }
    if (gone.length > 0 && !this.fw.expiresItself) {
      try {
        await this.fw.revoke(gone);
      } catch (e) {
        this.log("err", "firewall_error", {}, `Error removing expired access: ${messageOf(e)}`);
        for (const g of gone) this.setLive(grantKey(g), g); // again at the next attempt
        this.schedule(RETRY_MS);
        return;
      }
    }
    logExpired(this.log, this.fw, gone);
    if (gone.length > 0) this.onEnded(gone);
    this.due.compact(this.live.size, () =>
      [...this.live].map(([key, g]) => ({ at: g.expiresAt, key })),
    );
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
