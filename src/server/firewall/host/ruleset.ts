/**
 * The host's firewall as fwknopd reads it before choosing a backend (issue 11): every table,
 * base chain and rule that nftables knows (native rules and iptables-nft's alike, from
 * `nft -j list ruleset`), plus the legacy x_tables rules (`iptables-legacy-save`), in one model
 * that evaluate.ts can walk. Pure: text in, model out.
 *
 * Matches and verdicts are kept only as far as a verdict about "a new TCP/UDP connection from a
 * remote address to port P" needs them; everything else becomes an `unknown` match, which the
 * evaluator treats as "may or may not match" (never as a guess either way).
 */

/** Where a chain's rules come from, which decides who may change them. */
export type Origin = "nftables" | "iptables-nft" | "iptables-legacy";

/** One match of a rule, reduced to what the evaluator understands. */
export type Match =
  | { kind: "ctstate"; states: readonly string[]; negate: boolean }
  | { kind: "l4proto"; protos: readonly string[]; negate: boolean }
  | { kind: "dport"; proto: "tcp" | "udp" | "th"; ports: readonly PortRange[]; negate: boolean }
  | { kind: "iif"; names: readonly string[]; negate: boolean }
  | { kind: "nfproto"; family: 4 | 6 }
  | { kind: "unknown"; what: string };

export type PortRange = readonly [number, number];

export type Verdict =
  | { kind: "accept" }
  | { kind: "drop" }
  | { kind: "return" }
  | { kind: "jump"; chain: string }
  | { kind: "goto"; chain: string }
  /** A verdict map, queue or anything else whose outcome depends on what we do not model. */
  | { kind: "unknown"; what: string };

export interface Rule {
  /** nft's rule handle, or the rule's 1-based position for iptables-legacy. */
  handle: number;
  matches: Match[];
  /** null: the rule only counts, logs or marks. */
  verdict: Verdict | null;
  comment: string | null;
  /** A short text of the rule for messages ("tcp dport 22 reject"). */
  text: string;
}

export interface Chain {
  family: string;
  table: string;
  name: string;
  origin: Origin;
  /** Base chains only: the hook, priority, type and policy. */
  base: { hook: string; prio: number; type: string; policy: "accept" | "drop" } | null;
  rules: Rule[];
}

export interface Ruleset {
  chains: Chain[];
  /** Tables as "family name". */
  tables: string[];
}

/** iptables-nft keeps its rules in these tables (and names their base chains in capitals). */
const XT_TABLES = new Set(["filter", "nat", "mangle", "raw", "security"]);
const XT_CHAINS = new Set(["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"]);

/**
 * A table that iptables-nft (or ebtables/arptables-nft) made: the classic table names in the
 * families it uses, with at least one base chain named as iptables names them.
 */
