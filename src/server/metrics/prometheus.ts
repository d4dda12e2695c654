/**
 * The daemon's metrics in Prometheus form, through prom-client, in a registry of our own (the
 * library's global one would mix in anything else that loads it). Gauges are read when scraped,
 * from the daemon's own state, so they cannot drift from it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { Refusal } from "../refusals.js";
import type { DaemonMetrics } from "./daemon-metrics.js";

/** Read at scrape time. */
export interface MetricSources {
  activeGrants: () => number;
  replayCacheEntries: () => number;
}

export interface PrometheusMetrics {
  metrics: DaemonMetrics;
  registry: Registry;
}

/** Packet in -> firewall done: in-process nftables grants take well under a millisecond. */
const GRANT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The gauges, read from the daemon when scraped. */
function scrapeGauges(registers: Registry[], sources: MetricSources): void {
  new Gauge({
    name: "fwknopd_grants_active",
    help: "Grants open now.",
    registers,
    collect() {
      this.set(sources.activeGrants());
    },
  });
  new Gauge({
    name: "fwknopd_replay_cache_entries",
    help: "Digests in the replay cache.",
    registers,
    collect() {
      this.set(sources.replayCacheEntries());
    },
  });
}

export function prometheusMetrics(sources: MetricSources): PrometheusMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const packets = new Counter({
    name: "fwknopd_spa_packets_total",
    help: "SPA-sized payloads that reached the packet pipeline.",
    registers,
  });
  const rejected = new Counter({
    name: "fwknopd_spa_rejected_total",
    help: "Packets refused, by reason.",
    labelNames: ["reason"],
    registers,
  });
  // Every reason is a series from the start: a rate over a counter that appears late misleads.
  for (const reason of [...Object.values(Refusal), "http"]) rejected.inc({ reason }, 0);
  const grants = new Counter({
    name: "fwknopd_grants_total",
    help: "Grants added to the firewall, by backend.",
    labelNames: ["backend"],
    registers,
  });
  const grantSeconds = new Histogram({
    name: "fwknopd_grant_seconds",
    help: "Seconds from a packet's arrival to its grants being in the firewall.",
    buckets: GRANT_BUCKETS,
    registers,
  });
  const fwErrors = new Counter({
    name: "fwknopd_firewall_errors_total",
    help: "Firewall calls that failed.",
    registers,
  });
  scrapeGauges(registers, sources);
  return {
    registry,
    metrics: {
      packet: (n = 1) => {
        packets.inc(n);
      },
      refused: (reason, n = 1) => {
        rejected.inc({ reason }, n);
      },
      granted: (backend, n, seconds) => {
        grants.inc({ backend }, n);
        grantSeconds.observe(seconds);
      },
      firewallError: () => {
        fwErrors.inc();
      },
    },
  };
}
