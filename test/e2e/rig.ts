/**
 * The end-to-end test rig (design.md "Tests"): two network namespaces, "server" and "client",
 * joined by a veth pair on 198.18.0.0/24 (and fd00:5fa::/64 inside them), a TCP service in the
 * server namespace, a selectable default-deny in front of it, and an agent in each namespace for
 * fast connects and datagrams. Every firewall change happens inside these namespaces. Teardown
 * kills what the rig started (by PID) and deletes both namespaces, also when the test process dies.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";

export const SERVER_IP = "198.18.0.1";
export const CLIENT_IP = "198.18.0.2";
export const SERVER_IP6 = "fd00:5fa::1";
export const CLIENT_IP6 = "fd00:5fa::2";
export const REPO = join(__dirname, "..", "..");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type DefaultDeny = "none" | "iptables" | "nftables";

const live = new Set<Rig>();
let counter = 0;

process.on("exit", () => {
  for (const rig of live) rig.teardownSync();
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const rig of live) rig.teardownSync();
    process.exit(130);
  });
}

class Agent {
  private seq = 0;
  private readonly waiting = new Map<number, (r: { ok: boolean; error?: string }) => void>();
  readonly ready: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    const stdout = proc.stdout;
    if (stdout === null) throw new Error("agent has no stdout");
    createInterface({ input: stdout }).on("line", (line) => {
      const r = JSON.parse(line) as { id: number; ok: boolean; error?: string };
      if (r.id === 0) markReady();
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
  }

  ask(req: Record<string, unknown>): Promise<{ ok: boolean; error?: string }> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.proc.stdin?.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }
}

export class Rig {
  readonly serverNs: string;
  readonly clientNs: string;
  private readonly procs = new Set<ChildProcess>();
  private serverAgent: Agent | null = null;
  private clientAgent: Agent | null = null;
  private down = false;

  constructor() {
    const n = ++counter;
    this.serverNs = `fwkts-${process.pid}-${n}-s`;
    this.clientNs = `fwkts-${process.pid}-${n}-c`;
  }

  /** Run a program inside a namespace (argv, never a shell). */
  run(
    ns: string,
    argv: readonly string[],
    opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {},
  ): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = execFile(
        "ip",
        ["netns", "exec", ns, ...argv],
        { timeout: opts.timeoutMs ?? 20_000, env: opts.env ?? process.env, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  async must(ns: string, argv: readonly string[]): Promise<string> {
    const r = await this.run(ns, argv);
    if (r.code !== 0) throw new Error(`${argv.join(" ")} (in ${ns}) failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Have teardown kill (by PID) a process started elsewhere. */
  track(child: ChildProcess): void {
    this.procs.add(child);
    child.once("exit", () => this.procs.delete(child));
  }

  /** Start a long-running program in a namespace; it is killed by PID at teardown. */
  spawn(ns: string, argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    // `ip netns exec` execs the program, so the PID we hold is the program's own.
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      stdio: ["pipe", "pipe", "pipe"],
      env: env ?? process.env,
    });
    this.procs.add(child);
    child.once("exit", () => this.procs.delete(child));
    return child;
  }

  async setUp(): Promise<void> {
    live.add(this);
    const ip = (args: string[]): Buffer =>
      execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] });
    ip(["netns", "add", this.serverNs]);
    ip(["netns", "add", this.clientNs]);
    ip([
      "link",
      "add",
      "veth0",
      "netns",
      this.serverNs,
      "type",
      "veth",
      "peer",
      "name",
      "veth0",
      "netns",
      this.clientNs,
    ]);
    for (const [ns, v4, v6] of [
      [this.serverNs, SERVER_IP, SERVER_IP6],
      [this.clientNs, CLIENT_IP, CLIENT_IP6],
    ] as const) {
      await this.must(ns, ["ip", "link", "set", "lo", "up"]);
      await this.must(ns, ["ip", "addr", "add", `${v4}/24`, "dev", "veth0"]);
      await this.must(ns, ["ip", "-6", "addr", "add", `${v6}/64`, "dev", "veth0", "nodad"]);
      await this.must(ns, ["ip", "link", "set", "veth0", "up"]);
    }
    this.serverAgent = this.startAgent(this.serverNs);
    this.clientAgent = this.startAgent(this.clientNs);
    await Promise.all([this.serverAgent.ready, this.clientAgent.ready]);
  }

  private startAgent(ns: string): Agent {
    return new Agent(
      this.spawn(ns, [process.execPath, "--import", "tsx", join(__dirname, "ns-agent.ts")]),
    );
  }

  /** A TCP service in the server namespace (IPv4 and IPv6) that sends a banner. */
  async startService(port: number): Promise<void> {
    const r = await this.agent("server").ask({ op: "listen", port });
    if (!r.ok) throw new Error(`service on ${port}: ${r.error ?? "?"}`);
  }

  /**
   * Close the port to new connections in the server namespace. "iptables": a REJECT at the end of
   * INPUT (fwknopd's jump at position 1 comes first). "nftables": an admin table whose input chain
   * drops everything but loopback, established flows, ICMP and the SPA port, like a hardened host.
   */
  async defaultDeny(kind: DefaultDeny, port: number, spaPort = 62201): Promise<void> {
    if (kind === "iptables") {
      for (const bin of ["iptables", "ip6tables"])
        await this.must(this.serverNs, [
          bin,
          "-A",
          "INPUT",
          "-p",
          "tcp",
          "--dport",
          String(port),
          "-j",
          "REJECT",
          "--reject-with",
          "tcp-reset",
        ]);
    } else if (kind === "nftables") {
      const rules = [
        "table inet admin {",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        '    iif "lo" accept',
        "    ct state established,related accept",
        "    meta l4proto { icmp, ipv6-icmp } accept",
        `    udp dport ${spaPort} accept`,
        "  }",
        "}",
      ].join("\n");
      const r = await this.run(this.serverNs, ["nft", "-f", "-"], { input: rules });
      if (r.code !== 0) throw new Error(`nft default-deny failed: ${r.stderr}`);
    }
  }

  private agent(which: "server" | "client"): Agent {
    const a = which === "server" ? this.serverAgent : this.clientAgent;
    if (a === null) throw new Error("rig is not set up");
    return a;
  }

  /** Does a TCP connect from the client namespace succeed? */
  async tcpConnect(host: string, port: number, timeoutMs = 400): Promise<boolean> {
    return (await this.agent("client").ask({ op: "connect", host, port, timeoutMs })).ok;
  }

  async sendUdp(
    host: string,
    port: number,
    payload: string | Buffer,
    from?: string,
  ): Promise<void> {
    const data = (typeof payload === "string" ? Buffer.from(payload, "latin1") : payload).toString(
      "base64",
    );
    const r = await this.agent("client").ask({
      op: "udp",
      host,
      port,
      data,
      ...(from !== undefined ? { from } : {}),
    });
    if (!r.ok) throw new Error(`udp send failed: ${r.error ?? "?"}`);
  }

  async teardown(): Promise<void> {
    for (const p of this.procs) p.kill("SIGTERM");
    const deadline = Date.now() + 3000;
    while (this.procs.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    this.teardownSync();
  }

  /** Synchronous, for process exit: kill our children by PID, delete our namespaces. */
  teardownSync(): void {
    if (this.down) return;
    this.down = true;
    live.delete(this);
    for (const p of this.procs) {
      try {
        if (p.pid !== undefined && p.exitCode === null) process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const ns of [this.clientNs, this.serverNs]) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // never created
      }
    }
  }
}

export async function createRig(): Promise<Rig> {
  const rig = new Rig();
  try {
    await rig.setUp();
  } catch (e) {
    await rig.teardown();
    throw e;
  }
  return rig;
}

/** Poll until `check` is true or the time is up. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 50,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
