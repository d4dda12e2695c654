/**
 * Who gets the daemon's time while it cannot keep up. With thousands of stanzas every packet
 * costs thousands of HMACs, so a flood from one address fills the receive queue and a knock from
 * anyone else would be dropped (STALE_MS) or wait with the flood. While the daemon is behind
 * (a datagram waited over BEHIND_MS in the queue), an address whose datagrams took more than half
 * of the time spent on datagrams lately (halved every second), by more than MIN_SHARE_MS, has its
 * further datagrams dropped unread, at no HMAC's cost, so the queue drains and other addresses
 * are served. Time, not datagrams, is shared: a packet costs one HMAC per stanza tried, so with
 * thousands of stanzas a few datagrams a second are already the whole of it. Two
 * addresses sharing evenly are both served, a lone one is never cut; when the daemon keeps up, every datagram is handed
 * on, whoever sent it.
 *
 * What it cannot do: a flood from many (spoofed) addresses gets no one's share cut, and a user
 * behind the flooding address (a shared NAT) is cut with it, but only while the daemon is
 * overloaded, when it would otherwise lose most packets of everyone. On nftables the kernel meter
 * (NFT_SPA_RATE_LIMIT) already keeps one address's excess away from the daemon.
 */

/** Milliseconds an address may have past half of the time spent, behind or not. */
const MIN_SHARE_MS = 10;
/** Queue wait (kernel receive time to now) from which the daemon counts as behind. */
export const BEHIND_MS = 100;
const WINDOW_MS = 1000;
/** Addresses counted per window; past it, new ones are not counted (and so never cut). */
const MAX_SOURCES = 4096;

export class SourceShare {
  /** Milliseconds spent per address, halved every window (see decay). */
  private spent = new Map<number | string, number>();
  private total = 0;
  private windowStart = -Infinity;

  /**
   * May a datagram from `source` (an IPv4 address as a number, else the address text) be handed
   * on; `behind`: it waited over BEHIND_MS.
   */
  admit(source: number | string, behind: boolean, now: number): boolean {
    if (now - this.windowStart >= WINDOW_MS) this.decay(now);
    if (!behind) return true;
    const had = this.spent.get(source);
    // A lone sender is never cut: there is no one else to serve.
    return had === undefined || this.spent.size < 2 || 2 * had <= this.total + MIN_SHARE_MS;
  }

  /**
   * Halves what each address spent, once a window (and once more for each window gone by): the share looks back a few seconds, so a
   * knocker who was served a moment ago still counts as someone else to serve.
   */
  private decay(now: number): void {
    const windows = Math.floor((now - this.windowStart) / WINDOW_MS);
    const keep = windows >= 30 ? 0 : 0.5 ** windows;
    this.total *= keep;
    for (const [source, ms] of this.spent)
      if (ms * keep < 0.02) this.spent.delete(source);
      else this.spent.set(source, ms * keep);
    this.windowStart = now;
  }

  /** `ms` went on a datagram from `source`. */
  charge(source: number | string, ms: number): void {
    this.total += ms;
    const had = this.spent.get(source);
    if (had !== undefined) this.spent.set(source, had + ms);
    else if (this.spent.size < MAX_SOURCES) this.spent.set(source, ms);
  }
}
