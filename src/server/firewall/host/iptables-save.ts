/**
 * `iptables-legacy-save` / `ip6tables-legacy-save` text as the same model as nft's JSON
 * (ruleset.ts). Legacy x_tables rules are invisible to `nft list ruleset`, yet a legacy INPUT
 * chain that drops stops a packet that an nftables table accepted, so fwknopd reads them too.
 * Pure: text in, chains out. Options we do not model become unknown matches.
 */
import type { Chain, Match, Rule, Verdict } from "./ruleset.js";

/** Hook priorities of the legacy tables (include/uapi/linux/netfilter_ipv4.h NF_IP_PRI_*). */
const TABLE_PRIO: Record<string, number> = {
  raw: -300,
  mangle: -150,
  nat: -100,
  filter: 0,
  security: 50,
};
const HOOKS: Record<string, string> = {
  INPUT: "input",
  FORWARD: "forward",
  OUTPUT: "output",
  PREROUTING: "prerouting",
  POSTROUTING: "postrouting",
};

/** Targets that let the packet go on to the next rule. */
const NON_TERMINAL = new Set(["LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT"]);

/** Split an iptables-save line into words; double quotes group (comments). */
export function saveWords(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? ""));
  return out;
}

function portRanges(v: string): Array<readonly [number, number]> | null {
  const out: Array<readonly [number, number]> = [];
  for (const part of v.split(",")) {
    const [a, b] = part.split(":");
    const lo = Number(a === "" ? 0 : a);
    const hi = b === undefined ? lo : Number(b === "" ? 65535 : b);
    if (!Number.isInteger(lo) || !Number.isInteger(hi)) return null;
    out.push([lo, hi]);
  }
  return out;
}

/** What the options of one rule have said so far. */
interface RuleState {
  matches: Match[];
  verdict: Verdict | null;
  comment: string | null;
  /** The protocol of `-p`, which `--dport` matches on. */
  proto: "tcp" | "udp" | "th";
  negate: boolean;
  targetSeen: boolean;
  isChain: (name: string) => boolean;
}

/** `-j TARGET`: a verdict, a jump to one of the dump's chains, or a target that lets it pass. */
function jumpVerdict(t: string, isChain: (name: string) => boolean): Verdict | null {
  if (t === "ACCEPT") return { kind: "accept" };
  if (t === "DROP" || t === "REJECT") return { kind: "drop" };
  if (t === "RETURN") return { kind: "return" };
  if (isChain(t)) return { kind: "jump", chain: t };
  return NON_TERMINAL.has(t) ? null : { kind: "unknown", what: `-j ${t}` };
}

type OptionHandler = (st: RuleState, value: string, option: string) => void;

const protoOption: OptionHandler = (st, v) => {
  const p = v.toLowerCase();
  const name = p === "6" ? "tcp" : p === "17" ? "udp" : p;
  if (!st.negate && (name === "tcp" || name === "udp")) st.proto = name;
  st.matches.push({ kind: "l4proto", protos: [name], negate: st.negate });
};
const dportOption: OptionHandler = (st, v, o) => {
  const ports = portRanges(v);
  st.matches.push(
    ports === null
      ? { kind: "unknown", what: `${o} ${v}` }
      : { kind: "dport", proto: st.proto, ports, negate: st.negate },
  );
};
const stateOption: OptionHandler = (st, v) => {
  st.matches.push({ kind: "ctstate", states: v.toLowerCase().split(","), negate: st.negate });
};
const jumpOption: OptionHandler = (st, v) => {
  st.targetSeen = true;
  st.verdict = jumpVerdict(v, st.isChain);
};

/** The options we model (iptables-save's spelling and the long forms); each takes a value. */
const OPTIONS: Record<string, OptionHandler> = {
  "-i": (st, v) => st.matches.push({ kind: "iif", names: [v], negate: st.negate }),
  "-p": protoOption,
  "--dport": dportOption,
  "--dports": dportOption,
  "--ctstate": stateOption,
  "--state": stateOption,
  "--comment": (st, v) => (st.comment = v),
  "-m": () => undefined,
  "-j": jumpOption,
  "-g": (st, v) => (st.verdict = { kind: "goto", chain: v }),
};
const LONG: Record<string, string> = {
  "--in-interface": "-i",
  "--protocol": "-p",
  "--destination-port": "--dport",
  "--destination-ports": "--dports",
  "--match": "-m",
  "--jump": "-j",
  "--goto": "-g",
};

/** One `-A CHAIN ...` line (after the chain name) as a rule. */
export function parseSaveRule(
  words: readonly string[],
  handle: number,
  isChain: (name: string) => boolean,
): Rule {
  const st: RuleState = {
    matches: [],
    verdict: null,
    comment: null,
    proto: "th",
    negate: false,
    targetSeen: false,
    isChain,
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? "";
    const arg = words[i + 1] ?? "";
    if (w === "!") {
      st.negate = true;
      continue;
    }
    const handler = OPTIONS[LONG[w] ?? w];
    const hasValue = arg !== "" && !arg.startsWith("-") && arg !== "!";
    if (handler !== undefined) {
      handler(st, arg, w);
      i++;
    } else if (w.startsWith("-")) {
      // After -j come the target's own options (--reject-with, --log-prefix): not matches.
      // Before it, an option we do not model is a match we cannot judge.
      if (!st.targetSeen)
        st.matches.push({ kind: "unknown", what: `${w} ${hasValue ? arg : ""}`.trim() });
      if (hasValue) i++;
    }
    st.negate = false;
  }
  return {
    handle,
    matches: st.matches,
    verdict: st.verdict,
    comment: st.comment,
    text: words.join(" "),
  };
}

/** The chains of one `*-save` dump; `family` is "ip" (iptables) or "ip6" (ip6tables). */
export function parseIptablesSave(text: string, family: "ip" | "ip6"): Chain[] {
  const chains: Chain[] = [];
  let table = "";
  const byName = new Map<string, Chain>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) {
      table = line.slice(1);
      byName.clear();
    } else if (line.startsWith(":")) {
      const [name = "", policy = "-"] = line.slice(1).split(/\s+/);
      const hook = HOOKS[name];
      const c: Chain = {
        family,
        table,
        name,
        origin: "iptables-legacy",
        base:
          hook === undefined || policy === "-"
            ? null
            : {
                hook,
                prio: TABLE_PRIO[table] ?? 0,
                type: table === "nat" ? "nat" : "filter",
                policy: policy === "DROP" ? "drop" : "accept",
              },
        rules: [],
      };
      chains.push(c);
      byName.set(name, c);
    } else if (line.startsWith("-A ")) {
      const words = saveWords(line);
      const c = byName.get(words[1] ?? "");
      c?.rules.push(parseSaveRule(words.slice(2), c.rules.length + 1, (n) => byName.has(n)));
    }
  }
  return chains;
}
