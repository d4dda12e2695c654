/**
 * A manual Sentinel failover run (not a timed test; README "Several gateways, one replay
 * memory"): in the e2e rig's client namespace a Redis master, two replicas and one Sentinel
 * (quorum 1, down-after 1 s), all started here by PID; gateway A finds the master through the
 * Sentinel. A knock is granted, the master is killed, and fresh knocks are sent every 100 ms until
 * one is granted again: the time that takes, how many were refused meanwhile (REDIS_FAIL closed),
 * and whether the first packet, replayed after the failover, is still refused (its claim had
 * reached the replica).
 *   node --import tsx bench/sentinel.ts
 */
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { CLIENT_IP, SERVER_IP, waitFor } from "../test/e2e/rig.js";
import { B_CLIENT_IP, B_IP, RedisGateways, wire } from "../test/e2e/redis-gateways.js";

const grants = (s: string): number => (s.match(/Added access for user/g) ?? []).length;

async function main(): Promise<void> {
  const g = new RedisGateways();
  await g.setUp();
  await g.killRedis();
  const rig = g.rig;
  const procs: Record<string, ChildProcess> = {};
  const out: Record<string, string> = {};
  const start = (name: string, argv: string[]): void => {
    out[name] = "";
    const p = rig.spawn(rig.clientNs, argv);
    p.stdout?.on("data", (d: Buffer) => (out[name] = (out[name] ?? "") + d.toString()));
    procs[name] = p;
  };
  const server = (port: number, extra: string[] = []): string[] => [
    "/usr/bin/redis-server",
    "--port",
    String(port),
    "--bind",
    CLIENT_IP,
    "--save",
    "",
    "--appendonly",
    "no",
    "--protected-mode",
    "no",
    "--dir",
    g.redisDir,
    ...extra,
  ];
  try {
    start("master", server(6401));
    start("replica", server(6402, ["--replicaof", CLIENT_IP, "6401"]));
    // Two replicas: after the failover one is left to acknowledge WAIT 1.
    start("replica2", server(6403, ["--replicaof", CLIENT_IP, "6401"]));
    const sconf = join(g.redisDir, "sentinel.conf");
    writeFileSync(
      sconf,
      `port 26401\nbind ${CLIENT_IP}\nprotected-mode no\ndir ${g.redisDir}\nsentinel monitor fwk ${CLIENT_IP} 6401 1\nsentinel down-after-milliseconds fwk 1000\nsentinel failover-timeout fwk 5000\n`,
    );
    start("sentinel", ["/usr/bin/redis-server", sconf, "--sentinel"]);
    await waitFor(
      () =>
        /sync: Finished/.test((out.replica ?? "") + "|" + (out.replica2 ?? "")) &&
        /sync: Finished/.test(out.replica2 ?? ""),
      10_000,
    );
    const conf = (sentinel: string) =>
      `ENABLE_UDP_SERVER Y;\nREPLAY_STORE redis;\nREDIS_SENTINELS ${sentinel}:26401;\nREDIS_MASTER_NAME fwk;\nREDIS_WAIT_REPLICAS 1;\n`;
    const a = g.gateway("a", conf(CLIENT_IP));
    // Everything listens on 198.18.0.2 (the address the Sentinel gives out): B routes there via 198.18.2.2.
    const b = g.gateway("b", conf(CLIENT_IP));
    await rig.must(g.nsB, ["ip", "route", "add", "198.18.0.0/24", "via", B_CLIENT_IP]);
    await Promise.all([a.start(), b.start()]);
    await Promise.all([a.waitForLog(/: connected/, 10_000), b.waitForLog(/: connected/, 10_000)]);
    const first = wire();
    await rig.sendUdp(SERVER_IP, 62201, first);
    await waitFor(() => grants(a.logs()) === 1, 5000);
    console.log(`granted before the failover: ${grants(a.logs())}`);
    procs.master?.kill("SIGKILL");
    const t0 = performance.now();
    let sent = 0;
    while (grants(a.logs()) < 2 && performance.now() - t0 < 60_000) {
      await rig.sendUdp(SERVER_IP, 62201, wire());
      sent++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const took = performance.now() - t0;
    const switched = /\+switch-master/.test(out.sentinel ?? "");
    const why = new Map<string, number>();
    for (const m of a.logs().matchAll(/unavailable \(([^)]*)\): refused/g)) {
      const k = (m[1] ?? "").replace(/\d+ ms/, "N ms");
      why.set(k, (why.get(k) ?? 0) + 1);
    }
    console.log(`refused while failing over, by reason: ${JSON.stringify([...why])}`);
    console.log(
      `master killed -> next grant: ${(took / 1000).toFixed(1)} s, ${sent} knocks sent, ${sent - 1} refused meanwhile; sentinel switched: ${switched}`,
    );
    await rig.sendUdp(B_IP, 62201, first);
    await waitFor(() => /Replay detected|Added access/.test(b.logs()), 3000);
    console.log(
      `first packet replayed to B (which never saw it) after the failover: ${/Replay detected/.test(b.logs()) ? "refused (its claim was on the replica)" : /Added access/.test(b.logs()) ? "GRANTED (claim lost)" : "no answer"}`,
    );
    await Promise.all([a.stop(), b.stop()]);
    a.cleanup();
    b.cleanup();
    console.log(
      a
        .logs()
        .split("\n")
        .filter((l) => /Redis replay store [^u]|Replay store/.test(l))
        .slice(0, 12)
        .join("\n"),
    );
  } finally {
    for (const p of Object.values(procs)) if (p.exitCode === null) p.kill("SIGKILL");
    await g.teardown();
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
