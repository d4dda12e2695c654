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
 * same calls through `firewall-cmd` (FIREWALL_EXE), argv only, with the reason in `detail`.
 */
import { createSocket } from "node:dgram";
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { CommandError, type Exec } from "../../exec.js";
import { EnvironmentError } from "../../errors.js";
import type { Value } from "./dbus-decode.js";
import { int32 } from "./dbus-encode.js";
import type { Answer, FirewalldBus } from "./firewalld-dbus.js";
import { inParallel } from "./in-parallel.js";
import { grantKey, type FirewallBackend, type Grant, type GrantProto } from "./types.js";

/**
 * The rich-rule priority that marks our rules (firewalld accepts -32768..32767, firewall/core/
 * rich.py Rich_Rule.priority_min/max). Negative: before the zone's other rules.
 */
export const RICH_PRIORITY = -32201;

export interface RichOptions {
  /** argv prefix of firewall-cmd (FIREWALL_EXE), for the fallback. */
  exe: readonly string[];
  /** FIREWD_USE_DBUS. */
  dbus: boolean;
  /** FIREWD_ZONE; null: the zone of the SPA's source or interface, else the default zone. */
  zone: string | null;
}

/** The parts of a grant a rich rule holds. */
export type RichMatch = Pick<Grant, "family" | "address" | "destination" | "proto" | "port">;

const quoteSafe = (s: string): boolean => /^[0-9A-Za-z.:/_-]+$/.test(s);

/**
 * Our rule text, in firewalld's own canonical order and quoting (firewall/core/rich.py
 * Rich_Rule.__str__: priority, family, source, destination, element, action), so getRichRules
 * returns it verbatim.
 */
export function richRuleOf(g: RichMatch): string {
  for (const v of [g.address, g.destination ?? ""])
    if (v !== "" && !quoteSafe(v)) throw new Error(`internal: '${v}' in a rich rule`);
  const dst = g.destination === null ? "" : ` destination address="${g.destination}"`;
  return (
    `rule priority="${RICH_PRIORITY}" family="ipv${g.family}" source address="${g.address}"` +
    `${dst} port port="${g.port}" protocol="${g.proto}" accept`
  );
}

const RULE_RE = new RegExp(
  `^rule priority="${RICH_PRIORITY}" family="ipv([46])" source address="([^"]+)"` +
    `(?: destination address="([^"]+)")? port port="(\\d{1,5})" protocol="(tcp|udp)" accept$`,
);

/** One of our rules back into its parts; null for any other rule (an admin's, another shape). */
export function parseRichRule(text: string): RichMatch | null {
  const m = RULE_RE.exec(text.trim());
  if (m === null) return null;
  const family = m[1] === "6" ? 6 : 4;
  const address = m[2] ?? "";
  const port = Number(m[4]);
  if (!(family === 4 ? isIPv4(address) : isIPv6(address)) || port > 65535) return null;
  return {
    family,
    address,
    destination: m[3] ?? null,
    proto: (m[5] ?? "tcp") as GrantProto,
    port,
  };
}

/** The interface that holds `address` (the SPA's destination); null when none or unknown. */
export function interfaceOf(
  address: string | null | undefined,
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string | null {
  if (address === null || address === undefined) return null;
  if (address === "0.0.0.0" || address === "::" || address === "") return null;
  for (const [name, infos] of Object.entries(ifaces))
    if (infos?.some((i) => i.address === address || i.address === `::ffff:${address}`)) return name;
  return null;
}

/**
 * The local address the kernel would send from to reach `address` (connecting a UDP socket sends
 * nothing): with symmetric routing, the client's packets arrive on the interface holding it.
 * Null when there is no route.
 */
export function localAddressToward(address: string): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(address) ? "udp6" : "udp4");
    const done = (a: string | null): void => {
      sock.close();
      resolve(a);
    };
    sock.on("error", () => {
      done(null);
    });
    sock.connect(9, address, () => {
      try {
        done(sock.address().address);
      } catch {
        done(null);
      }
    });
  });
}

/** A zone's source binding (firewalld: address, network, MAC or ipset). */
export interface ZoneSource {
  zone: string;
  source: string;
}

/**
 * The zone whose source binding holds `address`: firewalld sends a packet to the zone of its
 * source before the zone of its interface. MACs and ipsets cannot be judged here and are skipped.
 */
export function sourceZoneOf(address: string, sources: readonly ZoneSource[]): string | null {
  const fam = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : null;
  if (fam === null) return null;
  for (const { zone, source } of sources) {
    const [net, lenText] = source.split("/");
    if (net === undefined) continue;
    const netFam = isIPv4(net) ? "ipv4" : isIPv6(net) ? "ipv6" : null;
    if (netFam !== fam) continue;
    const len = lenText === undefined ? (fam === "ipv4" ? 32 : 128) : Number(lenText);
    if (!Number.isInteger(len) || len < 0 || len > (fam === "ipv4" ? 32 : 128)) continue;
    const list = new BlockList();
    list.addSubnet(net, len, fam);
    if (list.check(address, fam)) return zone;
  }
  return null;
}

/** `firewall-cmd --get-active-zones`: a zone name, then indented "interfaces:"/"sources:" lines. */
export function parseActiveZones(text: string): ZoneSource[] {
  const out: ZoneSource[] = [];
  let zone: string | null = null;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (!/^\s/.test(line)) zone = line.trim().split(/\s+/)[0] ?? null;
    else {
      const m = /^\s+sources:\s*(.*)$/.exec(line);
      if (m !== null && zone !== null)
        for (const source of (m[1] ?? "").split(/\s+/).filter((s) => s !== ""))
          out.push({ zone, source });
    }
  }
  return out;
}

