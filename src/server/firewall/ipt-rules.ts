/**
 * The iptables backend's rules as C fwknopd writes them (server/fw_util_iptables.c,
 * fw_util_iptables.h IPT_*_RULE_ARGS), so either daemon can list and expire the other's: the
 * arguments of a grant's rules, the iptables-restore text of a batch, and the reading of
 * `iptables -S` lines back into grants. Pure: iptables.ts runs them.
 */
import { splitArgs } from "../../argv/split-args.js";
import type { ChainSpec as ConfChainSpec } from "../../config/chain-spec.js";
import type { Grant, GrantNat } from "./types.js";
import { InternalError } from "../../errors.js";

/** IPT_INPUT_ACCESS and friends ("target, table, from_chain, jump_pos, to_chain, rule_pos"). */
export type ChainSpec = Pick<
  ConfChainSpec,
  "target" | "table" | "fromChain" | "jumpPos" | "toChain"
>;

/**
 * The chains a backend manages: INPUT access, and the NAT chains
 * (server/fw_util_iptables.c:fw_config_init): FORWARD and DNAT when forwarding or local NAT is
 * on; SNAT and MASQUERADE when source NAT can be asked for. Null: no NAT.
 */
export interface IptChains {
  input: ChainSpec;
  /**
   * ENABLE_IPT_OUTPUT / ENABLE_FIREWD_OUTPUT: IPT_OUTPUT_ACCESS, where each plain grant gets the
   * OUTPUT accept of its replies; null or absent when off.
   */
  output?: ChainSpec | null;
  nat: {
    forward: ChainSpec;
    dnat: ChainSpec;
    snat: ChainSpec | null;
    masquerade: ChainSpec | null;
  } | null;
}

const PROTO_NUM = { tcp: 6, udp: 17 } as const;

/** One rule: the chain it goes in and its arguments after `-A <chain>`. */
export interface IptRule {
  chain: ChainSpec;
  args: string[];
}

/** Every chain we manage: INPUT access first, OUTPUT when on, then the NAT ones configured. */
export function managedChains(chains: IptChains): ChainSpec[] {
  const n = chains.nat;
  const out = [chains.input];
  if (chains.output !== undefined && chains.output !== null) out.push(chains.output);
  if (n !== null) {
    out.push(n.forward, n.dnat);
    if (n.snat !== null) out.push(n.snat);
    if (n.masquerade !== null) out.push(n.masquerade);
  }
  return out;
}

/** The argument pieces one grant's rules share (fw_util_iptables.h IPT_*_RULE_ARGS). */
interface RuleArgs {
  g: Grant;
  /** -m comment --comment _exp_<epoch>: how either daemon finds the rule's expiry. */
  exp: string[];
  proto: string[];
  dst: string;
  /** IPT_RULE_ARGS' match, shared by INPUT accepts and the DNAT rule. */
  match: (port: number) => string[];
}

function ruleArgs(g: Grant): RuleArgs {
  const dst = g.destination ?? (g.family === 4 ? "0.0.0.0/0" : "::/0");
  const exp = ["-m", "comment", "--comment", `_exp_${g.expiresAt}`];
  const proto = ["-p", String(PROTO_NUM[g.proto])];
  const match = (port: number): string[] => [
    ...proto,
    ...["-s", g.address, "-d", dst, "--dport", String(port)],
    ...exp,
  ];
  return { g, exp, proto, dst, match };
}

/** fw_util_iptables.c:snat_rule: SNAT to a fixed address, or MASQUERADE, toward the NAT target. */
function sourceNatRule(a: RuleArgs, nat: GrantNat, chains: NonNullable<IptChains["nat"]>): IptRule {
  const masq = nat.snat === "masquerade";
  const c = masq ? chains.masquerade : chains.snat;
  if (c === null) throw new InternalError("source NAT asked for but its chain is not configured");
  const target =
    typeof nat.snat === "object" && nat.snat !== null ? ["--to-source", nat.snat.to] : [];
  const to = String(nat.toPort);
  return {
    chain: c,
    args: nat.forwardAll
      ? ["-s", a.g.address, ...a.exp, "-j", c.target, ...target]
      : [
          ...[...a.proto, "-d", nat.toAddress, "--dport", to, ...a.exp, "-j", c.target],
          ...(masq ? ["--to-ports", String(a.g.port)] : target),
        ],
  };
}

/** fw_util_iptables.c:process_spa_request for NAT: the accept, the DNAT, the source NAT. */
function natRules(a: RuleArgs, nat: GrantNat, chains: IptChains): IptRule[] {
  const natChains = chains.nat;
  if (natChains === null) throw new InternalError("NAT grant but no NAT chains are configured");
  const { g, exp, proto } = a;
  const to = String(nat.toPort);
  const f = natChains.forward;
  const d = natChains.dnat;
  const rules: IptRule[] = [
    nat.kind === "local"
      ? { chain: chains.input, args: [...a.match(nat.toPort), "-j", chains.input.target] }
      : {
          chain: f,
          args: nat.forwardAll
            ? ["-s", g.address, ...exp, "-j", f.target]
            : [...proto, "-s", g.address, "--dport", to, ...exp, "-j", f.target],
        },
  ];
  if (nat.dnat)
    rules.push({
      chain: d,
      args: nat.forwardAll
        ? ["-s", g.address, "-d", a.dst, ...exp, "-j", d.target, "--to-destination", nat.toAddress]
        : [...a.match(g.port), "-j", d.target, "--to-destination", `${nat.toAddress}:${to}`],
    });
  if (nat.snat !== null) rules.push(sourceNatRule(a, nat, natChains));
  return rules;
}

