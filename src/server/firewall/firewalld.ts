/**
 * The firewalld backend: asks firewalld which backend it runs, then delegates. With
 * FirewallBackend=iptables, C fwknopd's direct passthrough (iptables.ts, kind "firewalld") works:
 * firewalld's own chains live in the same iptables table and our jump comes first. With
 * FirewallBackend=nftables (firewalld's default) a passthrough ACCEPT is not final, so grants are
 * firewalld's own rich rules with a timeout (firewalld-rich.ts). See test/e2e/firewalld.ts for
 * what was measured on a real firewalld.
 */
import { ConfigError, messageOf } from "../../errors.js";
import type { Exec } from "../../exec.js";
import { FirewalldBus, FIREWALLD, FIREWALLD_PATH } from "./firewalld-dbus.js";
import { RichWithOutput } from "./firewalld-output.js";
import { RichRuleBackend } from "./firewalld-rich.js";
import type { FirewallBackend, Grant } from "./types.js";

export type FirewalldKind = "nftables" | "iptables";

export interface FirewalldProbe {
  /** firewalld owns its bus name and says it is RUNNING. */
  running: boolean;
  /** Its FirewallBackend setting; null when it could not be read. */
  backend: FirewalldKind | null;
  defaultZone: string | null;
  version?: string;
  /** Why running is false or something could not be read (for the operator). */
  reason?: string;
}

const asKind = (s: string): FirewalldKind | null =>
  s === "nftables" || s === "iptables" ? s : null;

/**
 * What firewalld says about itself over `bus`: reads only (properties and getDefaultZone), changes
 * nothing, so a host check (`fwknopd --fw-check`) may call it. The bus is left open for the caller.
 * FirewallBackend is read from firewalld's config object (firewall/server/config.py:Get); firewalld
 * reads that setting at start, so it is the backend it runs unless firewalld.conf was edited since.
 */
export async function probeFirewalld(bus: FirewalldBus): Promise<FirewalldProbe> {
  const down = (reason: string): FirewalldProbe => ({
    running: false,
    backend: null,
    defaultZone: null,
    reason,
  });
  try {
    await bus.open();
  } catch (e) {
    return down(messageOf(e));
  }
  const state = await bus.property(FIREWALLD_PATH, FIREWALLD, "state");
  // org.freedesktop.DBus.Error.ServiceUnknown: nobody owns the name, firewalld is not running.
  if (state.error !== null) return down(`${state.error}: ${state.text}`);
  const version = await bus.property(FIREWALLD_PATH, FIREWALLD, "version");
  const backend = await bus.property(
    `${FIREWALLD_PATH}/config`,
    `${FIREWALLD}.config`,
    "FirewallBackend",
  );
  const zone = await bus.firewalld("", "getDefaultZone", []);
  const probe: FirewalldProbe = {
    running: state.text === "RUNNING",
    backend: backend.error === null ? asKind(backend.text) : null,
    defaultZone: zone.error === null ? zone.text : null,
  };
  if (version.error === null) probe.version = version.text;
  if (!probe.running) probe.reason = `firewalld state ${state.text}`;
  else if (backend.error !== null) probe.reason = `FirewallBackend: ${backend.error}`;
  return probe;
}

/** The nft program beside a wrapped firewall-cmd (the same wrapper reaches the same namespaces). */
const NFT = "/usr/sbin/nft";

/**
 * Without the bus: firewalld's nftables backend keeps its rules in `table inet firewalld`.
 * Null when nft cannot tell (not installed, not allowed).
 */
export async function backendByNft(
  exec: Exec,
  wrapper: readonly string[],
): Promise<FirewalldKind | null> {
  const argv = [...wrapper, NFT, "list", "table", "inet", "firewalld"];
  const r = await exec(argv[0] ?? "", argv.slice(1));
  if (r.code === 0) return "nftables";
  if (/No such file or directory|does not exist/i.test(r.stderr) && r.code === 1) return "iptables";
  return null;
}

export interface FirewalldOptions {
  /** argv prefix of firewall-cmd (FIREWALL_EXE). */
  exe: readonly string[];
  /** FIREWD_USE_DBUS. */
  dbus: boolean;
  /** FIREWD_ZONE (rich rules only). */
  zone: string | null;
  /** Stanzas with FORCE_NAT: rich rules cannot honour them, so the daemon must not start. */
  forceNat: ReadonlyArray<{ file: string; line: number; source: string }>;
  /** ENABLE_FIREWD_OUTPUT: the OUTPUT rules alone, by passthrough, beside rich rules. */
  output?: FirewallBackend | null;
}

