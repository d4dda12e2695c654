/**
 * The e2e rig (test/e2e/rig.ts) plus what the benches need: many source addresses in the client
 * namespace (198.19.0.0/16, inside the rig's 198.18.0.0/15, routed back through the client's veth
 * address so the server keeps one neighbour entry), the bench agent, junk blasters, and the three
 * daemons side by side (ours on nftables, ours on iptables, C fwknopd 2.6.10 on iptables) with
 * their output in files and their CPU time and RSS read from /proc.
 *
 * Each daemon variant gets its own TCP ports (services started by the rig's server agent), so one
 * rig serves all variants in turn: nftables ports are protected by our own table
 * (NFT_PROTECT_PORTS), iptables ports by a REJECT (tcp-reset) at the end of INPUT, added here in
 * the server namespace. Every firewall change stays inside the rig's namespaces; every process is
 * started through the rig, so its teardown (also on Ctrl-C) kills it by PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  REPO,
  SERVER_IP,
  createRig,
  waitFor,
  type Rig,
  type UdpCounters,
} from "../../test/e2e/rig.js";
import { DAEMON_NODE_FLAGS } from "../../src/server/node-flags.js";
import { accessConf, type BenchKeys } from "./packets.js";
import { summarise } from "./profile-summary.js";

export const SPA_PORT = 62201;
export const C_FWKNOPD = "/usr/sbin/fwknopd";

export type VariantName =
  | "ours-nft"
  | "ours-nft-process"
  | "ours-nft-nometer"
  | "ours-nft-single"
  | "ours-ipt"
  | "c-ipt"
  | "ours-nfq"
  | "ours-nfq-single";

export interface Variant {
  name: VariantName;
  label: string;
  daemon: "ours" | "c";
  fw: "nftables" | "iptables";
  /** Extra fwknopd.conf lines. */
  conf?: string;
  /** Only when asked for by name (--only, bench/nfq.ts): not in the benches' default runs. */
  onRequest?: true;
}

export const VARIANTS: readonly Variant[] = [
  { name: "ours-nft", label: "ours (nftables)", daemon: "ours", fw: "nftables" },
  // Set elements through an `nft -i` process instead of libnftables in-process: what the
  // library buys.
  {
    name: "ours-nft-process",
    label: "ours (nftables, nft -i process)",
    daemon: "ours",
    fw: "nftables",
    conf: "NFT_USE_LIBNFTABLES N;",
  },
  // The kernel meter (NFT_SPA_RATE_LIMIT, by default 50,000/s per address) keeps what one
  // address sends beyond that out of the daemon; this variant turns it off to measure what the
  // daemon itself rejects per second at any rate.
  {
    name: "ours-nft-nometer",
    label: "ours (nftables, no meter)",
    daemon: "ours",
    fw: "nftables",
    conf: "NFT_SPA_RATE_LIMIT 0;",
  },
  // PRIVSEP N: one process, as C; the default variants above run a broker and a packet parser.
  {
    name: "ours-nft-single",
    label: "ours (nftables, PRIVSEP N)",
    daemon: "ours",
    fw: "nftables",
    conf: "PRIVSEP N;",
  },
  { name: "ours-ipt", label: "ours (iptables)", daemon: "ours", fw: "iptables" },
  { name: "c-ipt", label: "C fwknopd 2.6.10 (iptables)", daemon: "c", fw: "iptables" },
  // NFQUEUE capture (ENABLE_NFQ_CAPTURE): nothing listens on the SPA port; bench/nfq.ts.
  {
    name: "ours-nfq",
    label: "ours (NFQUEUE)",
    daemon: "ours",
    fw: "nftables",
    conf: `ENABLE_NFQ_CAPTURE Y;\nNFQ_PORT ${SPA_PORT};`,
    onRequest: true,
  },
  {
    name: "ours-nfq-single",
    label: "ours (NFQUEUE, PRIVSEP N)",
    daemon: "ours",
    fw: "nftables",
    conf: `ENABLE_NFQ_CAPTURE Y;\nNFQ_PORT ${SPA_PORT};\nPRIVSEP N;`,
    onRequest: true,
  },
];

