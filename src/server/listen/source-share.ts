/**
 * Who gets the daemon's time while it cannot keep up. With thousands of stanzas every packet
 * costs thousands of HMACs, so a flood from one address fills the receive queue and a knock from
 * anyone else would be dropped (STALE_MS) or wait with the flood. While the daemon is behind
 * (a datagram waited over BEHIND_MS in the queue), an address that has had more than half of the
 * datagrams handed on in the current second, by more than MIN_SHARE, has its further datagrams
 * dropped unread, at no HMAC's cost, so the queue drains and other addresses are served. Two
 * addresses sharing evenly are both served, a lone one is never cut; when the daemon keeps up, every datagram is handed
 * on, whoever sent it.
 *
 * What it cannot do: a flood from many (spoofed) addresses gets no one's share cut, and a user
 * behind the flooding address (a shared NAT) is cut with it, but only while the daemon is
 * overloaded, when it would otherwise lose most packets of everyone. On nftables the kernel meter
 * (NFT_SPA_RATE_LIMIT) already keeps one address's excess away from the daemon.
 */

/** Datagrams an address may have past half of the window's, behind or not. */
const MIN_SHARE = 8;
/** Queue wait (kernel receive time to now) from which the daemon counts as behind. */
export const BEHIND_MS = 100;
const WINDOW_MS = 1000;
/** Addresses counted per window; past it, new ones are not counted (and so never cut). */
const MAX_SOURCES = 4096;

export class SourceShare {
  private counts = new Map<number | string, number>();
  private handed = 0;
  private windowStart = -Infinity;

  /**
   * May a datagram from `source` (an IPv4 address as a number, else the address text) be handed
   * on; `behind`: it waited over BEHIND_MS. Counts it when yes.
   */
  admit(source: number | string, behind: boolean, now: number): boolean {
    if (now - this.windowStart >= WINDOW_MS) {
      this.counts.clear();
      this.handed = 0;
      this.windowStart = now;
    }
    const had = this.counts.get(source);
    // A lone sender is never cut: there is no one else to serve.
    const crowd = this.counts.size > 1;
    if (behind && crowd && had !== undefined && 2 * had > this.handed + MIN_SHARE) return false;
    this.handed++;
    if (had !== undefined) this.counts.set(source, had + 1);
    else if (this.counts.size < MAX_SOURCES) this.counts.set(source, 1);
    return true;
  }
}
