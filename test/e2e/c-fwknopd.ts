/**
 * Runs the real C fwknopd (Debian 2.6.10, built for /usr/sbin/iptables = iptables-nft) inside a
 * rig's server namespace, in UDP-server mode (no pcap), with its config, access, pid and digest
 * files in a temporary directory that the rig removes at teardown.
 *
 *   const d = new CFwknopd(rig, { access: "SOURCE ANY\n...", conf: "...", testMode: true });
 *   await d.start();                       // resolves once the UDP socket is bound
 *   const at = d.mark();
 *   await d.waitForLog(/Added access rule/, 5000, at);
 *   await d.stop();                        // SIGTERM to its PID, SIGKILL after 5 s
 *
 * What it prints in the foreground with -f -v -v (observed here, iptables, UDP server):
 * - start, in this order (test mode skips the firewall lines and prints "Kicking off" earlier):
 *     "Starting fwknopd"
 *     "Using Digest Cache: '<run dir>/digest.cache' (entry count = 0)"
 *     "Added jump rule from chain: INPUT to chain: FWKNOP_INPUT"
 *     "iptables 'comment' match is available"
 *     "Kicking off UDP server to listen on port 62201."
 *   The last line comes just before bind(), so start() also waits for the socket (`ss`).
 * - a packet arrives and is decoded by a stanza:
 *     "udp_server: Got UDP datagram (225 bytes) from: 198.18.0.2"
 *     "(stanza #1) SPA Packet from IP: 198.18.0.2 received with access source match"
 *     "[198.18.0.2] (stanza #1) SPA Decode (res=0):"   (then a field dump)
 * - the rule is added (one line per proto/port):
 *     "Added access rule to FWKNOP_INPUT for 198.18.0.2 -> 0.0.0.0/0 tcp/1234, expires at <epoch>"
 *   printed after `iptables -A` returned, so the port can be open a moment before the line.
 * - the rule expires (its check runs on the UDP loop, within ~1 s of the expiry time):
 *     "Removed rule 1 from FWKNOP_INPUT with expire time of <epoch>"
 * - the same packet again (not in -t mode):
 *     "Replay detected from source IP: 198.18.0.2, Destination proto/port: 17/62201, ..."
 * - test mode (-t): a packet that decoded and passed every stanza check (source, key, HMAC, age,
 *   REQUIRE_USERNAME, OPEN_PORTS) gives, instead of the rule,
 *     "[198.18.0.2] (stanza #3) --test mode enabled, skipping firewall manipulation."
 *   and processing continues with the next stanza; the digest is not cached, so replays pass too.
 * - a stanza that does not take the packet (each line is preceded by "(stanza #N) SPA Packet from
 *   IP: ... received with access source match"; processing goes on with the next stanza):
 *     "[198.18.0.2] (stanza #2) Error creating fko context: Args contain invalid data:
 *      FKO_ERROR_INVALID_DATA_HMAC_COMPAREFAIL"                       (another HMAC key)
 *     "[198.18.0.2] (stanza #5) Error creating fko context: Decryption failed or decrypted data is
 *      invalid"                                                         (another mode or key)
 *     "[198.18.0.2] (stanza #1) Username in SPA data (alice) does not match required username: bob"
 *     "[198.18.0.2] (stanza #4) One or more requested protocol/ports was denied per access.conf."
 *   (2.6.10 did not print "Non-corresponding HMAC for this stanza" for a wrong HMAC key here.)
 * - SIGTERM: "udp_server: terminating signal received, will stop." then "Shutting Down fwknopd."
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor, type Rig } from "./rig.js";

export const C_FWKNOPD = "/usr/sbin/fwknopd";

export interface CFwknopdOptions {
  /** Extra fwknopd.conf lines; the UDP server, its port, run dir and interface are set here. */
  conf?: string;
  /** access.conf, verbatim. */
  access: string;
  /** Run with -t: decode and check packets, change no firewall. */
  testMode?: boolean;
  /** UDPSERV_PORT; default 62201. */
  port?: number;
  /** Appended to the command line after the harness's own flags. */
  extraArgs?: readonly string[];
  /**
   * Capture with libpcap on veth0 through this PCAP_FILTER instead of the UDP server (C's default
   * filter is "udp port 62201", which admits neither -P tcpraw nor -P icmp). It is started once
   * it prints "Starting fwknopd main event loop." (after pcap_open_live and the filter).
   */
  pcapFilter?: string;
}

