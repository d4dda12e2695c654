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

/** One `-A CHAIN ...` line (after the chain name) as a rule. */
export function parseSaveRule(
  words: readonly string[],
  handle: number,
  isChain: (name: string) => boolean,
): Rule {
  const matches: Match[] = [];
  let verdict: Verdict | null = null;
  let comment: string | null = null;
  let proto: "tcp" | "udp" | "th" = "th";
  let negate = false;
  let targetSeen = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? "";
    const arg = words[i + 1] ?? "";
    if (w === "!") {
      negate = true;
      continue;
    }
    const takes = (): string => {
      i++;
      return arg;
    };
    switch (w) {
      case "-i":
      case "--in-interface":
        matches.push({ kind: "iif", names: [takes()], negate });
        break;
      case "-p":
      case "--protocol": {
        const p = takes().toLowerCase();
        const name = p === "6" ? "tcp" : p === "17" ? "udp" : p;
        if (!negate && (name === "tcp" || name === "udp")) proto = name;
        matches.push({ kind: "l4proto", protos: [name], negate });
        break;
      }
      case "--dport":
      case "--destination-port":
      case "--dports":
      case "--destination-ports": {
        const ports = portRanges(takes());
        matches.push(
          ports === null
            ? { kind: "unknown", what: `${w} ${arg}` }
            : { kind: "dport", proto, ports, negate },
        );
        break;
      }
      case "--ctstate":
      case "--state":
        matches.push({ kind: "ctstate", states: takes().toLowerCase().split(","), negate });
        break;
      case "--comment":
        comment = takes();
        break;
      case "-m":
      case "--match":
        takes();
        break;
      case "-j":
      case "--jump": {
        targetSeen = true;
        const t = takes();
        if (t === "ACCEPT") verdict = { kind: "accept" };
        else if (t === "DROP" || t === "REJECT") verdict = { kind: "drop" };
        else if (t === "RETURN") verdict = { kind: "return" };
        else if (isChain(t)) verdict = { kind: "jump", chain: t };
        else verdict = NON_TERMINAL.has(t) ? null : { kind: "unknown", what: `-j ${t}` };
        break;
      }
      case "-g":
      case "--goto":
        verdict = { kind: "goto", chain: takes() };
        break;
      default:
        // After -j come the target's own options (--reject-with, --log-prefix): not matches.
        if (w.startsWith("-") && targetSeen) {
          if (arg !== "" && !arg.startsWith("-")) i++;
        } else if (w.startsWith("-")) {
          // An option we do not model, with its value when it has one.
          const value = arg !== "" && !arg.startsWith("-") && arg !== "!" ? takes() : "";
          matches.push({ kind: "unknown", what: `${w} ${value}`.trim() });
        }
    }
    negate = false;
  }
  return { handle, matches, verdict, comment, text: words.join(" ") };
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
