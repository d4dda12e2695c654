/**
 * What is open, for whom, until when. Grants arrive from the packet path and are handed to the
 * firewall in batches: a batch starts once the current turn of the event loop has handed over
 * every packet it read (setImmediate), and while one batch is being applied new grants queue and
 * go together in the next, so the receive loop never waits on the firewall and a burst costs a
 * few firewall calls. (libnftables answers in-process within the same turn: without the deferral
 * every grant of a burst was its own transaction, and a 5,000/s burst opened 1,600 grants/s
 * instead of 3,000+; measured with bench/grants.ts.)
 * Backends that do not expire grants themselves (iptables, firewalld) get a timer for the next
 * expiry; nftables expires set elements in the kernel.
 */
import type { FirewallBackend, Grant } from "../firewall/types.js";
import { grantKey } from "../firewall/types.js";
import { messageOf } from "../../errors.js";

interface Waiter {
  grants: Grant[];
  done: (err: Error | null) => void;
}

export class GrantTable {
  private readonly live = new Map<string, Grant>();
  private queue: Waiter[] = [];
  private applying = false;
  private applyScheduled = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly fw: FirewallBackend,
    private readonly nowSecs: () => number,
    private readonly log: (line: string) => void,
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
      for (const [k, g] of wanted) this.live.set(k, g);
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
    for (const g of grants) this.live.set(grantKey(g), g);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const now = this.nowSecs();
    let next = Infinity;
    for (const g of this.live.values()) next = Math.min(next, g.expiresAt);
    if (next === Infinity) return;
    const ms = Math.max(0, (next - now) * 1000);
    this.timer = setTimeout(() => {
      void this.expire();
    }, ms + 50);
    this.timer.unref();
  }

  /** Remove what has expired (from the firewall unless it does that itself). */
  async expire(): Promise<void> {
    const now = this.nowSecs();
    const gone = [...this.live.entries()].filter(([, g]) => g.expiresAt <= now);
    for (const [k] of gone) this.live.delete(k);
    if (gone.length > 0 && !this.fw.expiresItself) {
      try {
        await this.fw.revoke(gone.map(([, g]) => g));
        for (const [, g] of gone)
          this.log(
            `Removed expired access for ${g.address} ${g.proto}/${g.port} (stanza #${g.stanza}, expired at ${g.expiresAt})`,
          );
      } catch (e) {
        this.log(`Error removing expired access: ${messageOf(e)}`);
        for (const [k, g] of gone) this.live.set(k, g); // try again at the next tick
        const retry = setTimeout(() => void this.expire(), 1000);
        retry.unref();
        return;
      }
    }
    this.schedule();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
