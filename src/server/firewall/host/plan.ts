/**
 * Which backend, and will its grants open anything on this host (issue 11; design.md "Choosing a
 * backend"). Pure: the host as probe.ts read it and the configuration's firewall facts in, a plan
 * out. For FIREWALL_TYPE auto:
 *   firewalld running -> firewalld (whatever FIREWALL_EXE says);
 *   FIREWALL_EXE firewall-cmd (or FIREWD_* lines and no FIREWALL_EXE) -> PlanError, no firewalld;
 *   FIREWALL_EXE naming nft -> nftables;
 *   iptables rules or a non-accept INPUT policy (iptables-nft or legacy), or IPT_* chain lines in
 *     fwknopd.conf, or FIREWALL_EXE naming iptables -> iptables, with the binary of the variant
 *     that holds the rules;
 *   otherwise nftables, with our accept put at the top of the one host chain that would drop a
 *     granted packet (what NFT_JUMP_CHAIN does when told).
 * Whatever is chosen, every other input base chain is judged for a granted packet: a chain that
 * certainly drops it is a blocker (fwknopd refuses to start without --force-firewall), one that
 * may drop it is a warning.
 */
import { FwknopTsError } from "../../../errors.js";
import { evaluateInput, type ChainOutcome, type Packet } from "./evaluate.js";
import { chainName, type Chain, type Ruleset } from "./ruleset.js";

export type FirewallType = "nftables" | "iptables" | "firewalld";

export interface FirewalldState {
  running: boolean;
  /** firewalld.conf's FirewallBackend, when known. */
  backend: "nftables" | "iptables" | null;
  defaultZone: string | null;
}

/** What probe.ts found. */
export interface HostFirewall {
  ruleset: Ruleset;
  /** Sources that could not be read, and why ("nft: not installed"). */
  unread: string[];
  firewalld: FirewalldState;
}

/** The configuration's say in the matter (load-config.ts fills it from fwknopd.conf). */
export interface PlanConfig {
  type: "auto" | FirewallType;
  /**
   * FIREWALL_EXE with its file:line, when set, and for an iptables program which variant it is
   * (Debian's /usr/sbin/iptables is an alternatives link to the nft or the legacy one).
   */
  exe: { value: string; where: string; legacy?: boolean } | null;
  /** IPT_* chain and flush variables that are set (they only mean something to iptables). */
  iptVars: string[];
  /** FIREWD_* variables that are set. */
  firewdVars: string[];
  /** IPT_INPUT_ACCESS's table and from_chain (where the iptables backend puts its jump). */
  iptInput: { table: string; fromChain: string };
  /** "family name" of our nftables table. */
  nftTable: string;
  nftJumpChain: string | null;
  nftProtectPorts: boolean;
  /** Every stanza's OPEN_PORTS (the ports fwknopd protects). */
  openPorts: ReadonlyArray<{ proto: "tcp" | "udp"; port: number }>;
  ipv6: boolean;
  /**
   * ENABLE_IPT_OUTPUT / ENABLE_FIREWD_OUTPUT and NFT_OUTPUT_JUMP_CHAIN, for --fw-check's word on
   * hosts whose output drops (report.ts). Absent: both off.
   */
  output?: { ipt: boolean; firewd: boolean; nftJumpChain: string | null };
  /** Programs that exist here (for picking iptables-nft vs iptables). */
  exists: (path: string) => boolean;
}

export interface FirewallPlan {
  type: FirewallType;
  /** The program for the iptables backend (iptables, iptables-nft or iptables-legacy). */
  exe: string | null;
  /** nftables: "family table chain" our accept goes into (told or found), or null for our table. */
  jumpChain: string | null;
  /** Why this backend: "auto: INPUT policy drop in table ip filter, IPT_INPUT_ACCESS set". */
  reason: string;
  /** Chains that would certainly drop a granted packet: the grant would open nothing. */
  blockers: string[];
  /** Things an admin should know: chains that may drop a grant, sources not read. */
  warnings: string[];
  /** Protected ports that anyone can reach without a grant. */
  openToAll: string[];
  /** What closes them: NFT_PROTECT_PORTS for nftables, the admin's own firewall otherwise. */
  openToAllFix: string;
}

const OWN_RULE_COMMENT = "fwknopd-grants";

const XT = (c: Chain): boolean => c.origin !== "nftables";

/** iptables' input chains (either variant) that say something: rules, or a policy that drops. */
function iptablesInput(rs: Ruleset): Chain[] {
  return rs.chains.filter(
    (c) =>
      XT(c) &&
      c.base?.hook === "input" &&
      c.table === "filter" &&
      (c.base.policy === "drop" || c.rules.length > 0),
  );
}

function describeXt(c: Chain): string {
  const what =
    c.base?.policy === "drop" ? `${c.name} policy DROP` : `${c.rules.length} rule(s) in ${c.name}`;
  return `${what} in table ${c.family} ${c.table}${c.origin === "iptables-legacy" ? " (legacy)" : ""}`;
}

