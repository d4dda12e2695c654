/**
 * fwknopd serving: in the foreground (-f), or as the detached child of a daemonising parent
 * (--daemon-child) that returns once the child says it is serving, or with the child's reason.
 * Node has no fork(): the parent starts this script again (exec.ts:forkDetached).
 */
import { mkdirSync } from "node:fs";
import { exitStatusOf, messageOf } from "../errors.js";
import { forkDetached } from "../exec.js";
import { Daemon } from "../server/daemon/daemon.js";
import { NO_METRICS } from "../server/metrics/daemon-metrics.js";
import { BrokerLink } from "../server/privsep/broker-link.js";
import { gpgHomeProblem } from "../server/privsep/run-as.js";
import { startMetricsServer, type MetricsServer } from "../server/metrics/http.js";
import { prometheusMetrics, type PrometheusMetrics } from "../server/metrics/prometheus.js";
import { resolveFirewall } from "../server/firewall-choice.js";
import { countedProblem, destinationRuleProblem } from "../server/firewall-config.js";
import { loadConfig, type LoadedConfig } from "../server/load-config.js";
import { createLogger, type Logger } from "../server/log.js";
import { daemonExecArgv } from "../server/node-flags.js";
import { logWithConfig } from "../server/log-config.js";
import type { ServerArgs } from "../server/options.js";
import { acquirePidFile, releasePidFile } from "../server/pid-file.js";
import { runDirProblem } from "../server/run-dir.js";
import {
  notifyReady,
  notifyReloading,
  notifyStopping,
  type NotifyOutcome,
} from "../server/sd-notify.js";
import { rotateDigestCache } from "../server/replay/replay-cache.js";
import { FWKNOP_TS_VERSION } from "../version.js";

const nowSecs = (): number => Math.floor(Date.now() / 1000);

/** What the detached child tells its parent: serving, or why not. */
interface ChildReport {
  ready?: boolean;
  error?: string;
  /** The exit status the child would have had in the foreground (errors.ts, by blame). */
  status?: number;
}

/** The configuration with its warnings logged. */
export function loadLogged(
  args: ServerArgs,
  log: (s: string) => void,
  opts: { accessOptional?: boolean } = {},
): LoadedConfig {
  const cfg = loadConfig(args, opts);
  for (const w of cfg.warnings) log(w);
  return cfg;
}

/** One running daemon: its configuration, signals, and an ordered shutdown. */
class Service {
  private stopping = false;
  private resolveDone: (code: number) => void = () => undefined;
  readonly done = new Promise<number>((r) => (this.resolveDone = r));
  readonly daemon: Daemon;
  private readonly prometheus: PrometheusMetrics | null;
  private metricsServer: MetricsServer | null = null;
  /** PRIVSEP Y: the packet parser process and the pipe to it. */
  private readonly parser: BrokerLink | null;

  constructor(
    private cfg: LoadedConfig,
    private readonly args: ServerArgs,
    private readonly logger: Logger,
  ) {
    this.prometheus =
      cfg.conf.value("METRICS_LISTEN") === null
        ? null
        : prometheusMetrics({
            activeGrants: () => this.daemon.liveGrants().length,
            replayCacheEntries: () => this.daemon.replayEntries,
          });
    this.daemon = new Daemon(cfg.daemon, {
      nowSecs,
      nowMs: () => Date.now(),
      logger,
      onLimit: () => void this.shutdown("packet limit"),
      ...(this.prometheus !== null ? { metrics: this.prometheus.metrics } : {}),
      receive: cfg.daemon.privsep === null,
    });
    const privsep = cfg.daemon.privsep;
    this.parser =
      privsep === null
        ? null
        : new BrokerLink(this.daemon, privsep, {
            nowSecs,
            logger,
            metrics: this.prometheus?.metrics ?? NO_METRICS,
            onLimit: () => void this.shutdown("packet limit"),
          });
  }

  /** METRICS_LISTEN: /metrics and /healthz once the daemon serves (a taken port stops the start). */
  private async startMetrics(): Promise<void> {
    const at = this.cfg.conf.value("METRICS_LISTEN");
    if (this.prometheus === null || at === null) return;
    this.metricsServer = await startMetricsServer(at.host, at.port, this.prometheus.registry, () =>
      this.daemon.health(),
    );
    this.logger.log("info", `Metrics: ${this.metricsServer.url}/metrics and /healthz`);
  }

  async shutdown(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.event("info", "stop", { reason: why }, `Shutting Down fwknopd (${why}).`);
    this.tellSystemd(notifyStopping());
    try {
      await this.metricsServer?.close();
      await this.parser?.stop();
      await this.daemon.stop();
    } catch (e) {
      this.logger.log("err", `error during shutdown: ${messageOf(e)}`);
    }
    releasePidFile(this.cfg.daemon.pidFile);
    this.logger.close();
    this.resolveDone(0);
  }

  /** SIGHUP: the new configuration, or the running one kept with the reason logged. */
  reload(): void {
    this.tellSystemd(notifyReloading());
    try {
      const cfg = loadConfig(this.args);
      servable(cfg);
      logWithConfig(this.logger, cfg);
      this.cfg = cfg;
      this.daemon.reload(this.cfg.daemon);
      this.parser?.reload();
      // The backend stays; what changed on the host since the start is said (issue 11, -R).
      if (!this.args.test)
        resolveFirewall(this.cfg, false, (level, line) => {
          this.logger.log(level, line);
        }).catch((e: unknown) => {
          this.logger.log("err", `After reload: ${messageOf(e)}`);
        });
    } catch (e) {
      const why = messageOf(e);
      const text = `Reload failed, keeping the running configuration: ${why}`;
      this.logger.event("err", "reload_failed", { reason: why }, text);
    }
    this.tellSystemd(notifyReady());
  }

