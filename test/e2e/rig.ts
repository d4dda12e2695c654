/**
 * The end-to-end test rig (design.md "Tests"): two network namespaces, "server" and "client",
 * joined by a veth pair on 198.18.0.0/24 (and fd00:5fa::/64 inside them), a TCP service in the
 * server namespace, a host shape in front of it (host-shapes.ts: "ufw-like", "iptables-legacy",
 * "debian-nftables", "nftables-open", the real "ufw", ...; `rig.host` says which), and an agent in
 * each namespace for fast connects and datagrams; optionally a third, "inner" namespace behind the
 * server for NAT (createRig({ inner: { servicePort: 22 } })). Every firewall change happens inside
 * these namespaces. Teardown stops what the rig owns (the real ufw's namespace holder), kills what
 * it started (by PID), deletes the namespaces and the rig's temporary directories, also when a
 * test fails or the test process is interrupted.
 *
 *   const rig = await createRig({ servicePort: 1234, spaPort: 62201, deny: "ufw-like" });
 *   try {
 *     rig.host?.name;                                      // "ufw-like"; rig.host.ruleset()
 *     await rig.tcpConnect(rig.serverIp, 1234);          // false: default-deny
 *     rig.spawn(rig.serverNs, ["fwknopd", "-f", ...]);    // killed by PID at teardown
 *     await rig.run(rig.clientNs, ["fwknop", ...], { env, timeoutMs: 10_000 });
 *     await rig.sendUdp(rig.serverIp, 62201, wire);
 *   } finally {
 *     await rig.teardown();
 *   }
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { applyHostShape, type HostInfo, type HostShape } from "./host-shapes.js";
import type { PollResult } from "./ns-agent-tenant.js";

export const SERVER_IP = "198.18.0.1";
export const CLIENT_IP = "198.18.0.2";
export const SERVER_IP6 = "fd00:5fa::1";
export const CLIENT_IP6 = "fd00:5fa::2";
/** The optional third namespace ("inner": a host behind the server acting as NAT gateway). */
export const GATEWAY_INNER_IP = "198.18.1.1";
export const INNER_IP = "198.18.1.2";
export const REPO = join(__dirname, "..", "..");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What the server namespace looks like to a grant: see host-shapes.ts for each shape. */
export type DefaultDeny = HostShape;

/** Something the rig stops at teardown (e.g. the real ufw's namespace holder). */
export interface Owned {
  stop(): Promise<void>;
  stopSync(): void;
}

/** A namespace's UDP counters (/proc/net/snmp). */
export interface UdpCounters {
  /** Datagrams delivered to sockets. */
  inDatagrams: number;
  /** Datagrams dropped because a socket's receive buffer was full. */
  rcvbufErrors: number;
}

export interface RigOptions {
  /** Start the banner service on this TCP port in the server namespace (1234 in the tutorial). */
  servicePort?: number;
  /**
   * Shape the server namespace like this host (host-shapes.ts: "ufw-like", "iptables-legacy",
   * "debian-nftables", "nftables-open", "ufw", and the minimal "iptables", "nftables", "none");
   * needs `protectedPort` or `servicePort`. The test reads what it got from `rig.host`.
   */
  deny?: DefaultDeny;
  /** The UDP port the shape leaves open for SPA; default 62201. */
  spaPort?: number;
  /** The TCP port the shape keeps closed; default `servicePort`. */
  protectedPort?: number;
  /**
   * A third namespace behind the server, on 198.18.1.0/24 (server 198.18.1.1, inner 198.18.1.2),
   * with the banner service on this port; the server forwards. `innerRoute: false` leaves the
   * inner host without a route back to the client, so only source NAT can reach it.
   */
  inner?: { servicePort: number; innerRoute?: boolean };
}

