/**
 * firewalld with its own runtime rich rules, for firewalld's nftables backend (its default since
 * 0.6), where a direct passthrough iptables ACCEPT lands in iptables-nft's `ip filter` table and
 * firewalld's `inet firewalld` table still rejects the packet (test/e2e/firewalld.ts, design.md
 * "Firewall backends"). A rich rule is a rule of firewalld's own table, so its accept is final
 * there, and added with a timeout (zone.addRichRule(zone, rule, timeout), firewall/server/
 * firewalld.py) firewalld removes it by itself when the time is up: a crashed fwknopd leaves
 * nothing open for longer than it granted (fail-closed, like our nftables set timeouts).
 *
 * Our rules carry a fixed rich-rule priority (RICH_PRIORITY): it marks them, so listing, flushing
 * and a restart find exactly ours and never an admin's, and a negative priority puts them in the
 * zone's `_pre` chain, ahead of the zone's own allow/deny rules (as fwknop's jump rule goes first
 * in INPUT).
 *
 * Over D-Bus (firewalld-dbus.ts) when FIREWD_USE_DBUS is Y and the bus answers; otherwise the
 * same calls through `firewall-cmd` (FIREWALL_EXE), argv only, with the reason in `detail`
 * (firewalld-rich-ops.ts). The rule text is in rich-rule.ts, the zone lookups in
 * firewalld-zones.ts; this file chooses the zone and keeps the backend's state.
 */
import type { Exec } from "../../exec.js";
import { EnvironmentError, messageOf } from "../../errors.js";
import type { FirewalldBus } from "./firewalld-dbus.js";
import { busOps, cmdOps, type RichOps } from "./firewalld-rich-ops.js";
import {
  interfaceOf,
  localAddressToward,
  sourceZoneOf,
  type ZoneSource,
} from "./firewalld-zones.js";
import { inParallel } from "./in-parallel.js";
import { RICH_PRIORITY, parseRichRule, richRuleOf, type RichMatch } from "./rich-rule.js";
import { grantKey, type FirewallBackend, type Grant } from "./types.js";

export interface RichOptions {
  /** argv prefix of firewall-cmd (FIREWALL_EXE), for the fallback. */
  exe: readonly string[];
  /** FIREWD_USE_DBUS. */
  dbus: boolean;
  /** FIREWD_ZONE; null: the zone of the SPA's source or interface, else the default zone. */
  zone: string | null;
}

/** Zone lookups are kept this long: zone bindings change rarely, grants come in bursts. */
const ZONE_CACHE_MS = 30_000;
/** Interfaces whose zone is kept (a host has a handful; bounded all the same). */
const MAX_CACHED_INTERFACES = 256;
/** firewall-cmd processes at once for one batch (each is a Python start, ~0.3 s). */
const FIREWALL_CMD_PARALLEL = 8;

interface Cached<T> {
  value: T;
  at: number;
}

export class RichRuleBackend implements FirewallBackend {
  readonly name = "firewalld";
  readonly expiresItself = true;
  private bus: FirewalldBus | null;
  private noBus: string | null;
  private via: RichOps | null = null;
  private defaultZone: Cached<string> | null = null;
  private sources: Cached<ZoneSource[]> | null = null;
  private readonly ifaceZones = new Map<string, Cached<string>>();
  /** Where each live rule of ours went (revoking needs its zone; a lookup may answer otherwise now). */
  private readonly placed = new Map<string, string>();

  constructor(
    private readonly opts: RichOptions,
    private readonly exec: Exec,
    /** The bus to use (null: none); the facade passes the one it probed firewalld with. */
    bus: FirewalldBus | null,
    noBus: string | null,
    private readonly nowMs: () => number = Date.now,
    private readonly routeFrom: (a: string) => Promise<string | null> = localAddressToward,
  ) {
    this.bus = bus;
    this.noBus = bus === null ? (noBus ?? "no bus") : null;
  }

  get detail(): string {
    const zone =
      this.opts.zone !== null
        ? `zone ${this.opts.zone} (FIREWD_ZONE)`
        : `zone ${this.defaultZone?.value ?? "?"} (the default; a zone bound to the SPA's source or arrival interface first)`;
    const how =
      this.bus !== null
        ? "over D-Bus"
        : `through ${this.opts.exe.join(" ")} (not D-Bus: ${this.noBus ?? "?"})`;
    return `rich rules in ${zone} ${how}`;
  }

  /** D-Bus while it answers; otherwise firewall-cmd from now on, and the reason kept. */
  private async ops(): Promise<RichOps> {
    if (this.via !== null) return this.via;
    const bus = this.bus;
    if (bus !== null) {
      try {
        await bus.open();
        this.via = busOps(bus);
        return this.via;
      } catch (e) {
        this.bus = null;
        this.noBus = messageOf(e);
        bus.close();
      }
    }
    this.via = cmdOps(this.opts.exe, this.exec);
    return this.via;
  }

  private fresh<T>(c: Cached<T> | null | undefined): c is Cached<T> {
    return c !== null && c !== undefined && this.nowMs() - c.at < ZONE_CACHE_MS;
  }