/** The packets a grant lets in: each protected port (tcp/22 when no stanza names any), v4 and v6. */
function grantPackets(cfg: PlanConfig): Packet[] {
  const ports = cfg.openPorts.length > 0 ? cfg.openPorts : [{ proto: "tcp" as const, port: 22 }];
  const fams: Array<4 | 6> = cfg.ipv6 ? [4, 6] : [4];
  return fams.flatMap((family) => ports.map((p) => ({ family, proto: p.proto, dport: p.port })));
}

const pktText = (p: Packet): string => `${p.proto}/${p.dport} (IPv${p.family})`;

/** Where the chosen backend's accept lives: those chains' verdicts do not count against it. */
function holder(
  type: FirewallType,
  variant: Variant,
  cfg: PlanConfig,
  fw: FirewalldState,
  jumpChain: string | null,
): (c: Chain) => boolean {
  const own = cfg.nftTable;
  if (type === "nftables")
    return (c) => `${c.family} ${c.table}` === own || chainName(c) === jumpChain;
  if (type === "iptables")
    return (c) =>
      c.origin === variant && c.table === cfg.iptInput.table && c.name === cfg.iptInput.fromChain;
  if (fw.backend === "nftables") return (c) => c.family === "inet" && c.table === "firewalld";
  return (c) => c.origin === "iptables-nft" && c.table === "filter" && c.name === "INPUT";
}

const skipOwnRules = (_c: Chain, r: { comment: string | null }): boolean =>
  r.comment === OWN_RULE_COMMENT;

/** The chains (other than the holder) that drop, or may drop, one of the granted packets. */
function judge(
  rs: Ruleset,
  packets: readonly Packet[],
  exclude: (c: Chain) => boolean,
): { blockers: string[]; warnings: string[]; blocking: Chain[] } {
  const blockers = new Map<string, string>();
  const warnings = new Map<string, string>();
  const blocking = new Map<string, Chain>();
  for (const p of packets)
    for (const o of evaluateInput(rs, p, exclude, skipOwnRules)) {
      const name = chainName(o.chain);
      if (o.verdict === "drop") {
        blocking.set(name, o.chain);
        blockers.set(
          name,
          `${name} would drop a granted ${pktText(p)}: ${o.why}${mayAcceptNote(o)}`,
        );
      } else if (o.mayDrop !== null)
        warnings.set(name, `${name} may drop a granted ${pktText(p)}: ${o.mayDrop}`);
    }
  return {
    blockers: [...blockers.values()],
    warnings: [...warnings.values()],
    blocking: [...blocking.values()],
  };
}

const mayAcceptNote = (o: ChainOutcome): string =>
  o.mayAccept ? " (unless a rule fwknopd cannot read, such as an xt match, accepts it)" : "";

/** Protected ports that reach the service without a grant: every input chain lets them through. */
function openToAll(rs: Ruleset, cfg: PlanConfig, type: FirewallType): string[] {
  if (cfg.openPorts.length === 0) return [];
  if (type === "nftables" && cfg.nftProtectPorts && cfg.nftJumpChain === null) return [];
  const own = (c: Chain): boolean => `${c.family} ${c.table}` === cfg.nftTable;
  const out: string[] = [];
  for (const p of grantPackets(cfg)) {
    const outcomes = evaluateInput(rs, p, own, skipOwnRules);
    if (outcomes.every((o) => o.verdict === "accept" && o.mayDrop === null)) out.push(pktText(p));
  }
  return out;
}

/** The iptables program for the variant that holds the host's rules. */
function iptablesExe(cfg: PlanConfig, variant: Variant): string {
  if (cfg.exe !== null && /iptables/.test(cfg.exe.value)) return cfg.exe.value;
  if (variant === "iptables-legacy") return "/usr/sbin/iptables-legacy";
  return cfg.exists("/usr/sbin/iptables-nft") ? "/usr/sbin/iptables-nft" : "/usr/sbin/iptables";
}