function isXtTable(family: string, table: string, chainNames: readonly string[]): boolean {
  if (!["ip", "ip6", "arp", "bridge"].includes(family) || !XT_TABLES.has(table)) return false;
  return chainNames.some((n) => XT_CHAINS.has(n));
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : null;
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** The values of a match's right-hand side: a value, a set of values, ranges. */
function values(right: unknown): Array<string | number | PortRange> | null {
  if (typeof right === "string" || typeof right === "number") return [right];
  const o = obj(right);
  if (o !== null && "set" in o) return Array.isArray(o.set) ? values(o.set) : values(o.set);
  if (o !== null && "range" in o && Array.isArray(o.range)) {
    const [a, b] = o.range as unknown[];
    return typeof a === "number" && typeof b === "number" ? [[a, b]] : null;
  }
  if (Array.isArray(right)) {
    const out: Array<string | number | PortRange> = [];
    for (const v of right) {
      const x = values(v);
      if (x === null) return null;
      out.push(...x);
    }
    return out;
  }
  return null;
}

const PROTO_NUMBERS: Record<string, string> = { "6": "tcp", "17": "udp", "1": "icmp" };

/** One `match` expression of nft's JSON, reduced (libnftables-json(5), "MATCH"). */
export function parseMatch(m: Json): Match {
  const op = str(m.op) ?? "==";
  const negate = op === "!=";
  const left = obj(m.left);
  const vals = values(m.right);
  const what = JSON.stringify(m).slice(0, 120);
  if (left === null || vals === null || !["==", "!=", "in"].includes(op))
    return { kind: "unknown", what };
  const ct = obj(left.ct);
  if (ct !== null && ct.key === "state")
    return { kind: "ctstate", states: vals.map(String), negate };
  const meta = obj(left.meta);
  if (meta !== null && meta.key === "l4proto")
    return {
      kind: "l4proto",
      protos: vals.map((v) => PROTO_NUMBERS[String(v)] ?? String(v)),
      negate,
    };
  if (meta !== null && (meta.key === "iifname" || meta.key === "iif"))
    return { kind: "iif", names: vals.map(String), negate };
  if (meta !== null && meta.key === "nfproto" && !negate && vals.length === 1) {
    const v = String(vals[0]);
    if (v === "ipv4" || v === "ipv6") return { kind: "nfproto", family: v === "ipv4" ? 4 : 6 };
  }
  const payload = obj(left.payload);
  if (payload !== null) {
    const proto = str(payload.protocol);
    const field = str(payload.field);
    if ((proto === "ip" && field === "protocol") || (proto === "ip6" && field === "nexthdr"))
      return {
        kind: "l4proto",
        protos: vals.map((v) => PROTO_NUMBERS[String(v)] ?? String(v)),
        negate,
      };
    if ((proto === "tcp" || proto === "udp" || proto === "th") && field === "dport") {
      const ports: PortRange[] = [];
      for (const v of vals) {
        if (typeof v === "number") ports.push([v, v]);
        else if (typeof v !== "string") ports.push(v);
        else return { kind: "unknown", what };
      }
      return { kind: "dport", proto, ports, negate };
    }
  }
  return { kind: "unknown", what };
}

/** xt targets that end a packet's walk, as iptables-nft shows them ({"xt": {"type": "target"}}). */
function xtVerdict(name: string): Verdict | null {
  if (name === "REJECT" || name === "DROP") return { kind: "drop" };
  if (name === "ACCEPT") return { kind: "accept" };
  if (["LOG", "NFLOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT"].includes(name)) return null;
  return { kind: "unknown", what: `xt target ${name}` };
}

/** What one statement of a rule adds: a match, a verdict, and its words for messages. */
interface Statement {
  match?: Match;
  verdict?: Verdict | null;
  text?: string;
}

const SIMPLE_VERDICTS: Record<string, Verdict> = {
  accept: { kind: "accept" },
  drop: { kind: "drop" },
  return: { kind: "return" },
  reject: { kind: "drop" },
};

/** Statements that neither match nor decide here: counters, logging, marks, notrack. */
const QUIET = new Set(["counter", "log", "comment", "mangle", "meta", "notrack"]);

/** One statement of nft's JSON rule (libnftables-json(5), "STATEMENTS"). */
function statement(key: string, val: unknown): Statement {
  const simple = SIMPLE_VERDICTS[key];
  if (simple !== undefined) return { verdict: simple, text: key };
  if (key === "match") {
    const m = parseMatch(obj(val) ?? {});
    return { match: m, text: matchText(m) };
  }
  if (key === "jump" || key === "goto") {
    const target = str(obj(val)?.target);
    const verdict: Verdict =
      target === null ? { kind: "unknown", what: key } : { kind: key, chain: target };
    return { verdict, text: `${key} ${target ?? "?"}` };
  }
  if (key === "xt") {
    const t = obj(val);
    const name = str(t?.name) ?? "?";
    return t?.type === "target"
      ? { verdict: xtVerdict(name), text: name }
      : { match: { kind: "unknown", what: `xt match ${name}` }, text: `-m ${name}` };
  }
  if (QUIET.has(key)) return {};
  // Whether this packet is over a limit is unknown: the rule may or may not apply.
  if (key === "limit") return { match: { kind: "unknown", what: "limit" }, text: key };
  if (key === "vmap" || key === "queue")
    return { verdict: { kind: "unknown", what: key }, text: key };
  // Statements that end no walk here: set updates, NAT (nat chains are not judged), ...
  return { text: key };
}

/** One rule of nft's JSON listing. */
export function parseRule(r: Json): Rule {
  const matches: Match[] = [];
  let verdict: Verdict | null = null;
  const parts: string[] = [];
  for (const e of Array.isArray(r.expr) ? (r.expr as unknown[]) : []) {
    const x = obj(e);
    if (x === null) continue;
    const key = Object.keys(x)[0] ?? "";
    const st = statement(key, x[key]);
    if (st.match !== undefined) matches.push(st.match);
    if (st.verdict !== undefined) verdict = st.verdict;
    if (st.text !== undefined) parts.push(st.text);
  }
  return {
    handle: typeof r.handle === "number" ? r.handle : 0,
    matches,
    verdict,
    comment: str(r.comment),
    text: parts.join(" "),
  };
}

function matchText(m: Match): string {
  const neg = (n: boolean): string => (n ? "!= " : "");
  switch (m.kind) {
    case "ctstate":
      return `ct state ${neg(m.negate)}${m.states.join(",")}`;
    case "l4proto":
      return `meta l4proto ${neg(m.negate)}${m.protos.join(",")}`;
    case "dport":
      return `${m.proto} dport ${neg(m.negate)}${m.ports.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(",")}`;
    case "iif":
      return `iifname ${neg(m.negate)}${m.names.join(",")}`;
    case "nfproto":
      return `meta nfproto ipv${m.family}`;
    case "unknown":
      return "(…)";
  }
}

/** `nft -j list ruleset` (libnftables-json(5)) as a Ruleset. Throws on text that is not JSON. */
export function parseNftRuleset(json: string): Ruleset {
  const doc = obj(JSON.parse(json));
  const items = Array.isArray(doc?.nftables) ? (doc.nftables as unknown[]) : [];
  const chains = new Map<string, Chain>();
  const tables: string[] = [];
  const key = (f: string, t: string, c: string): string => `${f} ${t} ${c}`;
  for (const item of items) {
    const o = obj(item);
    const t = obj(o?.table);
    if (t !== null) tables.push(`${str(t.family) ?? "?"} ${str(t.name) ?? "?"}`);
    const c = obj(o?.chain);
    if (c !== null) {
      const family = str(c.family) ?? "?";
      const table = str(c.table) ?? "?";
      const name = str(c.name) ?? "?";
      const hook = str(c.hook);
      chains.set(key(family, table, name), {
        family,
        table,
        name,
        origin: "nftables",
        base:
          hook === null
            ? null
            : {
                hook,
                prio: typeof c.prio === "number" ? c.prio : 0,
                type: str(c.type) ?? "filter",
                policy: c.policy === "drop" ? "drop" : "accept",
              },
        rules: [],
      });
    }
    const r = obj(o?.rule);
    if (r !== null) {
      const ch = chains.get(key(str(r.family) ?? "?", str(r.table) ?? "?", str(r.chain) ?? "?"));
      ch?.rules.push(parseRule(r));
    }
  }
  const all = [...chains.values()];
  for (const tbl of tables) {
    const [family = "", table = ""] = tbl.split(" ");
    const mine = all.filter((c) => c.family === family && c.table === table);
    if (
      isXtTable(
        family,
        table,
        mine.map((c) => c.name),
      )
    )
      for (const c of mine) c.origin = "iptables-nft";
  }
  return { chains: all, tables };
}

/** "family table chain" as messages name a chain. */
export const chainName = (c: Pick<Chain, "family" | "table" | "name">): string =>
  `${c.family} ${c.table} ${c.name}`;