/** zone.getActiveZones' a{sa{sas}} (zone -> "interfaces"/"sources" -> names) as source bindings. */
export function activeZoneSources(v: Value | undefined): ZoneSource[] {
  const out: ZoneSource[] = [];
  if (!Array.isArray(v)) return out;
  for (const entry of v) {
    if (!Array.isArray(entry)) continue;
    const [zone, kinds] = entry;
    if (typeof zone !== "string" || !Array.isArray(kinds)) continue;
    for (const kind of kinds) {
      if (!Array.isArray(kind) || kind[0] !== "sources" || !Array.isArray(kind[1])) continue;
      for (const source of kind[1]) if (typeof source === "string") out.push({ zone, source });
    }
  }
  return out;
}

/** What firewalld's add/remove answered, when it was not plain success. */
type Outcome = "ok" | "already" | "absent";

/** The calls this backend makes, over D-Bus or through firewall-cmd. */
interface RichOps {
  add(zone: string, rule: string, timeoutSecs: number): Promise<Outcome>;
  remove(zone: string, rule: string): Promise<Outcome>;
  rules(zone: string): Promise<string[]>;
  zones(): Promise<string[]>;
  defaultZone(): Promise<string>;
  /** "" when the interface is in no zone (then the default zone takes its packets). */
  zoneOfInterface(iface: string): Promise<string>;
  activeSources(): Promise<ZoneSource[]>;
}

/** firewalld's error codes that mean "nothing to do" (firewall/errors.py). */
const ALREADY = /ALREADY_ENABLED/;
const ABSENT = /NOT_ENABLED/;

function busOps(bus: FirewalldBus): RichOps {
  const fail = (member: string, args: readonly string[], r: Answer): never => {
    throw new CommandError(["D-Bus", `zone.${member}`, ...args], 13, `${r.error}: ${r.text}`);
  };
  const zoneCall = async (member: string, args: readonly string[], extra: number | null = null) => {
    const r = await bus.firewalld(".zone", member, extra === null ? args : [...args, int32(extra)]);
    return { r, bad: (): never => fail(member, args, r) };
  };
  const strings = (v: Value | undefined): string[] =>
    Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
  return {
    async add(zone, rule, timeoutSecs) {
      const { r, bad } = await zoneCall("addRichRule", [zone, rule], timeoutSecs);
      if (r.error === null) return "ok";
      return ALREADY.test(r.text) ? "already" : bad();
    },
    async remove(zone, rule) {
      const { r, bad } = await zoneCall("removeRichRule", [zone, rule]);
      if (r.error === null) return "ok";
      return ABSENT.test(r.text) ? "absent" : bad();
    },
    async rules(zone) {
      const { r, bad } = await zoneCall("getRichRules", [zone]);
      return r.error === null ? strings(r.values[0]) : bad();
    },
    async zones() {
      const { r, bad } = await zoneCall("getZones", []);
      return r.error === null ? strings(r.values[0]) : bad();
    },
    async defaultZone() {
      const r = await bus.firewalld("", "getDefaultZone", []);
      return r.error === null ? r.text : fail("getDefaultZone", [], r);
    },
    async zoneOfInterface(iface) {
      const { r, bad } = await zoneCall("getZoneOfInterface", [iface]);
      return r.error === null ? r.text : bad();
    },
    async activeSources() {
      const { r, bad } = await zoneCall("getActiveZones", []);
      return r.error === null ? activeZoneSources(r.values[0]) : bad();
    },
  };
}

function cmdOps(exe: readonly string[], exec: Exec): RichOps {
  const run = async (args: readonly string[]) => {
    const argv = [...exe, ...args];
    const r = await exec(argv[0] ?? "", argv.slice(1));
    // firewall-cmd reports ALREADY_ENABLED / NOT_ENABLED as a warning with exit 0 (command.py).
    const said = r.stdout + r.stderr;
    return {
      r,
      said,
      bad: (): never => {
        throw new CommandError(argv, r.code, said);
      },
    };
  };
  const words = (s: string): string[] => s.split(/\s+/).filter((w) => w !== "");
  return {
    async add(zone, rule, timeoutSecs) {
      const { r, said, bad } = await run([
        `--zone=${zone}`,
        `--add-rich-rule=${rule}`,
        `--timeout=${timeoutSecs}s`,
      ]);
      if (ALREADY.test(said)) return "already";
      return r.code === 0 ? "ok" : bad();
    },
    async remove(zone, rule) {
      const { r, said, bad } = await run([`--zone=${zone}`, `--remove-rich-rule=${rule}`]);
      if (ABSENT.test(said)) return "absent";
      return r.code === 0 ? "ok" : bad();
    },
    async rules(zone) {
      const { r, bad } = await run([`--zone=${zone}`, "--list-rich-rules"]);
      return r.code === 0 ? r.stdout.split("\n").filter((l) => l.trim() !== "") : bad();
    },
    async zones() {
      const { r, bad } = await run(["--get-zones"]);
      return r.code === 0 ? words(r.stdout) : bad();
    },
    async defaultZone() {
      const { r, bad } = await run(["--get-default-zone"]);
      return r.code === 0 ? r.stdout.trim() : bad();
    },
    async zoneOfInterface(iface) {
      // "no zone" is exit 2 (INVALID_ZONE... printed as "no zone"): the default zone takes it.
      const { r } = await run([`--get-zone-of-interface=${iface}`]);
      return r.code === 0 ? r.stdout.trim() : "";
    },
    async activeSources() {
      const { r, bad } = await run(["--get-active-zones"]);
      return r.code === 0 ? parseActiveZones(r.stdout) : bad();
    },
  };
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
        this.noBus = (e as Error).message;
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