/**
 * The rules of one grant, with C's argument strings (fw_util_iptables.h IPT_*_RULE_ARGS) so
 * either daemon can list and expire the other's: an INPUT accept for plain access; for NAT
 * (process_spa_request, forward_access_rule, dnat_rule, snat_rule) an INPUT accept of the
 * translated port (local NAT) or a FORWARD accept, the DNAT, and the SNAT/MASQUERADE.
 */
export function grantRules(g: Grant, chains: IptChains): IptRule[] {
  if (g.leftover !== undefined) {
    const chain = managedChains(chains).find(
      (c) => c.table === g.leftover?.table && c.toChain === g.leftover.chain,
    );
    return chain === undefined ? [] : [{ chain, args: [...g.leftover.args] }];
  }
  const a = ruleArgs(g);
  if (g.nat !== undefined) return natRules(a, g.nat, chains);
  const rules = [{ chain: chains.input, args: [...a.match(g.port), "-j", chains.input.target] }];
  const out = chains.output;
  // fw_util_iptables.c:process_spa_request, IPT_OUT_RULE_ARGS: plain access only; the client is
  // the destination, the packet's destination (or any) the source, the granted port the source port.
  if (out !== undefined && out !== null)
    rules.push({
      chain: out,
      args: [
        ...[...a.proto, "-d", g.address, "-s", a.dst, "--sport", String(g.port), ...a.exp],
        ...["-j", out.target],
      ],
    });
  return rules;
}

/**
 * iptables-restore --noflush input for many rules: a section per table, `op` (-A, -I or -D) on
 * each rule; everything else in the tables is kept.
 */
export function restoreText(rules: readonly IptRule[], op: string): string {
  const tables = [...new Set(rules.map((r) => r.chain.table))];
  return tables
    .flatMap((t) => [
      `*${t}`,
      ...rules
        .filter((r) => r.chain.table === t)
        .map((r) => [op, r.chain.toChain, ...r.args].join(" ")),
      "COMMIT",
    ])
    .concat("")
    .join("\n");
}

const hostOf = (a: string): string => a.replace(/\/(32|128)$/, "");

/**
 * One `iptables -S` line of our chain back into a grant (ours or C fwknopd's, same format). An
 * INPUT rule's client is `-s` and its port `--dport`; an OUTPUT rule's (`output`) are `-d` and
 * `--sport`. The other address, when the rule names one (ENABLE_DESTINATION_RULE), is the grant's
 * destination, so revoking it rebuilds the very same rule.
 */
export function parseRuleLine(line: string, family: 4 | 6, output = false): Grant | null {
  const exp = /--comment "?_exp_(\d+)"?/.exec(line);
  const src = /(?:^| )-s (\S+)/.exec(line);
  const dst = /(?:^| )-d (\S+)/.exec(line);
  const proto = /-p (tcp|udp|6|17)\b/.exec(line);
  const port = (output ? /--sport (\d+)/ : /--dport (\d+)/).exec(line);
  const client = output ? dst : src;
  const other = output ? src : dst;
  if (exp === null || client === null || proto === null || port === null) return null;
  const p = proto[1] === "udp" || proto[1] === "17" ? "udp" : "tcp";
  // `-S` leaves out a 0.0.0.0/0 or ::/0; older iptables may print it.
  const to = other === null ? null : hostOf(other[1] ?? "");
  return {
    stanza: 0,
    user: "",
    address: hostOf(client[1] ?? ""),
    family,
    proto: p,
    port: Number(port[1]),
    expiresAt: Number(exp[1]),
    destination: to === "0.0.0.0/0" || to === "::/0" ? null : to,
  };
}

/** A NAT-chain line of `iptables -S` (with an `_exp_` comment) as a leftover to expire. */
export function parseLeftover(line: string, chain: ChainSpec, family: 4 | 6): Grant | null {
  const exp = /--comment "?_exp_(\d+)"?/.exec(line);
  const words = splitArgs(line);
  if (exp === null || words === null || words[0] !== "-A" || words[1] !== chain.toChain)
    return null;
  const src = /-s (\S+)/.exec(line);
  return {
    stanza: 0,
    user: "",
    address: (src?.[1] ?? "").replace(/\/32$/, ""),
    family,
    proto: "tcp",
    port: 0,
    expiresAt: Number(exp[1]),
    destination: null,
    leftover: { table: chain.table, chain: chain.toChain, args: words.slice(2) },
  };
}
