/**
 * Runs the real C fwknopd (Debian 2.6.10) inside a rig's server namespace, in UDP-server mode (no
 * pcap), with config files written to a temporary directory. Lines it prints that tests rely on
 * (seen with -f -v -v):
 *   "udp_server: Got UDP datagram (225 bytes) from: 198.18.0.2"
 *   "(stanza #1) SPA Packet from IP: 198.18.0.2 received with access source match"
 *   "Added access rule to FWKNOP_INPUT for 198.18.0.2 -> 0.0.0.0/0 tcp/1234, expires at 1795592972"
 *   "Removed rule 1 from FWKNOP_INPUT with expire time of 1795592972"
 *   "[198.18.0.2] (stanza #3) --test mode enabled, skipping firewall manipulation."   (with -t)
 *   "Kicking off UDP server to listen on port 62201."   (printed just before it binds)
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor, type Rig } from "./rig.js";

export interface CFwknopdOptions {
  /** Extra fwknopd.conf lines; the UDP server, run dir and interface are set here. */
  conf?: string;
  access: string;
  testMode?: boolean;
  port?: number;
}

export class CFwknopd {
  private output = "";
  private proc: ChildProcess | null = null;
  readonly dir: string;

  constructor(
    private readonly rig: Rig,
    private readonly opts: CFwknopdOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "c-fwknopd-"));
  }

  async start(): Promise<void> {
    const run = join(this.dir, "run");
    mkdirSync(run, { mode: 0o700 });
    const conf = join(this.dir, "fwknopd.conf");
    const access = join(this.dir, "access.conf");
    const port = this.opts.port ?? 62201;
    writeFileSync(
      conf,
      [
        "ENABLE_UDP_SERVER Y;",
        `UDPSERV_PORT ${port};`,
        "PCAP_INTF veth0;",
        `FWKNOP_RUN_DIR ${run};`,
        this.opts.conf ?? "",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    writeFileSync(access, this.opts.access, { mode: 0o600 });
    const argv = ["fwknopd", "-f", "-v", "-v", "-c", conf, "-a", access];
    argv.push("-p", join(run, "fwknopd.pid"), "-d", join(run, "digest.cache"));
    if (this.opts.testMode === true) argv.push("-t");
    const p = this.rig.spawn(this.rig.serverNs, argv);
    this.proc = p;
    p.stdout?.on("data", (d: Buffer) => (this.output += d.toString("latin1")));
    p.stderr?.on("data", (d: Buffer) => (this.output += d.toString("latin1")));
    const up = await waitFor(
      () => this.output.includes("Starting fwknopd") || p.exitCode !== null,
      10_000,
    );
    if (!up || p.exitCode !== null) throw new Error(`C fwknopd did not start:\n${this.output}`);
    // It logs that line just before bind(), so wait for the socket itself.
    const bound = await waitFor(async () => {
      const r = await this.rig.run(this.rig.serverNs, ["ss", "-Hlun", `sport = :${port}`]);
      return r.stdout.includes(`:${port}`);
    }, 5000);
    if (!bound) throw new Error(`C fwknopd never bound UDP port ${port}:\n${this.output}`);
  }

  logs(): string {
    return this.output;
  }

  waitForLog(re: RegExp, timeoutMs: number): Promise<boolean> {
    return waitFor(() => re.test(this.output), timeoutMs);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p !== null && p.exitCode === null) {
      p.kill("SIGTERM");
      if (!(await waitFor(() => p.exitCode !== null, 5000))) p.kill("SIGKILL");
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
