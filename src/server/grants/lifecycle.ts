/**
 * The grant lifecycle around one firewall backend: its start (init, leftovers of an earlier run
 * reconciled), opening the grants of an accepted packet (grant-table.ts batches them and expires
 * them), the live list, and the ordered stop (flush at exit, close).
 */
import type { DaemonConfig } from "../daemon-config.js";
import type { FirewallBackend, Grant } from "../firewall/types.js";
import type { EventLog, Level } from "../log.js";
import type { Granted } from "../pipeline/types.js";
import { describeDestination, grantFields, logRevoked } from "./grant-log.js";
import { GrantTable } from "./grant-table.js";
import { describeNat, resolveNatNames, type Lookup } from "./nat-names.js";

export interface GrantLifecycleDeps {
  nowSecs: () => number;
  log: (line: string, level?: Level) => void;
  /** Lines about grants, with their fields (grant-log.ts). */
  event: EventLog;
  /** For NAT host names; the system resolver by default. */
  lookup?: Lookup;
  /** Grants that ended on time. */
  onEnded?: (grants: readonly Grant[]) => void;
}

export class GrantLifecycle {
  private table: GrantTable | null = null;
  private noNatReason: string | null = null;

  constructor(
    private readonly fw: FirewallBackend,
    private readonly deps: GrantLifecycleDeps,
  ) {}

  /** The firewall's reason it cannot do NAT (FirewallBackend.noNat), once started; else null. */
  get noNat(): string | null {
    return this.noNatReason;
  }

  async start(cfg: Pick<DaemonConfig, "flushAtInit" | "firewallReason" | "nat">): Promise<void> {
    const fw = this.fw;
    await fw.init(cfg.flushAtInit);
    this.table = new GrantTable(fw, this.deps.nowSecs, this.deps.event, this.deps.onEnded);
    if (!cfg.flushAtInit) await this.reconcile(this.table);
    this.deps.event(
      "info",
      "firewall",
      {},
      `Firewall backend: ${fw.name}${fw.detail !== undefined ? `, ${fw.detail}` : ""}${cfg.firewallReason !== null ? ` (${cfg.firewallReason})` : ""}${cfg.flushAtInit ? " (flushed at init)" : ""}`,
    );
    if (fw.noNat !== undefined) {
      this.noNatReason = fw.noNat;
      if (cfg.nat.forwarding || cfg.nat.localNat)
        this.deps.log(
          `NAT requests cannot be honoured: ${fw.noNat}; SPA packets asking for NAT access will be refused`,
          "warning",
        );
    }
  }

  /** Leftovers of an earlier run: expired ones go, live ones are kept and scheduled. */
  private async reconcile(table: GrantTable): Promise<void> {
    const now = this.deps.nowSecs();
    const found = await this.fw.list(now);
    const expired = found.filter((g) => g.expiresAt <= now);
    const live = found.filter((g) => g.expiresAt > now);
    if (expired.length > 0 && !this.fw.expiresItself) await this.fw.revoke(expired);
    table.adopt(live);
    if (found.length > 0)
      this.deps.log(
        `Reconciled firewall: ${live.length} live grant(s) kept, ${expired.length} expired removed`,
      );
  }

  /**
   * Open a packet's grants once the firewall has them, each logged; false when nothing was opened
   * (not started, or a NAT host name that does not resolve). Throws what the firewall throws.
   */
  async open(g: Granted, srcIp: string): Promise<boolean> {
    const table = this.table;
    if (table === null) return false;
    const grants = await resolveNatNames(
      g.grants,
      srcIp,
      (l) => {
        this.deps.log(l);
      },
      this.deps.lookup,
    );
    if (grants === null) return false;
    await table.add(grants);
    for (const x of grants)
      this.deps.event(
        "info",
        "grant_added",
        grantFields(x),
        `Added access for user '${g.user}' (stanza #${g.stanza}) from ${x.address} to ${x.proto}/${x.port}${describeDestination(x)}${describeNat(x)} via ${this.fw.name}, expires at ${x.expiresAt} (${g.timeout} s)`,
      );
    return true;
  }

  /** Live grants, soonest expiry first. */
  list(): Grant[] {
    return this.table?.list() ?? [];
  }

  /**
   * Expiry timers stopped, then the firewall flushed (FLUSH_*_AT_EXIT; each live grant logged as
   * revoked) and closed. Without the flush, grants stay until their time: the kernel or firewalld
   * ends them, or the next start reconciles them.
   */
  async stop(flushAtExit: boolean): Promise<void> {
    this.table?.stop();
    if (flushAtExit) {
      const live = this.list();
      await this.fw.flush();
      logRevoked(this.deps.event, live, "flushed at exit");
      this.deps.event("info", "firewall_flushed", {}, "Flushed firewall rules at exit");
    }
    await this.fw.close();
  }
}
