/**
 * A budget for per-packet log lines. Every refused packet that reached a stanza is logged with C's
 * wording (fail2ban reads the source address from it), but during a flood one synchronous write
 * per packet is most of the daemon's work (bench/flood.ts: a quarter of the CPU profile). So lines
 * pass at a steady rate with a burst allowance; the rest are counted, and the count is logged
 * once lines pass again.
 */
export class LogBudget {
  private tokens: number;
  private lastMs: number;
  private suppressed = 0;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.lastMs = nowMs();
  }

  /**
   * May a line be written now? When it may and lines were held back before, `note` is the
   * summary to write first.
   */
  take(): { ok: boolean; note: string | null } {
    const now = this.nowMs();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastMs) / 1000) * this.perSecond);
    this.lastMs = now;
    if (this.tokens < 1) {
      this.suppressed++;
      return { ok: false, note: null };
    }
    this.tokens -= 1;
    if (this.suppressed === 0) return { ok: true, note: null };
    const note = `${this.suppressed} packet log line(s) suppressed (more than ${this.perSecond}/s)`;
    this.suppressed = 0;
    return { ok: true, note };
  }
}