const NO_NAT_REASON =
  "firewalld runs its nftables backend, where fwknopd grants with rich rules, which do not do fwknopd's NAT (ENABLE_FIREWD_FORWARDING / ENABLE_FIREWD_LOCAL_NAT)";

export class FirewalldBackend implements FirewallBackend {
  readonly name = "firewalld";
  private chosen: Promise<{ fw: FirewallBackend; note: string }> | null = null;
  private fw: FirewallBackend | null = null;
  private note = "";

  constructor(
    /** C fwknopd's direct passthrough (iptables.ts, kind "firewalld"), for FirewallBackend=iptables. */
    private readonly passthrough: FirewallBackend,
    private readonly opts: FirewalldOptions,
    private readonly exec: Exec,
    /** The system bus, or a test's. */
    private readonly makeBus: () => FirewalldBus = () => FirewalldBus.system(),
  ) {}

  get expiresItself(): boolean {
    return this.fw?.expiresItself ?? false;
  }

  get detail(): string | undefined {
    if (this.fw === null) return undefined;
    return `${this.fw.detail ?? ""} (${this.note})`;
  }

  /** Set once rich rules are chosen: NAT requests are refused (see NO_NAT_REASON). */
  get noNat(): string | undefined {
    return this.fw instanceof RichRuleBackend || this.fw instanceof RichWithOutput
      ? NO_NAT_REASON
      : undefined;
  }

  /** The delegate, chosen once: by firewalld's answer over D-Bus, else by nft's view. */
  private backend(): Promise<FirewallBackend> {
    this.chosen ??= this.choose();
    return this.chosen.then(({ fw, note }) => {
      this.fw = fw;
      this.note = note;
      return fw;
    });
  }

  private async choose(): Promise<{ fw: FirewallBackend; note: string }> {
    const p = this.opts;
    let bus: FirewalldBus | null = null;
    let noBus: string;
    let kind: FirewalldKind | null = null;
    let how: string;
    // A wrapped firewall-cmd (nsenter ... firewall-cmd) talks to another bus than ours would.
    if (!p.dbus) noBus = "FIREWD_USE_DBUS is N";
    else if (p.exe.length > 1) noBus = "firewall-cmd runs wrapped";
    else {
      bus = this.makeBus();
      const probe = await probeFirewalld(bus);
      kind = probe.backend;
      noBus = probe.reason ?? "";
      if (!probe.running) {
        bus.close();
        bus = null;
      }
    }
    if (kind !== null) how = "firewalld backend";
    else {
      kind = await backendByNft(this.exec, p.exe.slice(0, -1));
      how = "firewalld backend, by nft,";
      if (kind === null) {
        // firewalld's default since 0.6; passthrough would silently open nothing there.
        kind = "nftables";
        how = "firewalld backend assumed";
      }
    }
    const note = `${how} ${kind}`;
    if (kind === "iptables") {
      bus?.close();
      await p.output?.close();
      return { fw: this.passthrough, note };
    }
    await this.passthrough.close();
    const rich = new RichRuleBackend(
      { exe: p.exe, dbus: p.dbus, zone: this.opts.zone },
      this.exec,
      bus,
      noBus,
    );
    const out = p.output ?? null;
    return { fw: out === null ? rich : new RichWithOutput(rich, out), note };
  }

  /** Only the daemon's start refuses FORCE_NAT: --fw-list and --fw-flush still work. */
  async init(flush: boolean): Promise<void> {
    const fw = await this.backend();
    const force = this.opts.forceNat[0];
    if (force !== undefined && this.noNat !== undefined)
      throw new ConfigError(
        force.file,
        force.line,
        `stanza for SOURCE '${force.source}': FORCE_NAT cannot be honoured: ${NO_NAT_REASON}; set FirewallBackend=iptables in firewalld.conf, or FIREWALL_TYPE nftables`,
      );
    await fw.init(flush);
  }
  async grant(grants: readonly Grant[], nowSecs: number): Promise<void> {
    await (await this.backend()).grant(grants, nowSecs);
  }
  async revoke(grants: readonly Grant[]): Promise<void> {
    await (await this.backend()).revoke(grants);
  }
  async list(nowSecs: number): Promise<Grant[]> {
    return (await this.backend()).list(nowSecs);
  }
  async listText(all: boolean): Promise<string> {
    return (await this.backend()).listText(all);
  }
  async flush(): Promise<void> {
    await (await this.backend()).flush();
  }
  async close(): Promise<void> {
    const chosen = await this.chosen?.catch(() => null);
    await chosen?.fw.close();
  }
}