export interface AgentReply {
  ok: boolean;
  error?: string;
  sent?: number;
  data?: string;
  /** udpTake: the datagrams, base64. */
  list?: string[];
  /** hold, poll: when it connected / started (epoch ms). */
  at?: number;
  /** hold: connect attempts made. */
  attempts?: number;
  /** pollStop: what the poller saw. */
  poll?: PollResult;
}

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

/** How long an agent may take to say it is ready, and to answer any request beyond its own bound. */
const AGENT_START_MS = 15_000;
const AGENT_SLACK_MS = 10_000;

class Agent {
  private seq = 0;
  private readonly waiting = new Map<number, (r: AgentReply) => void>();
  private stderr = "";
  private gone: string | null = null;
  readonly ready: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    let markReady: () => void = () => undefined;
    let failReady: (e: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    // Whoever awaits `ready` sees the rejection; an agent nobody waits for must not crash the run.
    this.ready.catch(() => undefined);
    const timer = setTimeout(() => {
      failReady(new Error(`namespace agent not ready after ${AGENT_START_MS} ms: ${this.stderr}`));
    }, AGENT_START_MS);
    const stdout = proc.stdout;
    if (stdout === null) throw new Error("agent has no stdout");
    proc.stderr?.on("data", (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString();
    });
    createInterface({ input: stdout }).on("line", (line) => {
      let r: AgentReply & { id: number };
      try {
        r = JSON.parse(line) as AgentReply & { id: number };
      } catch {
        return;
      }
      if (r.id === 0) {
        clearTimeout(timer);
        markReady();
      }
      this.settle(r.id, r);
    });
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      this.gone = `namespace agent exited (${signal ?? String(code)}): ${this.stderr}`;
      failReady(new Error(this.gone));
      for (const id of [...this.waiting.keys()]) this.settle(id, { ok: false, error: this.gone });
    });
  }

  private settle(id: number, r: AgentReply): void {
    const resolve = this.waiting.get(id);
    this.waiting.delete(id);
    resolve?.(r);
  }

  /** One request; never hangs: an exited agent or a missing answer resolves as a failure. */
  ask(req: Record<string, unknown>, timeoutMs = AGENT_SLACK_MS): Promise<AgentReply> {
    if (this.gone !== null) return Promise.resolve({ ok: false, error: this.gone });
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.settle(id, { ok: false, error: `agent gave no answer in ${timeoutMs} ms` });
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.proc.stdin?.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }
}

export class Rig {
  readonly serverNs: string;
  readonly clientNs: string;
  readonly serverIp = SERVER_IP;
  readonly clientIp = CLIENT_IP;
  readonly serverIp6 = SERVER_IP6;
  readonly clientIp6 = CLIENT_IP6;
  readonly innerIp = INNER_IP;
  readonly gatewayInnerIp = GATEWAY_INNER_IP;
  /** Set once addInner() has run. */
  innerNs: string | null = null;
  /** Namespaces added with addNamespace() (the inner one too), deleted at teardown. */
  private readonly extraNs: string[] = [];
  /** The host shape applied last (createRig's `deny`, or defaultDeny()); null: none applied. */
  host: HostInfo | null = null;
  private readonly owned: Owned[] = [];
  private readonly procs = new Set<ChildProcess>();
  private readonly dirs = new Set<string>();
  /** The namespace agent of each namespace that has one. */
  private readonly agents = new Map<string, Agent>();
  private down = false;

  constructor() {
    const n = ++counter;
    this.serverNs = `fwkts-${process.pid}-${n}-s`;
    this.clientNs = `fwkts-${process.pid}-${n}-c`;
  }

