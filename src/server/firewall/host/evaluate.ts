/**
 * What the host's own base chains do with one kind of packet: a new TCP or UDP connection from a
 * remote address to a port. Every base chain on the input hook sees the packet, in priority order;
 * an accept ends only the chain (and table) it is in, a drop anywhere is final (nft(8), "BASE
 * CHAIN"; design.md trap). So a grant opens a port only if no chain but the one holding our
 * accept can drop it.
 *
 * Three-valued: a match we understand is true or false for the packet; anything else (addresses,
 * sets, xt matches, limits) may go either way. The certain path assumes every uncertain rule does
 * not apply; the uncertain rules are remembered as "may drop" / "may accept".
 */
import { chainName, type Chain, type Match, type Rule, type Ruleset } from "./ruleset.js";

export interface Packet {
  family: 4 | 6;
  proto: "tcp" | "udp";
  dport: number;
}

export interface ChainOutcome {
  chain: Chain;
  /** On the certain path. */
  verdict: "accept" | "drop";
  /** Why: the rule or policy that decided the certain path. */
  why: string;
  /** A rule that may drop the packet although the certain path does not (or null). */
  mayDrop: string | null;
  /** Some uncertain rule may accept it before the certain path's drop. */
  mayAccept: boolean;
}

type Tri = "yes" | "no" | "maybe";
const MAX_DEPTH = 16;

function inRanges(port: number, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  return ranges.some(([a, b]) => port >= a && port <= b);
}

function matchOne(m: Match, p: Packet): Tri {
  const not = (b: boolean, negate: boolean): Tri => (b !== negate ? "yes" : "no");
  switch (m.kind) {
    case "ctstate":
      // The first packet of a connection: state new (granted or not).
      return not(m.states.includes("new"), m.negate);
    case "l4proto":
      return not(m.protos.includes(p.proto), m.negate);
    case "dport":
      if (m.proto !== "th" && m.proto !== p.proto) return m.negate ? "maybe" : "no";
      return not(inRanges(p.dport, m.ports), m.negate);
    case "iif":
      // The packet comes from the network, never from loopback; other names are unknown.
      if (m.names.length > 0 && m.names.every((n) => n === "lo")) return m.negate ? "yes" : "no";
      return "maybe";
    case "nfproto":
      return m.family === p.family ? "yes" : "no";
    case "unknown":
      return "maybe";
  }
}

function matchRule(r: Rule, p: Packet): Tri {
  let out: Tri = "yes";
  for (const m of r.matches) {
    const t = matchOne(m, p);
    if (t === "no") return "no";
    if (t === "maybe") out = "maybe";
  }
  return out;
}

interface Walk {
  /** "fallthrough": reached the end of the chain, or a return. */
  end: "accept" | "drop" | "fallthrough";
  why: string;
  mayDrop: string | null;
  mayAccept: boolean;
}

function walk(
  rs: Ruleset,
  chain: Chain,
  p: Packet,
  skip: (c: Chain, r: Rule) => boolean,
  depth: number,
): Walk {
  let mayDrop: string | null = null;
  let mayAccept = false;
  const at = (r: Rule): string => `rule "${r.text}" (handle ${r.handle}) in ${chainName(chain)}`;
  const done = (end: Walk["end"], why: string): Walk => ({ end, why, mayDrop, mayAccept });
  for (const r of chain.rules) {
    if (r.verdict === null || skip(chain, r)) continue;
    const m = matchRule(r, p);
    if (m === "no") continue;
    const v = r.verdict;
    if (v.kind === "accept" || v.kind === "drop") {
      if (m === "yes") return done(v.kind, at(r));
      if (v.kind === "drop") mayDrop ??= at(r);
      else mayAccept = true;
      continue;
    }
    if (v.kind === "return") {
      if (m === "yes") return done("fallthrough", at(r));
      continue;
    }
    if (v.kind === "unknown") {
      mayDrop ??= `${at(r)}: ${v.what}`;
      mayAccept = true;
      continue;
    }
    const name = v.chain;
    const target = rs.chains.find(
      (c) => c.family === chain.family && c.table === chain.table && c.name === name,
    );
    if (target === undefined || depth >= MAX_DEPTH) {
      mayDrop ??= `${at(r)}: ${target === undefined ? "unknown chain" : "too deep"}`;
      continue;
    }
    const sub = walk(rs, target, p, skip, depth + 1);
    mayDrop ??= sub.mayDrop;
    mayAccept ||= sub.mayAccept;
    if (m === "maybe") {
      if (sub.end === "drop") mayDrop ??= sub.why;
      if (sub.end === "accept") mayAccept = true;
      continue;
    }
    if (sub.end !== "fallthrough") return done(sub.end, sub.why);
    // goto does not come back: the end of the target is the end of this chain.
    if (v.kind === "goto") return done("fallthrough", sub.why);
  }
  return done("fallthrough", `end of ${chainName(chain)}`);
}

/** The filter-type base chains on `hook` that see packets of this family, lowest priority first. */
function baseChains(rs: Ruleset, hook: string, family: 4 | 6): Chain[] {
  const fams = family === 4 ? ["ip", "inet"] : ["ip6", "inet"];
  return rs.chains
    .filter((c) => c.base !== null && c.base.hook === hook && c.base.type === "filter")
    .filter((c) => fams.includes(c.family))
    .sort((a, b) => (a.base?.prio ?? 0) - (b.base?.prio ?? 0));
}

/** What one base chain does with the packet (its policy at the end). */
function evaluateChain(
  rs: Ruleset,
  chain: Chain,
  p: Packet,
  skip: (c: Chain, r: Rule) => boolean = () => false,
): ChainOutcome {
  const w = walk(rs, chain, p, skip, 0);
  if (w.end !== "fallthrough")
    return { chain, verdict: w.end, why: w.why, mayDrop: w.mayDrop, mayAccept: w.mayAccept };
  const policy = chain.base?.policy ?? "accept";
  return {
    chain,
    verdict: policy,
    why: `policy ${policy} of ${chainName(chain)}`,
    mayDrop: w.mayDrop,
    mayAccept: w.mayAccept,
  };
}

/** Every input base chain's outcome for the packet, except the chains `exclude` names. */
export function evaluateInput(
  rs: Ruleset,
  p: Packet,
  exclude: (c: Chain) => boolean,
  skip?: (c: Chain, r: Rule) => boolean,
): ChainOutcome[] {
  return baseChains(rs, "input", p.family)
    .filter((c) => !exclude(c))
    .map((c) => evaluateChain(rs, c, p, skip));
}