/** Which variants a run includes: --only=ours-nft,c-ipt (default all). */
export function pickVariants(only: string | undefined): Variant[] {
  if (only === undefined) return VARIANTS.filter((v) => v.onRequest !== true);
  const want = only.split(",");
  const out = VARIANTS.filter((v) => want.includes(v.name));
  if (out.length === 0)
    throw new Error(`--only: expected some of ${VARIANTS.map((v) => v.name).join(",")}`);
  return out;
}

/** The i-th extra source address (i from 0): 198.19.1.1, 198.19.1.2, ... */
export function sourceAddress(i: number): string {
  return `198.19.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}
export const MAX_SOURCES = 250 * 250;

export interface ProcStats {
  /** utime + stime of the process (all its threads), seconds. */
  cpuSecs: number;
  rssKb: number;
}

const CLK_TCK = 100;

/** The process and all its descendants (with PRIVSEP, the broker and its packet parser). */
export function processTree(pid: number): number[] {
  let kids: string[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(/\s+/);
  } catch {
    kids = [];
  }
  return [pid, ...kids.filter((k) => k !== "").flatMap((k) => processTree(Number(k)))];
}

/** CPU and RSS of the daemon: its process and its descendants (the privsep parser, gpg, ...). */
export function treeStats(pid: number): ProcStats {
  let cpuSecs = 0;
  let rssKb = 0;
  for (const p of processTree(pid)) {
    try {
      const s = procStats(p);
      cpuSecs += s.cpuSecs;
      rssKb += s.rssKb;
    } catch {
      // It ended between the listing and the read.
    }
  }
  return { cpuSecs, rssKb };
}

export function procStats(pid: number): ProcStats {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return { cpuSecs: (utime + stime) / CLK_TCK, rssKb: Number(rss?.[1] ?? NaN) };
}

interface AgentAnswer {
  id: number;
  ok: boolean;
  error?: string;
  [k: string]: unknown;
}

/** The JSON-lines client of bench/lib/bench-agent.ts. */
class BenchAgent {
  private seq = 0;
  private readonly waiting = new Map<number, (a: AgentAnswer) => void>();
  readonly ready: Promise<boolean>;

  constructor(private readonly proc: ChildProcess) {
    const stdout = proc.stdout;
    if (stdout === null) throw new Error("bench agent has no stdout");
    this.ready = new Promise((resolve) => {
      this.waiting.set(0, (a) => {
        resolve(a.ok);
      });
      setTimeout(() => {
        resolve(false);
      }, 15_000).unref();
    });
    createInterface({ input: stdout }).on("line", (line) => {
      let a: AgentAnswer;
      try {
        a = JSON.parse(line) as AgentAnswer;
      } catch {
        return;
      }
      const done = this.waiting.get(a.id);
      this.waiting.delete(a.id);
      done?.(a);
    });
    proc.once("exit", () => {
      for (const [id, done] of this.waiting) done({ id, ok: false, error: "bench agent exited" });
      this.waiting.clear();
    });
  }

  ask(req: Record<string, unknown>, timeoutMs: number): Promise<AgentAnswer> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, ok: false, error: `bench agent gave no answer in ${timeoutMs} ms` });
      }, timeoutMs);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.proc.stdin?.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }
}

export interface Probe {
  from: string;
  wire: string;
}

export interface GrantRun {
  sentMs: Array<number | null>;
  openMs: Array<number | null>;
  attempts: number;
}

export class BenchRig {
  private sources = 0;
  private agent: BenchAgent | null = null;
  private readonly denied = new Set<number>();

  private constructor(readonly rig: Rig) {}

  static async create(): Promise<BenchRig> {
    const rig = await createRig();
    const b = new BenchRig(rig);
    try {
      await rig.must(rig.serverNs, ["ip", "route", "add", "198.19.0.0/16", "via", rig.clientIp]);
      const p = rig.spawn(rig.clientNs, [
        process.execPath,
        "--import",
        "tsx",
        join(__dirname, "bench-agent.ts"),
      ]);
      b.agent = new BenchAgent(p);
      if (!(await b.agent.ready)) throw new Error("bench agent did not start");
    } catch (e) {
      await rig.teardown();
      throw e;
    }
    return b;
  }

  /** Make sure sourceAddress(0 .. n-1) exist on the client's veth. */
  async ensureSources(n: number): Promise<string[]> {
    if (n > MAX_SOURCES) throw new Error(`at most ${MAX_SOURCES} source addresses`);
    if (n > this.sources) {
      const lines: string[] = [];
      for (let i = this.sources; i < n; i++)
        lines.push(`addr add ${sourceAddress(i)}/32 dev veth0`);
      const r = await this.rig.run(this.rig.clientNs, ["ip", "-batch", "-"], {
        input: `${lines.join("\n")}\n`,
        timeoutMs: 120_000,
      });
      if (r.code !== 0) throw new Error(`adding source addresses failed: ${r.stderr}`);
      this.sources = n;
    }
    return Array.from({ length: n }, (_, i) => sourceAddress(i));
  }

  /** A banner service on each port; iptables-protected ones get a REJECT at the end of INPUT. */
  async services(ports: readonly number[], iptablesDeny: boolean): Promise<void> {
    for (const port of ports) {
      await this.rig.startService(port);
      if (iptablesDeny && !this.denied.has(port)) {
        await this.rig.defaultDeny("iptables", port);
        this.denied.add(port);
      }
    }
  }

  serverUdp(): Promise<UdpCounters> {
    return this.rig.udpCounters(this.rig.serverNs);
  }

  async latency(
    port: number,
    items: readonly Probe[],
    timeoutMs: number,
  ): Promise<Array<number | null>> {
    const a = await this.ask(
      { op: "latency", host: SERVER_IP, port, spaPort: SPA_PORT, items: b64(items), timeoutMs },
      items.length * (timeoutMs + 1000) + 10_000,
    );
    return a.ms as Array<number | null>;
  }

  async grants(
    port: number,
    items: readonly Probe[],
    rate: number,
    deadlineMs: number,
    concurrency = 32,
  ): Promise<GrantRun> {
    const a = await this.ask(
      {
        op: "grants",
        host: SERVER_IP,
        port,
        spaPort: SPA_PORT,
        items: b64(items),
        rate,
        deadlineMs,
        concurrency,
      },
      (items.length / rate) * 1000 + deadlineMs + 30_000,
    );
    return a as unknown as GrantRun;
  }

  private async ask(req: Record<string, unknown>, timeoutMs: number): Promise<AgentAnswer> {
    if (this.agent === null) throw new Error("bench rig is not set up");
    const a = await this.agent.ask(req, timeoutMs);
    if (!a.ok) throw new Error(`bench agent: ${a.error ?? "failed"}`);
    return a;
  }

  /**
   * Junk from the client's main address: `procs` blaster processes, each at rate/procs datagrams
   * a second (0: as fast as it can), for `seconds`. Resolves with the total the kernel accepted.
   */
  async blast(
    payloads: readonly Buffer[],
    rate: number,
    seconds: number,
    procs = 1,
  ): Promise<number> {
    const dir = this.rig.tempDir("fwkts-junk-");
    const file = join(dir, "junk.txt");
    writeFileSync(file, payloads.map((p) => p.toString("base64")).join("\n"));
    const one = JSON.stringify({
      host: SERVER_IP,
      port: SPA_PORT,
      rate: rate / procs,
      seconds,
      file,
    });
    const runs = await Promise.all(
      Array.from({ length: procs }, () =>
        this.rig.run(
          this.rig.clientNs,
          [process.execPath, "--import", "tsx", join(__dirname, "blaster.ts"), one],
          { timeoutMs: (seconds + 30) * 1000 },
        ),
      ),
    );
    let sent = 0;
    for (const r of runs) {
      if (r.code !== 0) throw new Error(`blaster failed: ${r.stderr}`);
      sent += (JSON.parse(r.stdout) as { sent: number }).sent;
    }
    return sent;
  }

  async startDaemon(
    v: Variant,
    keys: BenchKeys,
    ports: readonly number[],
    opts: DaemonOptions = {},
  ) {
    const d = new BenchDaemon(this.rig, v, keys, ports, opts);
    await d.start();
    return d;
  }

  teardown(): Promise<void> {
    return this.rig.teardown();
  }
}

const b64 = (items: readonly Probe[]): Probe[] =>
  items.map((i) => ({ from: i.from, wire: Buffer.from(i.wire, "latin1").toString("base64") }));

export interface DaemonOptions {
  /** Ours only: more fwknopd.conf lines. */
  conf?: string;
  /** The whole access.conf (default: the one stanza of accessConf). */
  access?: string;
  /** FW_ACCESS_TIMEOUT, seconds (long enough that grants outlive the verification). */
  grantSecs?: number;
  /** Run with -t (no firewall changes). */
  testMode?: boolean;
  /** Use this digest cache file (C format). */
  digestFile?: string;
  /** Ours only: write a V8 CPU profile into this directory at exit. */
  cpuProfDir?: string;
  /** Ours only: node flags before bin/fwknopd; by default the shipped ones (DAEMON_NODE_FLAGS). */
  nodeFlags?: readonly string[];
}

/** --profile=DIR: our daemons write a CPU profile into a fresh folder below DIR, summarised at stop. */
export function profileOption(flags: Map<string, string>, v: Variant): DaemonOptions {
  const base = flags.get("profile");
  if (base === undefined || v.daemon !== "ours") return {};
  mkdirSync(base, { recursive: true });
  return { cpuProfDir: mkdtempSync(join(base, `${v.name}-`)) };
}

/**
 * --node-flags="--a --b": node flags for our daemons (ignored for C's); absent, the flags the
 * daemon is shipped with (systemd unit, background child); --node-flags= (empty) for none.
 */
export function nodeFlagsOption(flags: Map<string, string>): readonly string[] {
  const given = flags.get("node-flags");
  if (given === undefined) return DAEMON_NODE_FLAGS;
  return given.split(/\s+/).filter((f) => f !== "");
}

/** One daemon in the server namespace, output to a file, stopped by PID. */
export class BenchDaemon {
  readonly dir: string;
  readonly logFile: string;
  private proc: ChildProcess | null = null;

  constructor(
    private readonly rig: Rig,
    readonly variant: Variant,
    keys: BenchKeys,
    ports: readonly number[],
    private readonly opts: DaemonOptions,
  ) {
    this.dir = rig.tempDir(`fwkts-bench-${variant.name}-`);
    this.logFile = join(this.dir, "daemon.log");
    mkdirSync(join(this.dir, "run"), { mode: 0o700 });
    const access = opts.access ?? accessConf(keys, ports, opts.grantSecs ?? 120);
    writeFileSync(join(this.dir, "access.conf"), access, { mode: 0o600 });
    const conf = [
      "ENABLE_UDP_SERVER Y;",
      `UDPSERV_PORT ${SPA_PORT};`,
      "PCAP_INTF veth0;",
      "MAX_SPA_PACKET_AGE 120;",
      `FWKNOP_RUN_DIR ${join(this.dir, "run")};`,
    ];
    if (variant.daemon === "ours")
      conf.push(
        (variant.fw === "nftables"
          ? "FIREWALL_TYPE nftables;\nNFT_PROTECT_PORTS Y;"
          : "FIREWALL_TYPE iptables;\nFIREWALL_EXE /usr/sbin/iptables;") +
          (variant.conf !== undefined ? `\n${variant.conf}` : "") +
          (opts.conf !== undefined ? `\n${opts.conf}` : ""),
      );
    writeFileSync(join(this.dir, "fwknopd.conf"), `${conf.join("\n")}\n`, { mode: 0o600 });
  }

  argv(): string[] {
    const conf = ["-c", join(this.dir, "fwknopd.conf"), "-a", join(this.dir, "access.conf")];
    const digest = this.opts.digestFile !== undefined ? ["-d", this.opts.digestFile] : [];
    const test = this.opts.testMode === true ? ["-t"] : [];
    if (this.variant.daemon === "c")
      return [
        C_FWKNOPD,
        "-f",
        "-U",
        ...conf,
        "-p",
        join(this.dir, "run", "fwknopd.pid"),
        ...(digest.length > 0 ? digest : ["-d", join(this.dir, "run", "digest.cache")]),
        ...test,
      ];
    const prof =
      this.opts.cpuProfDir !== undefined
        ? ["--cpu-prof", `--cpu-prof-dir=${this.opts.cpuProfDir}`]
        : [];
    return [
      process.execPath,
      ...prof,
      ...(this.opts.nodeFlags ?? DAEMON_NODE_FLAGS),
      join(REPO, "bin", "fwknopd"),
      "-f",
      ...conf,
      ...digest,
      ...test,
    ];
  }

  /** Spawn and wait until the UDP socket is bound (both daemons bind after the firewall is set up). */
  async start(): Promise<number> {
    const t0 = performance.now();
    const fd = openSync(this.logFile, "a", 0o600);
    const p = spawn("ip", ["netns", "exec", this.rig.serverNs, ...this.argv()], {
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    this.rig.track(p);
    this.proc = p;
    const exited = (): boolean => p.exitCode !== null || p.signalCode !== null;
    const nfq = this.variant.conf?.includes("ENABLE_NFQ_CAPTURE Y") === true;
    const bound = await waitFor(
      async () => {
        if (exited()) return true;
        // Nothing binds the port with NFQUEUE capture: its start-up line says when it reads.
        if (nfq) return /Listening: NFQUEUE capture/.test(this.logTail());
        const r = await this.rig.run(this.rig.serverNs, ["ss", "-Hlun", `sport = :${SPA_PORT}`]);
        return r.stdout.includes(`:${SPA_PORT}`);
      },
      30_000,
      20,
    );
    if (!bound || exited())
      throw new Error(`${this.variant.label} did not start:\n${this.logTail()}`);
    return performance.now() - t0;
  }

  get pid(): number {
    const pid = this.proc?.pid;
    if (pid === undefined) throw new Error("daemon not started");
    return pid;
  }

  stats(): ProcStats {
    return treeStats(this.pid);
  }

  logTail(bytes = 4000): string {
    try {
      const t = readFileSync(this.logFile, "latin1");
      return t.slice(-bytes);
    } catch {
      return "";
    }
  }

  /** Lines of the log matching `re` (for counting grants). */
  countLog(re: RegExp): number {
    return this.logLines(re).length;
  }

  logLines(re: RegExp): string[] {
    try {
      return readFileSync(this.logFile, "latin1")
        .split("\n")
        .filter((l) => re.test(l));
    } catch {
      return [];
    }
  }

  /** SIGTERM (ordered shutdown flushes its firewall rules), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    if (!(await waitFor(() => p.exitCode !== null || p.signalCode !== null, 10_000, 20)))
      p.kill("SIGKILL");
    const dir = this.opts.cpuProfDir;
    if (dir !== undefined)
      for (const f of readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")))
        console.log(`\n${this.variant.label}, CPU profile:\n${summarise(join(dir, f), 25)}`);
  }
}

/** Create a rig, run `fn`, tear the rig down whatever happens. */
export async function withBenchRig<T>(fn: (b: BenchRig) => Promise<T>): Promise<T> {
  const b = await BenchRig.create();
  try {
    return await fn(b);
  } finally {
    await b.teardown();
  }
}

/** The TCP port a variant uses for a bench phase: one port per (variant, phase). */
export function variantPort(v: Variant, phase: number): number {
  return 2000 + 10 * VARIANTS.findIndex((x) => x.name === v.name) + phase;
}

/** What a bench phase works with: the rig, the daemon under test and the keys it accepts. */
export interface Ctx {
  b: BenchRig;
  v: Variant;
  d: BenchDaemon;
  keys: BenchKeys;
}

/**
 * For each variant in turn: services on its ports for `phases` (1-based phase numbers), the
 * daemon started (grants live `grantSecs`, a CPU profile with --profile), `fn`, the daemon
 * stopped whatever happens. Results by variant name.
 */
export async function eachVariant<R>(
  b: BenchRig,
  variants: readonly Variant[],
  keys: BenchKeys,
  phases: readonly number[],
  flags: Map<string, string>,
  fn: (ctx: Ctx, ports: number[]) => Promise<R>,
): Promise<Map<VariantName, R>> {
  const out = new Map<VariantName, R>();
  for (const v of variants) {
    const ports = phases.map((p) => variantPort(v, p));
    await b.services(ports, v.fw === "iptables");
    const d = await b.startDaemon(v, keys, ports, {
      grantSecs: 300,
      ...profileOption(flags, v),
      nodeFlags: nodeFlagsOption(flags),
    });
    try {
      out.set(v.name, await fn({ b, v, d, keys }, ports));
    } finally {
      await d.stop();
    }
  }
  return out;
}