  /** A temporary directory that teardown removes (also on an interrupted run). */
  tempDir(prefix = "fwkts-"): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.add(dir);
    return dir;
  }

  /** Run a program inside a namespace (argv, never a shell). A failure, including the timeout,
   * comes back as a non-zero `code`; it is never thrown. */
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

  /** The elements of an nftables set ("inet t s") of concatenated keys in the server namespace. */
  async nftConcatElements(set: string): Promise<number> {
    const listed = await this.must(this.serverNs, ["nft", "-j", "list", "set", ...set.split(" ")]);
    return (listed.match(/"concat"/g) ?? []).length;
  }

  /** The UDP counters of a namespace, e.g. to see how many datagrams reached the daemon. */
  async udpCounters(ns: string): Promise<UdpCounters> {
    const text = await this.must(ns, ["cat", "/proc/net/snmp"]);
    const lines = text.split("\n").filter((l) => l.startsWith("Udp:"));
    const names = (lines[0] ?? "").split(/\s+/);
    const values = (lines[1] ?? "").split(/\s+/);
    const get = (k: string): number => Number(values[names.indexOf(k)] ?? NaN);
    return { inDatagrams: get("InDatagrams"), rcvbufErrors: get("RcvbufErrors") };
  }

  /** Have teardown kill (by PID) a process started elsewhere. */
  track(child: ChildProcess): void {
    this.procs.add(child);
    child.once("exit", () => this.procs.delete(child));
  }

  /** Have teardown stop this (before it kills processes and deletes the namespaces). */
  own(thing: Owned): void {
    this.owned.push(thing);
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
    // A spawn failure (no `ip`?) shows as an exit with no PID; it must not crash the test run.
    child.once("error", () => this.procs.delete(child));
    return child;
  }

  async setUp(): Promise<void> {
    live.add(this);
    const ip = (args: string[]): Buffer =>
      execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
    ip(["netns", "add", this.serverNs]);
    ip(["netns", "add", this.clientNs]);
    vethPair(this.serverNs, "veth0", this.clientNs);
    for (const [ns, v4, v6] of [
      [this.serverNs, SERVER_IP, SERVER_IP6],
      [this.clientNs, CLIENT_IP, CLIENT_IP6],
    ] as const) {
      await this.must(ns, ["ip", "link", "set", "lo", "up"]);
      await this.must(ns, ["ip", "addr", "add", `${v4}/24`, "dev", "veth0"]);
      await this.must(ns, ["ip", "-6", "addr", "add", `${v6}/64`, "dev", "veth0", "nodad"]);
      await this.must(ns, ["ip", "link", "set", "veth0", "up"]);
    }
    await Promise.all([this.startAgentIn(this.serverNs), this.startAgentIn(this.clientNs)]);
  }

  /**
   * One more namespace, named after the rig's with `suffix` (one short word), with its loopback
   * up; teardown deletes it. Join it to the others with veth().
   */
  async addNamespace(suffix: string): Promise<string> {
    const ns = `${this.serverNs.slice(0, -2)}-${suffix}`;
    execFileSync("ip", ["netns", "add", ns], { stdio: "ignore", timeout: 10_000 });
    this.extraNs.push(ns);
    await this.must(ns, ["ip", "link", "set", "lo", "up"]);
    return ns;
  }

  /** A veth pair: `aName` in namespace `a`, `bName` in namespace `b` (both down, no address). */
  veth(a: string, aName: string, b: string, bName = "veth0"): void {
    vethPair(a, aName, b, bName);
  }

  /** The third namespace (see RigOptions.inner), its agent and its banner service. */
  async addInner(servicePort: number, route = true): Promise<void> {
    const ns = await this.addNamespace("i");
    this.innerNs = ns;
    vethPair(this.serverNs, "veth1", ns);
    await this.must(this.serverNs, ["ip", "addr", "add", `${GATEWAY_INNER_IP}/24`, "dev", "veth1"]);
    await this.must(this.serverNs, ["ip", "link", "set", "veth1", "up"]);
    await this.must(this.serverNs, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await this.must(ns, ["ip", "addr", "add", `${INNER_IP}/24`, "dev", "veth0"]);
    await this.must(ns, ["ip", "link", "set", "veth0", "up"]);
    if (route) await this.must(ns, ["ip", "route", "add", "default", "via", GATEWAY_INNER_IP]);
    await this.startAgentIn(ns);
    const r = await this.ask(ns, { op: "listen", port: servicePort });
    if (!r.ok) throw new Error(`inner service on ${servicePort}: ${r.error ?? "?"}`);
  }

  /** Start the namespace agent (ns-agent.ts) in `ns` and wait until it is ready. */
  async startAgentIn(ns: string): Promise<void> {
    if (this.agents.has(ns)) return;
    const agent = new Agent(
      this.spawn(ns, [process.execPath, "--import", "tsx", join(__dirname, "ns-agent.ts")]),
    );
    this.agents.set(ns, agent);
    await agent.ready;
  }

  /**
   * One request to the agent in `ns` (ns-agent.ts lists the ops); never throws, never hangs: a
   * failure or a missing answer within `timeoutMs` comes back as { ok: false, error }.
   */
  ask(ns: string, req: Record<string, unknown>, timeoutMs = AGENT_SLACK_MS): Promise<AgentReply> {
    const a = this.agents.get(ns);
    if (a === undefined) return Promise.resolve({ ok: false, error: `no agent in ${ns}` });
    return a.ask(req, timeoutMs);
  }

  /** A TCP service in the server namespace (IPv4 and IPv6) that sends a banner. */
  async startService(port: number): Promise<void> {
    const r = await this.agent("server").ask({ op: "listen", port });
    if (!r.ok) throw new Error(`service on ${port}: ${r.error ?? "?"}`);
  }

  /**
   * A TCP echo service in the server namespace (IPv4 and IPv6): `banner` first, if given, then
   * back whatever arrives; it ends its side when the client ends its own, or after `lines` lines.
   */
  async startEchoService(
    port: number,
    opts: { banner?: string; lines?: number } = {},
  ): Promise<void> {
    const r = await this.agent("server").ask({ op: "echoService", port, ...opts });
    if (!r.ok) throw new Error(`echo service on ${port}: ${r.error ?? "?"}`);
  }

  /**
   * Shape the server namespace like a host (host-shapes.ts), keeping `port` closed to new TCP
   * connections and `spaPort` open for SPA; `rig.host` then says which host it is.
   */
  async defaultDeny(kind: DefaultDeny, port: number, spaPort = 62201): Promise<HostInfo> {
    this.host = await applyHostShape(this, kind, { protectedPort: port, spaPort });
    return this.host;
  }

  /**
   * One more TCP port through the server's nftables default-drop (the `inet admin input` chain
   * defaultDeny("nftables") made), for what the test itself serves or fwknopd's TCP/HTTP SPA.
   */
  async acceptTcp(port: number): Promise<void> {
    await this.must(this.serverNs, [
      ...["nft", "add", "rule", "inet", "admin", "input"],
      ...["tcp", "dport", String(port), "accept"],
    ]);
  }

  private agent(which: "server" | "client"): Agent {
    const a = this.agents.get(which === "server" ? this.serverNs : this.clientNs);
    if (a === undefined) throw new Error("rig is not set up");
    return a;
  }

  /** Does a TCP connect from the client namespace (or, with `from`, the server's) succeed? */
  async tcpConnect(
    host: string,
    port: number,
    timeoutMs = 400,
    from: "client" | "server" = "client",
  ): Promise<boolean> {
    const req = { op: "connect", host, port, timeoutMs };
    return (await this.agent(from).ask(req, timeoutMs + AGENT_SLACK_MS)).ok;
  }

  /** Bind a UDP port (IPv4 and IPv6) in the server namespace and keep what arrives there. */
  async udpListen(port: number): Promise<void> {
    const r = await this.agent("server").ask({ op: "udpListen", port });
    if (!r.ok) throw new Error(`udp listen on ${port}: ${r.error ?? "?"}`);
  }

  /** The datagrams that arrived on a udpListen() port (waiting up to `timeoutMs` for one). */
  async udpReceived(port: number, timeoutMs = 1000): Promise<Buffer[]> {
    const r = await this.agent("server").ask(
      { op: "udpTake", port, timeoutMs },
      timeoutMs + AGENT_SLACK_MS,
    );
    if (!r.ok) throw new Error(`udp take on ${port}: ${r.error ?? "?"}`);
    return (r.list ?? []).map((d) => Buffer.from(d, "base64"));
  }

  /** Connect from the client namespace and read the service's banner; null when it fails. */
  async tcpBanner(host: string, port: number, timeoutMs = 800): Promise<string | null> {
    const req = { op: "connect", host, port, timeoutMs, read: true };
    const r = await this.agent("client").ask(req, timeoutMs + AGENT_SLACK_MS);
    return r.ok ? (r.data ?? "") : null;
  }

  /**
   * Send every payload `repeat` times from the client namespace through one socket (for benches);
   * resolves with the number of datagrams the kernel accepted.
   */
  async sendUdpMany(
    host: string,
    port: number,
    payloads: readonly (string | Buffer)[],
    repeat = 1,
    timeoutMs = 60_000,
  ): Promise<number> {
    const data = payloads.map((p) =>
      (typeof p === "string" ? Buffer.from(p, "latin1") : p).toString("base64"),
    );
    const r = await this.agent("client").ask(
      { op: "udpMany", host, port, data, repeat },
      timeoutMs,
    );
    if (!r.ok) throw new Error(`udp batch failed: ${r.error ?? "?"}`);
    return r.sent ?? 0;
  }

  /**
   * `payloads` in turn from namespace `ns` (default the client's), `rate` a second for `seconds`
   * (the agent's udpRate: <= 1,000,000/s, <= 60 s); resolves with the number sent.
   */
  async sendUdpRate(
    host: string,
    port: number,
    payloads: readonly (string | Buffer)[],
    pace: { rate: number; seconds: number },
    ns = this.clientNs,
  ): Promise<number> {
    const data = payloads.map((p) =>
      (typeof p === "string" ? Buffer.from(p, "latin1") : p).toString("base64"),
    );
    const req = { op: "udpRate", host, port, data, ...pace };
    const r = await this.ask(ns, req, pace.seconds * 1000 + AGENT_SLACK_MS);
    if (!r.ok) throw new Error(`udpRate from ${ns}: ${r.error ?? "?"}`);
    return r.sent ?? 0;
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
    for (const o of this.owned.splice(0)) await o.stop();
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
    for (const o of this.owned.splice(0)) o.stopSync();
    for (const p of this.procs) {
      try {
        if (p.pid !== undefined && p.exitCode === null && p.signalCode === null)
          process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const ns of [...this.extraNs, this.clientNs, this.serverNs]) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore", timeout: 10_000 });
      } catch {
        // never created
      }
    }
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }
}

/** A veth pair from `aName` in namespace `a` to `bName` in namespace `b`. */
function vethPair(a: string, aName: string, b: string, bName = "veth0"): void {
  const argv = [
    "link",
    "add",
    aName,
    "netns",
    a,
    "type",
    "veth",
    "peer",
    "name",
    bName,
    "netns",
    b,
  ];
  execFileSync("ip", argv, { stdio: "ignore", timeout: 10_000 });
}

/** Two namespaces joined by veth, agents running; optionally the service and a default-deny. */
export async function createRig(opts: RigOptions = {}): Promise<Rig> {
  const rig = new Rig();
  try {
    await rig.setUp();
    if (opts.servicePort !== undefined) await rig.startService(opts.servicePort);
    const port = opts.protectedPort ?? opts.servicePort;
    if (opts.deny !== undefined && port !== undefined)
      await rig.defaultDeny(opts.deny, port, opts.spaPort);
    else if (opts.deny !== undefined && opts.deny !== "none")
      throw new Error("createRig: a host shape needs protectedPort or servicePort");
    if (opts.inner !== undefined)
      await rig.addInner(opts.inner.servicePort, opts.inner.innerRoute ?? true);
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