  /**
   * The zone a grant's packets are judged in, as firewalld dispatches them: FIREWD_ZONE when set;
   * else the zone a source binding gives the client's address; else the zone of the interface the
   * SPA arrived on (by its destination address when the listener knows it, as the TCP and pcap
   * listeners do; else, for the UDP server, the interface the route to the client leaves by);
   * else the default zone.
   */
  async zoneFor(g: Grant): Promise<string> {
    if (this.opts.zone !== null) return this.opts.zone;
    const ops = await this.ops();
    if (!this.fresh(this.sources))
      this.sources = { value: await ops.activeSources(), at: this.nowMs() };
    const bySource = sourceZoneOf(g.address, this.sources.value);
    if (bySource !== null) return bySource;
    const iface = interfaceOf(g.spaDestination) ?? interfaceOf(await this.routeFrom(g.address));
    if (iface !== null) {
      let c = this.ifaceZones.get(iface);
      if (!this.fresh(c)) {
        if (this.ifaceZones.size >= MAX_CACHED_INTERFACES) this.ifaceZones.clear();
        c = { value: await ops.zoneOfInterface(iface), at: this.nowMs() };
        this.ifaceZones.set(iface, c);
      }
      if (c.value !== "") return c.value;
    }
    return this.zoneDefault(ops);
  }

  private async zoneDefault(ops: RichOps): Promise<string> {
    if (!this.fresh(this.defaultZone))
      this.defaultZone = { value: await ops.defaultZone(), at: this.nowMs() };
    return this.defaultZone.value;
  }

  async init(flush: boolean): Promise<void> {
    const ops = await this.ops();
    // Fails here, at start, when firewalld is not there to answer or FIREWD_ZONE names no zone.
    await this.zoneDefault(ops);
    if (this.opts.zone !== null) await ops.rules(this.opts.zone);
    if (flush) await this.flush();
  }

  async grant(grants: readonly Grant[], nowSecs: number): Promise<void> {
    const ops = await this.ops();
    const parallel = this.bus !== null ? grants.length : FIREWALL_CMD_PARALLEL;
    await inParallel(grants, parallel, async (g) => {
      if (g.nat !== undefined || g.leftover !== undefined)
        throw new EnvironmentError(
          "NAT access cannot be granted with firewalld rich rules (firewalld's nftables backend)",
        );
      const zone = await this.zoneFor(g);
      const rule = richRuleOf(g);
      const secs = Math.max(1, g.expiresAt - nowSecs);
      // A rule of ours already there (left by an earlier run): firewalld keeps its old timeout,
      // so replace it to get this grant's.
      if ((await ops.add(zone, rule, secs)) === "already") {
        await ops.remove(zone, rule);
        await ops.add(zone, rule, secs);
      }
      this.placed.set(grantKey(g), zone);
    });
  }

  /** Removing a rule firewalld has already ended (NOT_ENABLED) is not an error. */
  async revoke(grants: readonly Grant[]): Promise<void> {
    const ops = await this.ops();
    const parallel = this.bus !== null ? grants.length : FIREWALL_CMD_PARALLEL;
    await inParallel(grants, parallel, async (g) => {
      const key = grantKey(g);
      const zone = this.placed.get(key) ?? (await this.zoneFor(g));
      await ops.remove(zone, richRuleOf(g));
      this.placed.delete(key);
    });
  }

  /** Our rules, zone by zone (FIREWD_ZONE alone when it is set). */
  private async ours(): Promise<Array<{ zone: string; rule: string; match: RichMatch }>> {
    const ops = await this.ops();
    const zones = this.opts.zone !== null ? [this.opts.zone] : await ops.zones();
    const found = await Promise.all(
      zones.map(async (zone) => (await ops.rules(zone)).map((rule) => ({ zone, rule }))),
    );
    return found.flat().flatMap(({ zone, rule }) => {
      const match = parseRichRule(rule);
      return match === null ? [] : [{ zone, rule, match }];
    });
  }

  /**
   * Our rules as grants. firewalld does not tell how long a timed rule has left, and it ends the
   * rule itself; so each is reported as live for one more second: the grant table keeps it that
   * long, and a fresh knock for the same address and port replaces it (remove, add, new timeout).
   */
  async list(nowSecs: number): Promise<Grant[]> {
    return (await this.ours()).map(({ zone, match }) => {
      const g: Grant = { stanza: 0, user: "", ...match, expiresAt: nowSecs + 1 };
      this.placed.set(grantKey(g), zone);
      return g;
    });
  }

  async listText(all: boolean): Promise<string> {
    if (!all) {
      const mine = await this.ours();
      const lines = mine.map(({ zone, rule }) => `zone ${zone}: ${rule}`);
      return [
        `Listing fwknopd's firewalld rich rules (priority ${RICH_PRIORITY}; firewalld ends each at its timeout)...`,
        ...lines,
        ...(lines.length === 0 ? ["(none)"] : []),
        "",
      ].join("\n");
    }
    const ops = await this.ops();
    const zones = this.opts.zone !== null ? [this.opts.zone] : await ops.zones();
    const parts = await Promise.all(
      zones.map(async (z) => [`zone ${z}:`, ...(await ops.rules(z)).map((r) => `  ${r}`)]),
    );
    return `${parts.flat().join("\n")}\n`;
  }

  async flush(): Promise<void> {
    const ops = await this.ops();
    const mine = await this.ours();
    const parallel = this.bus !== null ? mine.length : FIREWALL_CMD_PARALLEL;
    await inParallel(mine, parallel, async ({ zone, rule }) => {
      await ops.remove(zone, rule);
    });
    this.placed.clear();
  }

  close(): Promise<void> {
    this.bus?.close();
    return Promise.resolve();
  }
}