export class CFwknopd {
  private output = "";
  private proc: ChildProcess | null = null;
  private exited = false;
  readonly dir: string;
  readonly confFile: string;
  readonly accessFile: string;
  readonly pidFile: string;
  readonly digestFile: string;
  readonly port: number;

  constructor(
    private readonly rig: Rig,
    private readonly opts: CFwknopdOptions,
  ) {
    this.dir = rig.tempDir("c-fwknopd-");
    this.confFile = join(this.dir, "fwknopd.conf");
    this.accessFile = join(this.dir, "access.conf");
    this.pidFile = join(this.dir, "run", "fwknopd.pid");
    this.digestFile = join(this.dir, "run", "digest.cache");
    this.port = opts.port ?? 62201;
  }

  /** The full command line (argv) the daemon runs with. */
  argv(): string[] {
    const argv = [C_FWKNOPD, "-f", "-v", "-v"];
    // -U (UDP-server mode) would override PCAP_FILTER's capture.
    if (this.opts.pcapFilter === undefined) argv.push("-U");
    argv.push("-c", this.confFile, "-a", this.accessFile);
    argv.push("-p", this.pidFile, "-d", this.digestFile);
    if (this.opts.testMode === true) argv.push("-t");
    argv.push(...(this.opts.extraArgs ?? []));
    return argv;
  }

  async start(): Promise<void> {
    if (this.proc !== null) throw new Error("C fwknopd already started");
    const run = join(this.dir, "run");
    mkdirSync(run, { mode: 0o700, recursive: true });
    const pcap = this.opts.pcapFilter;
    writeFileSync(
      this.confFile,
      [
        pcap === undefined ? "ENABLE_UDP_SERVER Y;" : `PCAP_FILTER ${pcap};`,
        `UDPSERV_PORT ${this.port};`,
        "PCAP_INTF veth0;",
        `FWKNOP_RUN_DIR ${run};`,
        this.opts.conf ?? "",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    writeFileSync(this.accessFile, this.opts.access, { mode: 0o600 });
    const p = this.rig.spawn(this.rig.serverNs, this.argv());
    this.proc = p;
    p.once("exit", () => (this.exited = true));
    p.stdout?.on("data", (d: Buffer) => (this.output += d.toString("latin1")));
    p.stderr?.on("data", (d: Buffer) => (this.output += d.toString("latin1")));
    const ready =
      pcap === undefined ? "Kicking off UDP server" : "Starting fwknopd main event loop";
    const up = await waitFor(() => this.output.includes(ready) || this.exited, 10_000);
    if (!up || this.exited) throw new Error(`C fwknopd did not start:\n${this.output}`);
    if (pcap !== undefined) return;
    // That line comes just before bind(), so wait for the socket itself.
    const bound = await waitFor(async () => {
      const r = await this.rig.run(this.rig.serverNs, ["ss", "-Hlun", `sport = :${this.port}`]);
      return r.stdout.includes(`:${this.port}`) || this.exited;
    }, 5000);
    if (!bound || !this.running)
      throw new Error(`C fwknopd never bound UDP port ${this.port}:\n${this.output}`);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== null && !this.exited;
  }

  /** Everything it printed so far (stdout and stderr, in arrival order). */
  logs(): string {
    return this.output;
  }

  /** A position in logs(), to look only at what comes after it. */
  mark(): number {
    return this.output.length;
  }

  /** Does a line matching `re` appear (after `since`) within `timeoutMs`? */
  waitForLog(re: RegExp, timeoutMs: number, since = 0): Promise<boolean> {
    return waitFor(() => re.test(this.output.slice(since)), timeoutMs, 20);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p !== null && !this.exited) {
      p.kill("SIGTERM");
      if (!(await waitFor(() => this.exited, 5000))) {
        p.kill("SIGKILL");
        await waitFor(() => this.exited, 2000);
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
