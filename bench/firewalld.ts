/**
 * Our fwknopd on a real firewalld (private to the rig; see test/e2e/firewalld.ts): SPA sent -> TCP
 * connect succeeds, one probe at a time, each on its own port; then a burst of grants sent at
 * once. On each of firewalld's backends, each way twice: over firewalld's D-Bus API (the default),
 * then through firewall-cmd (FIREWD_USE_DBUS N: one Python process per rule, as C fwknopd does it).
 * - FirewallBackend=iptables: C fwknopd's direct passthrough (`--direct --passthrough`).
 * - FirewallBackend=nftables (firewalld's default): firewalld's rich rules with a timeout
 *   (`zone.addRichRule`), where a passthrough would open nothing.
 * The Debian C fwknopd is built for iptables only, so there is no C figure on firewalld; compare
 * with C on iptables (bench/latency.ts).
 *   node --import tsx bench/firewalld.ts [--n=8] [--burst=16] [--backend=iptables|nftables]
 */
import { CLIENT_IP, SERVER_IP, createRig, waitFor } from "../test/e2e/rig.js";
import { startFirewalld, type FirewalldBackend } from "../test/e2e/firewalld.js";
import { TsFwknopd } from "../test/e2e/ts-fwknopd.js";
import { SPA_PORT } from "./lib/bench-rig.js";
import { benchKeys, validSpa } from "./lib/packets.js";
import { header, numFlag, parseFlags, percentile, runBench } from "./lib/report.js";

const FIRST_PORT = 3001;

/** One firewalld on `backend` in a fresh rig: each way's single grants, then its burst. */
async function onBackend(backend: FirewalldBackend, n: number, burst: number): Promise<void> {
  const grants = backend === "iptables" ? "passthrough" : "rich rules";
  const rig = await createRig();
  try {
    const fw = await startFirewalld(rig, backend);
    try {
      const ways = [
        { label: `${grants}, D-Bus (${backend})`, conf: "" },
        { label: `${grants}, firewall-cmd (${backend})`, conf: "FIREWD_USE_DBUS N;\n" },
      ];
      for (let i = 0; i < ways.length * (n + burst); i++) await rig.startService(FIRST_PORT + i);
      // The probes of a closed port are rejected with ICMP errors, which the kernel rate-limits
      // per peer (net.ipv4.icmp_ratelimit, 1 s): past the first few, a probe's SYN goes
      // unanswered and waits out its timeout, so every figure came out ~100 ms (measured). The
      // setting is the server namespace's own.
      const icmp = await fw.exec(["sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"]);
      if (icmp.code !== 0) throw new Error(`sysctl: ${icmp.stderr}`);
      const firewallCmd = await fw.firewallCmd([`--add-port=${SPA_PORT}/udp`]);
      if (firewallCmd.code !== 0) throw new Error(`firewall-cmd: ${firewallCmd.stderr}`);
      const k = benchKeys();
      for (const [w, way] of ways.entries()) {
        const first = FIRST_PORT + w * (n + burst);
        const d = new TsFwknopd(
          rig,
          `ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE firewalld;\n${way.conf}`,
          [
            "SOURCE ANY",
            `KEY_BASE64 ${k.keyB64}`,
            `HMAC_KEY_BASE64 ${k.hmacKeyB64}`,
            "FW_ACCESS_TIMEOUT 300",
            "",
          ].join("\n"),
          fw.wrap,
        );
        await d.start();
        try {
          const open = (port: number): Promise<boolean> => rig.tcpConnect(SERVER_IP, port, 100);
          const single: number[] = [];
          for (let i = 0; i < n; i++) {
            const port = first + i;
            const t0 = performance.now();
            await rig.sendUdp(SERVER_IP, SPA_PORT, validSpa(k, CLIENT_IP, port));
            if (await waitFor(() => open(port), 10_000, 5)) single.push(performance.now() - t0);
          }
          const ports = Array.from({ length: burst }, (_, i) => first + n + i);
          const t0 = performance.now();
          for (const port of ports)
            await rig.sendUdp(SERVER_IP, SPA_PORT, validSpa(k, CLIENT_IP, port));
          const opened = new Set<number>();
          await waitFor(
            async () => {
              for (const p of ports) if (!opened.has(p) && (await open(p))) opened.add(p);
              return opened.size === ports.length;
            },
            60_000,
            20,
          );
          const burstMs = performance.now() - t0;
          const ms = (x: number): string => `${x.toFixed(0)} ms`;
          process.stdout.write(
            [
              `${way.label.padEnd(36)} SPA sent -> port open: p50 ${ms(percentile(single, 50))}, p90 ${ms(percentile(single, 90))} (${single.length}/${n} opened)`,
              `${way.label.padEnd(36)} ${burst} grants sent at once: ${opened.size} open after ${ms(burstMs)} (${((opened.size / burstMs) * 1000).toFixed(1)} grants/s)`,
              "",
            ].join("\n"),
          );
        } finally {
          await d.stop();
          d.cleanup();
        }
      }
    } finally {
      await fw.stop();
    }
  } finally {
    await rig.teardown();
  }
}

function backends(flags: Map<string, string>): FirewalldBackend[] {
  const b = flags.get("backend");
  return b === "iptables" || b === "nftables" ? [b] : ["iptables", "nftables"];
}

runBench(async () => {
  const flags = parseFlags();
  const n = Math.min(50, numFlag(flags, "n", 8));
  const burst = Math.min(100, numFlag(flags, "burst", 16));
  header(`bench:firewalld — ours on a real firewalld: ${n} single grants, then ${burst} at once`);
  for (const backend of backends(flags)) await onBackend(backend, n, burst);
  process.stdout.write(
    "C fwknopd".padEnd(36) +
      " not built with firewalld support on Debian (iptables only); see bench/latency.ts for C on iptables\n",
  );
});
