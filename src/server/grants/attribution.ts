/**
 * Which grant let each connection in, and a log line for each (issue 14: many clients behind one
 * address). The connections come from conn-watch.ts; the grant is the live one for the
 * connection's source, protocol and port. The last few connections of each live grant are kept
 * for `fwknopd --status`; a grant's list goes when the grant does.
 */
import type { Grant } from "../firewall/types.js";
import type { EventFields } from "../log-format.js";
import { LogBudget } from "../log-limit.js";
import { ConnWatch, conntrackProgram, type AdmittedConn } from "./conn-watch.js";

/** Connections kept per grant for --status (the log has them all). */
const KEPT_PER_GRANT = 16;
/** Connections kept per revocable grant; beyond this the grant's address and port are used. */
const MAX_REVOCABLE = 4096;

export interface GrantConnections {
  /** Admitted since the grant opened. */
  count: number;
  /** The latest, "address:port", oldest first. */
  recent: string[];
}

const hostPort = (addr: string, port: number): string =>
  addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;

export class Attribution {
  private readonly byGrant = new Map<number, GrantConnections>();
  /** Every connection of grants with REVOKE_CONNECTIONS_ON_EXPIRY, to cut exactly those. */
  private readonly revocable = new Map<number, AdmittedConn[]>();
  private pruneAt = 64;
  /** Lines: 200 a second, bursts of 1,000; a window admitting a crowd is counted, not flooded. */
  private readonly budget = new LogBudget(200, 1000);

  constructor(
    private readonly liveGrants: () => readonly Grant[],
    /** One info line per connection, with its fields for LOG_FORMAT json. */
    private readonly log: (fields: EventFields, text: string) => void,
  ) {}

  /** A connection was admitted: find its grant, log it, keep it. */
  admitted(c: AdmittedConn): void {
    // Redirected to the token gate (a REQUIRE_CONNECT_TOKEN grant): the gate judges and logs it.
    if (c.redirected) return;
    const grant = this.liveGrants()
      .filter((g) => g.address === c.src && g.proto === c.proto && g.port === c.dport)
      .reduce<Grant | null>((a, g) => (a === null || (g.id ?? 0) > (a.id ?? 0) ? g : a), null);
    const conn = `${c.proto} ${hostPort(c.src, c.sport)} -> ${hostPort(c.dst, c.dport)}`;
    const take = this.budget.take();
    if (take.note !== null) this.log({}, `Connections: ${take.note}`);
    const log = take.ok ? this.log : () => undefined;
    const fields = { src: c.src, sport: c.sport, dst: c.dst, proto: c.proto, port: c.dport };
    if (grant === null) {
      log(fields, `Connection ${conn} admitted by a grant that has since ended`);
      return;
    }
    const id = grant.id ?? 0;
    log(
      { ...fields, grant: id, user: grant.user, stanza: grant.stanza },
      `Connection ${conn} admitted by grant #${id} for user '${grant.user}' (stanza #${grant.stanza}, SPA from ${grant.spaSource ?? grant.address})`,
    );
    const kept = this.byGrant.get(id) ?? { count: 0, recent: [] };
    if (grant.revokeConnections === true) {
      const list = this.revocable.get(id) ?? [];
      if (list.length < MAX_REVOCABLE) list.push(c);
      this.revocable.set(id, list);
    }
    kept.count++;
    kept.recent.push(hostPort(c.src, c.sport));
    if (kept.recent.length > KEPT_PER_GRANT) kept.recent.shift();
    this.byGrant.set(id, kept);
    this.prune();
  }

  /**
   * The connections a grant with REVOKE_CONNECTIONS_ON_EXPIRY let in, handed over (and
   * forgotten) when it ends; null when there were more than could be kept.
   */
  takeRevocable(grant: Grant): AdmittedConn[] | null {
    const id = grant.id ?? 0;
    const list = this.revocable.get(id) ?? [];
    this.revocable.delete(id);
    return list.length >= MAX_REVOCABLE ? null : list;
  }

  /** The connections of a live grant, for --status. */
  of(grant: Grant): GrantConnections | null {
    return grant.id === undefined ? null : (this.byGrant.get(grant.id) ?? null);
  }

  /** Lists of grants no longer live go (bounded by the live grants, not by the traffic). */
  private prune(): void {
    if (this.byGrant.size < this.pruneAt) return;
    const live = new Set(this.liveGrants().map((g) => g.id));
    for (const id of this.byGrant.keys()) if (!live.has(id)) this.byGrant.delete(id);
    for (const id of this.revocable.keys()) if (!live.has(id)) this.revocable.delete(id);
    this.pruneAt = Math.max(64, 2 * this.byGrant.size);
  }
}

/** Attribution with its watcher, or why there is none (said once at start). */
export function startAttribution(
  backend: string,
  enabled: boolean,
  liveGrants: () => readonly Grant[],
  log: (line: string, level?: "info" | "warning") => void,
  event: (fields: EventFields, text: string) => void,
  onChange: () => void,
): { attribution: Attribution; watch: ConnWatch } | null {
  if (!enabled || backend !== "nftables") return null;
  const program = conntrackProgram();
  if (program === null) {
    log(
      "Connections admitted by grants are not logged: conntrack is not installed (apt-get install conntrack), or set LOG_GRANT_CONNECTIONS N",
      "warning",
    );
    return null;
  }
  const attribution = new Attribution(liveGrants, event);
  const watch = new ConnWatch((c) => {
    attribution.admitted(c);
    onChange();
  }, log);
  watch.start(program);
  return { attribution, watch };
}
