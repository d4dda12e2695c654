/**
 * Where a daemon's time went: the self time of a V8 .cpuprofile (node --cpu-prof) by function and
 * by file, heaviest first. `node --import tsx bench/lib/profile-summary.ts FILE.cpuprofile [--top=25]`
 */
import { readFileSync } from "node:fs";
import { numFlag, parseFlags } from "./report.js";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function summarise(path: string, top: number): string {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (const [id, us] of self) {
    const cf = byId.get(id)?.callFrame;
    if (cf === undefined) continue;
    const short = cf.url.replace(/^.*\/(dist|node_modules)\//, "$1/").replace(/^file:\/\//, "");
    const name = `${cf.functionName || "(anonymous)"} ${short}${cf.url !== "" ? `:${cf.lineNumber + 1}` : ""}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const f = short === "" ? `(${cf.functionName})` : short;
    file.set(f, (file.get(f) ?? 0) + us);
  }
  const rows = (m: Map<string, number>): string =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([k, us]) =>
          `  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`,
      )
      .join("\n");
  return `${path}: ${(total / 1000).toFixed(0)} ms sampled over ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s\nby function (self time):\n${rows(fn)}\nby file:\n${rows(file)}`;
}

if (require.main === module) {
  const flags = parseFlags();
  const file = process.argv.slice(2).find((a) => !a.startsWith("--"));
  if (file === undefined) throw new Error("usage: profile-summary.ts FILE.cpuprofile [--top=25]");
  console.log(summarise(file, numFlag(flags, "top", 25)));
}
