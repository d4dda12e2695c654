/**
 * What the daemon counts, as an interface: the receive path calls these and knows nothing of
 * Prometheus. Without METRICS_LISTEN the daemon gets NO_METRICS, whose calls cost a no-op.
 */
import type { RefusalReason } from "../refusals.js";

export interface DaemonMetrics {
  /** An SPA-sized payload reached the pipeline (`n` of them: the privsep parser's tally). */
  packet(n?: number): void;
  /** A packet refused, by the refusal enum (refusals.ts); HTTP-level refusals are "http". */
  refused(reason: RefusalReason | "http", n?: number): void;
  /** A packet's grants are in the firewall: `n` of them, `seconds` after the packet came in. */
  granted(backend: string, n: number, seconds: number): void;
  /** A firewall call failed (a grant that could not be added). */
  firewallError(): void;
}

export const NO_METRICS: DaemonMetrics = {
  packet: () => undefined,
  refused: () => undefined,
  granted: () => undefined,
  firewallError: () => undefined,
};
