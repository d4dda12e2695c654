/**
 * The firewalld calls the rich-rule backend makes (firewalld-rich.ts), one interface with two
 * ways through: D-Bus (firewalld-dbus.ts, zone.addRichRule and friends, firewall/server/
 * firewalld.py) or `firewall-cmd` (FIREWALL_EXE), argv only. Both read firewalld's "nothing to do"
 * answers (ALREADY_ENABLED, NOT_ENABLED) the same way.
 */
import { CommandError, type Exec } from "../../exec.js";
import type { Value } from "./dbus-decode.js";
import { int32 } from "./dbus-encode.js";
import type { Answer, FirewalldBus } from "./firewalld-dbus.js";
import { activeZoneSources, parseActiveZones, type ZoneSource } from "./firewalld-zones.js";

/** What firewalld's add/remove answered, when it was not plain success. */
export type Outcome = "ok" | "already" | "absent";

/** The calls this backend makes, over D-Bus or through firewall-cmd. */
export interface RichOps {
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

export function busOps(bus: FirewalldBus): RichOps {
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

export function cmdOps(exe: readonly string[], exec: Exec): RichOps {
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