  /** sd_notify (systemd Type=notify): said only when systemd asked for it and it did not go. */
  tellSystemd(p: Promise<NotifyOutcome>): void {
    void p.then((o) => {
      if (!o.sent && process.env.NOTIFY_SOCKET !== undefined)
        this.logger.log("warning", `Could not tell systemd: ${o.how}`);
    });
  }

  listen(): void {
    process.on("SIGTERM", () => void this.shutdown("SIGTERM"));
    process.on("SIGINT", () => void this.shutdown("SIGINT"));
    process.on("SIGUSR1", () => undefined);
    process.on("SIGUSR2", () => undefined);
    process.on("SIGHUP", () => {
      this.reload();
    });
  }

  async start(): Promise<void> {
    this.logger.event(
      "info",
      "start",
      {},
      `Starting fwknopd ${FWKNOP_TS_VERSION} (fwknop-ts), firewall: ${this.cfg.firewallType}, ${this.cfg.daemon.stanzas.length} access stanza(s)`,
    );
    try {
      await this.daemon.start();
      await this.parser?.start();
      await this.startMetrics();
      if (this.args.pcapFile !== null) {
        await this.daemon.processPcapFile(this.args.pcapFile);
        void this.shutdown("end of pcap file");
      }
    } catch (e) {
      const why = messageOf(e);
      this.logger.event("err", "start_failed", { reason: why }, `fwknopd failed to start: ${why}`);
      await this.metricsServer?.close();
      await this.parser?.stop().catch(() => undefined);
      await this.daemon.stop().catch(() => undefined);
      releasePidFile(this.cfg.daemon.pidFile);
      throw e;
    }
  }
}

/** What only a serving daemon needs of its configuration (not --fw-list or --status). */
function servable(cfg: LoadedConfig): void {
  const p = cfg.daemon.privsep;
  const gpgHome = p === null ? null : gpgHomeProblem(cfg.daemon.stanzas, p);
  if (gpgHome !== null) throw gpgHome;
}

/** Everything before the daemon starts: configuration, firewall plan, run dir, pid file. */
async function prepare(args: ServerArgs, logger: Logger): Promise<LoadedConfig> {
  const info = (s: string): void => {
    logger.log("info", s);
  };
  let cfg = loadConfig(args);
  logWithConfig(logger, cfg);
  const runDir = runDirProblem(cfg.conf);
  if (runDir !== null) throw runDir;
  if (!args.test)
    cfg = await resolveFirewall(cfg, args.forceFirewall, (level, line) => {
      logger.log(level, line);
    });
  const problem =
    countedProblem(cfg.stanzas, cfg.firewallType) ??
    destinationRuleProblem(cfg.conf, cfg.stanzas, cfg.firewallType);
  if (problem !== null) throw problem;
  servable(cfg);
  mkdirSync(cfg.daemon.runDir, { recursive: true, mode: 0o700 });
  if (args.rotateDigestCache && rotateDigestCache(cfg.daemon.digestFile))
    info(`Rotated digest cache to ${cfg.daemon.digestFile}-old`);
  acquirePidFile(cfg.daemon.pidFile);
  return cfg;
}

/** Tell a daemonising parent how the start went, then let it go. */
function report(r: ChildReport): void {
  if (process.send === undefined) return;
  process.send(r);
  process.disconnect();
}

export async function serve(args: ServerArgs, argv: readonly string[]): Promise<number> {
  const foreground = args.foreground || args.test || args.pcapFile !== null;
  if (!foreground && !args.daemonChild) return daemonize(argv);
  const logger = createLogger({
    stderr: foreground,
    syslog: !foreground || args.syslogEnable,
    verbosity: args.verbose,
  });
  let service: Service;
  try {
    service = new Service(await prepare(args, logger), args, logger);
    service.listen();
    await service.start();
  } catch (e) {
    // Whatever stopped the start (a config error included) reaches the parent, which prints it
    // and exits at once; the open IPC channel would otherwise keep this child alive.
    report({ error: messageOf(e), status: exitStatusOf(e) });
    logger.close();
    throw e;
  }
  report({ ready: true });
  service.tellSystemd(notifyReady());
  return service.done;
}

/** How long a daemonising parent waits for its child's word (firewalld can take seconds). */
const CHILD_ANSWER_MS = 30_000;

/**
 * Start ourselves again in the background (exec.ts:forkDetached); return once it is serving.
 * A child that could not start says why and the parent prints it as -f would, with the same
 * exit status; one that says nothing in time is ended, so no half-started daemon stays behind.
 */
async function daemonize(argv: readonly string[]): Promise<number> {
  const script = process.argv[1] ?? "";
  const flags = daemonExecArgv(process.execArgv, process.env.NODE_OPTIONS);
  const child = forkDetached(script, [...argv, "--daemon-child"], flags);
  const msg = await new Promise<ChildReport>((resolve) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({
        error: `failed to start in the background: no answer within ${CHILD_ANSWER_MS / 1000} s (run with -f to see why)`,
      });
    }, CHILD_ANSWER_MS);
    child.once("message", (m) => {
      clearTimeout(t);
      resolve(m as ChildReport);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(t);
      resolve({
        error: `failed to start in the background: exited with ${signal ?? `status ${code ?? "?"}`} (run with -f to see why)`,
        status: code ?? 1,
      });
    });
  });
  child.unref();
  if (child.connected) child.disconnect();
  if (msg.ready === true) return 0;
  const text = msg.error ?? "failed to start in the background (run with -f to see why)";
  process.stderr.write(`${text.startsWith("fwknopd") ? text : `fwknopd: ${text}`}\n`);
  return msg.status !== undefined && msg.status !== 0 ? msg.status : 1;
}
