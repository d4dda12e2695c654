/**
 * fwknopd: the SPA server. main() returns the exit code. Foreground (-f) logs to stderr; without
 * -f the process re-starts itself detached and the parent returns once the child is serving.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stanzaSummary } from "../config/access-conf.js";
import { ConfigError, FwknopTsError, exitStatusOf } from "../errors.js";
import { forkDetached } from "../exec.js";
import { Daemon, type StatusGrant } from "../server/daemon/daemon.js";
import { createLogger, type Logger } from "../server/log.js";
import { fwCheck, resolveFirewall } from "../server/firewall-choice.js";
import { loadConfig, type LoadedConfig } from "../server/load-config.js";
import { SERVER_OPTIONS, defaultServerArgs, type ServerArgs } from "../server/options.js";
import { acquirePidFile, releasePidFile, runningPid } from "../server/pid-file.js";
import { ReplayCache, rotateDigestCache } from "../server/replay/replay-cache.js";
import { generateKeys, parseDigestName } from "../spa/index.js";
import { FWKNOP_TS_VERSION } from "../version.js";
import { getoptLong } from "../argv/getopt.js";

const out = (s: string): void => void process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
const err = (s: string): void => void process.stderr.write(s.endsWith("\n") ? s : `${s}\n`);
const nowSecs = (): number => Math.floor(Date.now() / 1000);

function help(): string {
  const lines = [
    `fwknopd server ${FWKNOP_TS_VERSION} (fwknop-ts), compatible with fwknop 2.6`,
    "",
    "Usage: fwknopd [options]",
    "",
  ];
  for (const o of SERVER_OPTIONS) {
    if (o.help === "") continue;
    const f = `${o.short !== undefined ? `-${o.short}, ` : "    "}--${o.long}${o.arg === "required" ? " VALUE" : ""}`;
    lines.push(`  ${f.padEnd(34)} ${o.help}`);
  }
  return `${lines.join("\n")}\n`;
}

function parseArgs(argv: readonly string[]): ServerArgs {
  const { opts } = getoptLong(argv, SERVER_OPTIONS, "fwknopd");
  const a = defaultServerArgs();
  for (const o of opts) {
    const spec = SERVER_OPTIONS.find((s) => s.long === o.spec.long);
    try {
      spec?.set(a, o.value ?? "");
    } catch (e) {
      throw new ConfigError("<command line>", 0, `${o.given}: ${(e as Error).message}`);
    }
  }
  return a;
}

function load(args: ServerArgs, log: (s: string) => void): LoadedConfig {
  const cfg = loadConfig(args);
  for (const w of cfg.warnings) log(w);
  return cfg;
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function printStatus(cfg: LoadedConfig): number {
  const pid = runningPid(cfg.daemon.pidFile);
  if (pid === null) {
    out("No running fwknopd detected.");
    return 1;
  }
  out(`Detected fwknopd is running (pid=${pid}).`);
  try {
    const st = JSON.parse(readFileSync(join(cfg.daemon.runDir, "fwknopd.status.json"), "utf8")) as {
      grants: StatusGrant[];
    };
    const now = nowSecs();
    const live = st.grants.filter((g) => g.expiresAt > now);
    out(`Live grants: ${live.length}`);
    for (const g of live)
      out(
        `  ${g.user.padEnd(16)} ${g.address.padEnd(39)} ${`${g.proto}/${g.port}`.padEnd(10)} stanza #${g.stanza}  ${g.expiresAt - now} s left`,
      );
  } catch {
    out("Live grants: (no status published yet)");
  }
  return 0;
}

async function serve(args: ServerArgs, argv: readonly string[]): Promise<number> {
  const foreground = args.foreground || args.test || args.pcapFile !== null;
  if (!foreground && !args.daemonChild) return daemonize(argv);

  const logger: Logger = createLogger({
    stderr: foreground,
    syslog: !foreground || args.syslogEnable,
    identity: "fwknopd",
    facility: "LOG_DAEMON",
    verbosity: args.verbose,
  });
  const log = (s: string): void => {
    logger.log("info", s);
  };
  let cfg = load(args, log);
  if (!args.test)
    cfg = await resolveFirewall(cfg, args.forceFirewall, (level, line) => {
      logger.log(level, line);
    });
  mkdirSync(cfg.daemon.runDir, { recursive: true, mode: 0o700 });
  if (args.rotateDigestCache && rotateDigestCache(cfg.daemon.digestFile))
    log(`Rotated digest cache to ${cfg.daemon.digestFile}-old`);
  acquirePidFile(cfg.daemon.pidFile);

  let stopping = false;
  const daemon = new Daemon(cfg.daemon, {
    nowSecs,
    nowMs: () => Date.now(),
    logger,
    onLimit: () => void shutdown("packet limit"),
  });
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));
  async function shutdown(why: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log(`Shutting Down fwknopd (${why}).`);
    try {
      await daemon.stop();
    } catch (e) {
      logger.log("err", `error during shutdown: ${(e as Error).message}`);
    }
    releasePidFile(cfg.daemon.pidFile);
    logger.close();
    resolveDone(0);
  }
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGUSR1", () => undefined);
  process.on("SIGUSR2", () => undefined);
  process.on("SIGHUP", () => {
    try {
      cfg = load(args, log);
      daemon.reload(cfg.daemon);
      // The backend stays; what changed on the host since the start is said (issue 11, -R).
      if (!args.test)
        void resolveFirewall(cfg, false, (level, line) => {
          logger.log(level, line);
        }).catch((e: unknown) => {
          logger.log("err", `After reload: ${(e as Error).message}`);
        });
    } catch (e) {
      logger.log(
        "err",
        `Reload failed, keeping the running configuration: ${(e as Error).message}`,
      );
    }
  });

  try {
    log(
      `Starting fwknopd ${FWKNOP_TS_VERSION} (fwknop-ts), firewall: ${cfg.firewallType}, ${cfg.daemon.stanzas.length} access stanza(s)`,
    );
    await daemon.start();
    if (args.pcapFile !== null) {
      await daemon.processPcapFile(args.pcapFile);
      void shutdown("end of pcap file");
    }
    if (process.send !== undefined) {
      process.send({ ready: true });
      process.disconnect();
    }
  } catch (e) {
    logger.log("err", `fwknopd failed to start: ${(e as Error).message}`);
    await daemon.stop().catch(() => undefined);
    releasePidFile(cfg.daemon.pidFile);
    logger.close();
    if (process.send !== undefined) process.send({ error: (e as Error).message });
    throw e;
  }
  return done;
}

/** Start ourselves again in the background (exec.ts:forkDetached); return once it is serving. */
async function daemonize(argv: readonly string[]): Promise<number> {
  const script = process.argv[1] ?? "";
  const child = forkDetached(script, [...argv, "--daemon-child"]);
  const msg = await new Promise<{ ready?: boolean; error?: string }>((resolve) => {
    const t = setTimeout(() => {
      resolve({ error: "no answer within 30 s" });
    }, 30_000);
    child.once("message", (m) => {
      clearTimeout(t);
      resolve(m as { ready?: boolean; error?: string });
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve({ error: `exited with status ${code ?? "?"}` });
    });
  });
  child.unref();
  child.disconnect();
  if (msg.ready === true) return 0;
  err(
    `fwknopd: failed to start in the background: ${msg.error ?? "unknown"} (run with -f to see why)`,
  );
  return 1;
}

