/**
 * What happens to the connections grants let in (issue 14): attribution of each one to its grant
 * (grants/attribution.ts, through conntrack), and the token gate of REQUIRE_CONNECT_TOKEN stanzas
 * (gate/connect-gate.ts). Both exist only on nftables, which marks and redirects those
 * connections; the daemon hands each new grant over once the firewall has it.
 */
import type { DaemonConfig } from "../daemon-config.js";
import type { Grant } from "../firewall/types.js";
import { ConnectGate } from "../gate/connect-gate.js";
import { startAttribution, type GrantConnections } from "../grants/attribution.js";
import type { Logger } from "../log.js";

export interface AdmissionDeps {
  nowSecs: () => number;
  logger: Logger;
  liveGrants: () => readonly Grant[];
  /** The status file should be written again (a connection was admitted). */
  changed: () => void;
}

export class Admission {
  private attribution: ReturnType<typeof startAttribution> = null;
  private gate: ConnectGate | null = null;

  constructor(private readonly deps: AdmissionDeps) {}

  async start(backend: string, cfg: DaemonConfig): Promise<void> {
    const { logger } = this.deps;
    this.attribution = startAttribution(
      backend,
      cfg.logConnections,
      this.deps.liveGrants,
      (line, level = "info") => {
        logger.log(level, line);
      },
      (fields, text) => {
        logger.event("info", "connection_admitted", fields, text);
      },
      this.deps.changed,
    );
    if (cfg.gatePort === null || backend !== "nftables") return;
    const gate = new ConnectGate({
      nowSecs: this.deps.nowSecs,
      log: (level, fields, text) => {
        logger.event(
          level,
          level === "info" ? "connection_admitted" : "connection_refused",
          fields,
          text,
        );
      },
    });
    await gate.listen(cfg.gatePort, cfg.ipv6);
    this.gate = gate;
    logger.log(
      "info",
      `Token gate: listening on tcp/${cfg.gatePort} for REQUIRE_CONNECT_TOKEN grants`,
    );
  }

  /** Grants now in the firewall: a gated one's token becomes spendable. */
  granted(grants: readonly Grant[], hmacKey: Buffer | null, digest: string | null): void {
    if (this.gate === null || hmacKey === null || digest === null) return;
    for (const g of grants) if (g.gate === true) this.gate.admit(g, hmacKey, digest);
  }

  connectionsOf(g: Grant): GrantConnections | null {
    return this.attribution?.attribution.of(g) ?? null;
  }

  async close(): Promise<void> {
    await this.gate?.close();
    await this.attribution?.watch.close();
  }
}