export class PlanError extends FwknopTsError {
  readonly code = "E_FIREWALL_PLAN";
  /** The host does not run the firewall the configuration asks for, or cannot be planned. */
  readonly blame = "environment";
  constructor(
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${problem}. ${fix}`);
    this.name = "PlanError";
  }
}

type Variant = "iptables-nft" | "iptables-legacy";

/** Which iptables: FIREWALL_EXE's own variant, else the one that holds the host's rules. */
function variantOf(cfg: PlanConfig, xt: readonly Chain[]): Variant {
  if (cfg.exe !== null && /iptables/.test(cfg.exe.value))
    return cfg.exe.legacy === true || /legacy/.test(cfg.exe.value)
      ? "iptables-legacy"
      : "iptables-nft";
  const legacyOnly = xt.length > 0 && xt.every((c) => c.origin === "iptables-legacy");
  return legacyOnly ? "iptables-legacy" : "iptables-nft";
}

/** FIREWALL_TYPE, or auto's choice (see the header) and why; throws when firewalld is missing. */
function chooseType(
  cfg: PlanConfig,
  fw: FirewalldState,
  xt: readonly Chain[],
): { type: FirewallType; reason: string } {
  const exe = cfg.exe;
  const exeNames = (re: RegExp): boolean => exe !== null && re.test(exe.value);
  if (cfg.type !== "auto") return { type: cfg.type, reason: "FIREWALL_TYPE" };
  if (fw.running)
    return {
      type: "firewalld",
      reason: `auto: firewalld is running (backend ${fw.backend ?? "unknown"}, default zone ${fw.defaultZone ?? "unknown"})`,
    };
  if (exeNames(/firewall-cmd/) || (exe === null && cfg.firewdVars.length > 0)) {
    const what =
      exe !== null
        ? `${exe.where}: FIREWALL_EXE ${exe.value}`
        : `${cfg.firewdVars.join(", ")} (with no FIREWALL_EXE)`;
    throw new PlanError(
      `${what} asks for firewalld, but firewalld is not running`,
      "Start firewalld, or remove FIREWALL_EXE and the FIREWD_* lines to let fwknopd use nftables or iptables (or set FIREWALL_TYPE)",
    );
  }
  if (exe !== null && exeNames(/(^|\/)nft[^/]*$/))
    return { type: "nftables", reason: `auto: FIREWALL_EXE ${exe.value}` };
  if (xt.length > 0 || cfg.iptVars.length > 0 || exeNames(/iptables/)) {
    const why = [
      ...xt.map(describeXt),
      ...cfg.iptVars.map((v) => `${v} set`),
      ...(exe !== null && exeNames(/iptables/) ? [`FIREWALL_EXE ${exe.value}`] : []),
    ];
    return { type: "iptables", reason: `auto: ${why.join(", ")}` };
  }
  return { type: "nftables", reason: "auto: no firewalld, no iptables rules" };
}

/** auto on nftables: the one native chain that would drop a grant, which our accept must lead. */
function findJumpChain(host: HostFirewall, cfg: PlanConfig): Chain | null {
  const own = holder("nftables", "iptables-nft", cfg, host.firewalld, null);
  const { blocking } = judge(host.ruleset, grantPackets(cfg), own);
  const native = blocking.filter((c) => !XT(c));
  if (native.length > 1)
    throw new PlanError(
      `several nftables chains would drop a granted packet: ${native.map(chainName).join("; ")}`,
      "fwknopd can put its accept into one of them: name it with NFT_JUMP_CHAIN and accept granted packets in the others yourself",
    );
  return native[0] ?? null;
}

/**
 * The plan, or a PlanError when fwknopd must not start: a configured firewall that is not there
 * (FIREWALL_EXE firewall-cmd with no firewalld), or, for auto, several host chains to hook into.
 * Blockers of an explicit choice are returned, not thrown: the caller decides with --force-firewall.
 */
export function planFirewall(host: HostFirewall, cfg: PlanConfig): FirewallPlan {
  const fw = host.firewalld;
  const xt = iptablesInput(host.ruleset);
  const variant = variantOf(cfg, xt);
  const chosen = chooseType(cfg, fw, xt);
  const { type } = chosen;
  let { reason } = chosen;
  let jumpChain = cfg.nftJumpChain;
  if (cfg.type === "auto" && type === "nftables" && jumpChain === null) {
    const found = findJumpChain(host, cfg);
    if (found !== null) {
      jumpChain = chainName(found);
      reason += `; ${jumpChain} drops what is not allowed, our accept goes at its top`;
    }
  }
  const nftJump = type === "nftables" ? jumpChain : null;
  const { blockers, warnings } = judge(
    host.ruleset,
    grantPackets(cfg),
    holder(type, variant, cfg, fw, nftJump),
  );
  if (type === "firewalld" && !fw.running)
    warnings.push("firewalld does not answer on the system bus");
  return {
    type,
    exe: type === "iptables" ? iptablesExe(cfg, variant) : null,
    jumpChain: nftJump,
    reason,
    blockers,
    warnings: [...host.unread.map((u) => `not read: ${u}`), ...warnings],
    openToAll: openToAll(host.ruleset, cfg, type),
    openToAllFix:
      type === "nftables"
        ? "set NFT_PROTECT_PORTS Y, or drop them in your own firewall"
        : "drop new connections to them in your firewall; fwknopd's grants are accepted before that",
  };
}

/** What to change so a blocked grant opens, for the refusal message. */
export function blockerFix(plan: FirewallPlan): string {
  const type = plan.type;
  const auto = "remove FIREWALL_TYPE to let fwknopd choose";
  if (type === "nftables")
    return `Set NFT_JUMP_CHAIN to that chain (if it is an nftables chain), use FIREWALL_TYPE iptables for iptables hosts, or ${auto}; --force-firewall starts anyway`;
  if (type === "iptables")
    return `Accept granted packets in that chain too, or ${auto} (${plan.reason}); --force-firewall starts anyway`;
  return `Accept granted packets in that chain too, or ${auto}; --force-firewall starts anyway`;
}
