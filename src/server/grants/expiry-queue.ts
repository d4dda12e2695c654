/**
 * The grant table's expiry schedule: a binary min-heap of (time, key), so the next expiry is found
 * in O(1) and a grant is added or taken in O(log n), however many grants are live (one timer for
 * all of them, never one per grant). A grant replaced by a newer one leaves its old entry behind;
 * the owner says which entries are current (`isCurrent`), stale ones are dropped as they surface,
 * and the heap is rebuilt when they outnumber the live grants, so it stays bounded by them.
 */
export interface Due {
  at: number;
  key: string;
}

export class ExpiryQueue {
  private heap: Due[] = [];

  constructor(private readonly isCurrent: (d: Due) => boolean) {}

  get size(): number {
    return this.heap.length;
  }

  push(at: number, key: string): void {
    this.heap.push({ at, key });
    this.up(this.heap.length - 1);
  }

  /** The soonest current entry, or null; stale entries on top are dropped. */
  peek(): Due | null {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return null;
      if (this.isCurrent(top)) return top;
      this.pop();
    }
  }

  /** Current entries due at or before `now`, soonest first, taken off the queue. */
  takeDue(now: number): Due[] {
    const out: Due[] = [];
    for (let top = this.peek(); top !== null && top.at <= now; top = this.peek()) {
      this.pop();
      out.push(top);
    }
    return out;
  }

  /** Rebuild from the live entries when stale ones are more than half the heap. */
  compact(liveCount: number, live: () => Iterable<Due>): void {
    if (this.heap.length <= 2 * liveCount + 64) return;
    this.heap = [...live()];
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private pop(): void {
    const last = this.heap.pop();
    if (last === undefined || this.heap.length === 0) return;
    this.heap[0] = last;
    this.down(0);
  }

  private up(i: number): void {
    const h = this.heap;
    for (let c = i; c > 0;) {
      const p = (c - 1) >> 1;
      const cv = h[c];
      const pv = h[p];
      if (cv === undefined || pv === undefined || pv.at <= cv.at) return;
      h[c] = pv;
      h[p] = cv;
      c = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (let p = i; ;) {
      let m = p;
      for (let c = 2 * p + 1; c <= 2 * p + 2; c++) {
        const cv = h[c];
        const mv = h[m];
        if (cv !== undefined && mv !== undefined && cv.at < mv.at) m = c;
      }
      if (m === p) return;
      const pv = h[p];
      const mv = h[m];
      if (pv === undefined || mv === undefined) return;
      h[p] = mv;
      h[m] = pv;
      p = m;
    }
  }
}