async function run(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    out(help());
    return 0;
  }
  if (args.version) {
    out(
      `fwknopd server ${FWKNOP_TS_VERSION} (fwknop-ts), firewalls: nftables, iptables, firewalld`,
    );
    return 0;
  }
  if (args.keyGen) {
    const t = args.hmacDigestType === null ? "sha256" : parseDigestName(args.hmacDigestType);
    if (t === undefined)
      throw new ConfigError(
        "<command line>",
        0,
        `--hmac-digest-type '${args.hmacDigestType ?? ""}': unknown type`,
      );
    const k = generateKeys(
      (n) => randomBytes(n),
      t,
      args.keyLen ?? undefined,
      args.hmacKeyLen ?? undefined,
    );
    const text = `KEY_BASE64: ${k.keyBase64}\nHMAC_KEY_BASE64: ${k.hmacKeyBase64}\n`;
    if (args.keyGenFile !== null) {
      writeFileSync(args.keyGenFile, text, { mode: 0o600 });
      out(`[+] Wrote Rijndael and HMAC keys to: ${args.keyGenFile}`);
    } else out(text);
    return 0;
  }
  const exclusive = [args.dumpConfig, args.kill, args.restart, args.status].filter(Boolean).length;
  if (exclusive > 1)
    throw new ConfigError("<command line>", 0, "-D, -K, -R and -S cannot be combined");

  if (args.kill || args.restart || args.status) {
    const cfg = load(args, () => undefined);
    if (args.status) return printStatus(cfg);
    const pid = runningPid(cfg.daemon.pidFile);
    if (pid === null) {
      err("No running fwknopd detected.");
      return 1;
    }
    if (args.restart) {
      process.kill(pid, "SIGHUP");
      out(`Sent restart signal to fwknopd (pid=${pid})`);
      return 0;
    }
    process.kill(pid, "SIGTERM");
    if (!(await waitGone(pid, 4000))) process.kill(pid, "SIGKILL");
    out(`Killed fwknopd (pid=${pid})`);
    return 0;
  }

  const log = err;
  if (args.dumpConfig || args.exitParseConfig || args.exitParseDigestCache) {
    const cfg = load(args, log);
    if (args.dumpConfig) {
      out(
        `Current fwknopd config settings:\n${cfg.conf.dump()}\n\nFirewall: ${cfg.firewallType}\n\nCurrent fwknopd access settings:`,
      );
      for (const s of cfg.stanzas) out(`${stanzaSummary(s)}\n`);
    }
    if (args.exitParseDigestCache) {
      const rc = new ReplayCache({ path: cfg.daemon.digestFile, retentionSecs: null, nowSecs });
      const st = rc.open();
      rc.close();
      out(`${cfg.daemon.digestFile}: ${st.loaded} digests, ${st.invalid} invalid lines`);
    }
    return 0;
  }

  if (args.fwCheck) {
    const r = await fwCheck(load(args, log));
    out(r.text);
    return r.ok ? 0 : 1;
  }

  if (args.fwList || args.fwListAll || args.fwFlush) {
    // The backend the daemon would use on this host; listing never refuses.
    const cfg = await resolveFirewall(load(args, log), true, () => undefined);
    const fw = cfg.daemon.makeFirewall();
    try {
      if (args.fwFlush) {
        await fw.flush();
        out(`Flushed fwknopd's ${fw.name} rules.`);
      } else out(await fw.listText(args.fwListAll));
    } finally {
      await fw.close();
    }
    return 0;
  }
  return serve(args, argv);
}

export async function main(argv: readonly string[]): Promise<number> {
  process.on("unhandledRejection", (e) => {
    err(`fwknopd: internal error: ${String(e)}`);
    process.exit(70);
  });
  try {
    return await run(argv);
  } catch (e) {
    // Ours: said plainly, exit status by blame (errors.ts). Anything else is a bug: the bin shim
    // prints its stack and exits 70.
    if (e instanceof FwknopTsError) {
      err(e.message.startsWith("fwknopd") ? e.message : `fwknopd: ${e.message}`);
      return exitStatusOf(e);
    }
    throw e;
  }
}
