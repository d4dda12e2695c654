/**
 * Child of bench/client.ts, run inside the rig's client namespace: wall time of whole client
 * processes, interleaved round-robin so drift hits every command alike. One argument, JSON:
 * {"runs": N, "commands": {"name": [argv...], ...}, "home": DIR}; prints {"name": [ms...], ...}.
 */
import { execFileSync } from "node:child_process";

interface Job {
  runs: number;
  commands: Record<string, string[]>;
  home: string;
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
const env = { PATH: "/usr/bin:/bin", HOME: job.home, USER: "root", LOGNAME: "root" };
const out: Record<string, number[]> = {};
const names = Object.keys(job.commands);
for (const n of names) out[n] = [];
const runs = Math.min(500, Math.max(1, job.runs));
for (let i = -2; i < runs; i++) {
  for (const n of names) {
    const [bin, ...args] = job.commands[n] ?? [];
    const t = process.hrtime.bigint();
    execFileSync(bin ?? "", args, { env, stdio: "ignore", timeout: 20_000 });
    // Two warm-up rounds fill the page cache and create the rc files; they are not counted.
    if (i >= 0) out[n]?.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
