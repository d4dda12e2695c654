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
import { killLocalSockets, revokeConnections } from "../grants/revoke-connections.js";
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

  /** Grants that ended: with REVOKE_CONNECTIONS_ON_EXPIRY, the connections they let in are cut. */
  async ended(grants: readonly Grant[]): Promise<void> {
    for (const g of grants) {
      if (g.revokeConnections !== true) continue;
      const what = `grant #${String(g.id ?? 0)} (${g.address} ${g.proto}/${g.port})`;
      if (g.gate === true) {
        const n = this.gate?.closeGrant(g.id ?? 0) ?? 0;
        this.deps.logger.log("info", `Revoked ${n} connection(s) of ${what} at its end`);
        continue;
      }
      // Exactly its own connections when attribution saw them; else those from its address to
      // its port, unless a newer grant for the same address and port keeps them.
      const own = this.attribution?.attribution.takeRevocable(g) ?? null;
      const live = this.deps.liveGrants();
      if (
        own === null &&
        live.some((x) => x.address === g.address && x.proto === g.proto && x.port === g.port)
      )
        continue;
      const r = own !== null ? await killLocalSockets(own) : await revokeConnections({ grant: g });
      this.deps.logger.log(
        "cut" in r ? "info" : "warning",
        "cut" in r
          ? `Revoked ${r.cut} connection(s) of ${what} at its end`
          : `Could not revoke the connections of ${what}: ${r.failed}`,
      );
    }
  }

  connectionsOf(g: Grant): GrantConnections | null {
    return this.attribution?.attribution.of(g) ?? null;
  }

  async close(): Promise<void> {
    await this.gate?.close();
    await this.attribution?.watch.close();
  }
}
