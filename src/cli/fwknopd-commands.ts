/**
 * fwknopd's one-shot commands (server/fwknopd.c:main's early exits and cmd_opts.h): key
 * generation, -K/-R/-S against a running daemon, -D and the parse-only checks, and the firewall
 * commands (--fw-check, --fw-list, --fw-list-all, --fw-flush). Each returns the exit status.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stanzaSummary } from "../config/access-conf.js";
import { ConfigError, EnvironmentError, exitStatusOf } from "../errors.js";
import { revokeConnections } from "../server/grants/revoke-connections.js";
import type { StatusGrant } from "../server/daemon/daemon.js";
import { fwCheck, resolveFirewall } from "../server/firewall-choice.js";
import { loadConfig, loadControlPaths, type ControlPaths } from "../server/load-config.js";
import type { ServerArgs } from "../server/options.js";
import { runningPid } from "../server/pid-file.js";
import { ReplayCache } from "../server/replay/replay-cache.js";
import { generateKeys, parseDigestName } from "../spa/index.js";
import { loadLogged } from "./fwknopd-serve.js";
import { printAllGateways } from "./fwknopd-gateways.js";

export const out = (s: string): void => void process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
export const err = (s: string): void => void process.stderr.write(s.endsWith("\n") ? s : `${s}\n`);
const nowSecs = (): number => Math.floor(Date.now() / 1000);

/** --key-gen / --key-gen-file: C's output format. */
export function keyGen(args: ServerArgs): number {
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

function printStatus(paths: ControlPaths): number {
  const pid = runningPid(paths.pidFile);
  if (pid === null) {
    out("No running fwknopd detected.");
    return 1;
  }
  out(`Detected fwknopd is running (pid=${pid}).`);
  try {
    const st = JSON.parse(readFileSync(join(paths.runDir, "fwknopd.status.json"), "utf8")) as {
      grants: StatusGrant[];
    };
    const now = nowSecs();
    const live = st.grants.filter((g) => g.expiresAt > now);
    out(`Live grants: ${live.length}`);
    for (const g of live) {
      const id = g.id !== undefined ? `#${g.id} `.padEnd(6) : "";
      const counted =
        g.maxConnections !== undefined ? `, ${g.maxConnections} connection(s) at most` : "";
      out(
        `  ${id}${g.user.padEnd(16)} ${g.address.padEnd(39)} ${`${g.proto}/${g.port}`.padEnd(10)} stanza #${g.stanza}  ${g.expiresAt - now} s left${counted}`,
      );
      if (g.connections !== undefined)
        out(
          `        ${g.connections} connection(s) admitted${(g.recent ?? []).length > 0 ? `, latest from ${(g.recent ?? []).join(", ")}` : ""}`,
        );
    }
  } catch {
    out("Live grants: (no status published yet)");
  }
  return 0;
}

/**
 * -R: the signal goes in any case (the daemon decides, and logs why it keeps its configuration),
 * but a configuration that will not load is said here too, with a non-zero exit.
 */
function restart(args: ServerArgs, pid: number): number {
  process.kill(pid, "SIGHUP");
  out(`Sent restart signal to fwknopd (pid=${pid})`);
  try {
    loadConfig(args);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(
      `fwknopd: ${e.message}\nfwknopd: the running fwknopd keeps its configuration until this is fixed.`,
    );
    return exitStatusOf(e);
  }
}

/** -S, -R, -K: the daemon named by the pid file; access.conf is not needed (C). */
export async function controlRunning(args: ServerArgs): Promise<number> {
  const paths = loadControlPaths(args);
  if (paths.warning !== null) err(`fwknopd: warning: ${paths.warning}`);
  if (args.status) {
    const local = printStatus(paths);
    return args.allGateways === true ? printAllGateways(args, out, err) : local;
  }
  const pid = runningPid(paths.pidFile);
  if (pid === null) {
    err("No running fwknopd detected.");
    return 1;
  }
  if (args.restart) return restart(args, pid);
  process.kill(pid, "SIGTERM");
  if (!(await waitGone(pid, 4000))) process.kill(pid, "SIGKILL");
  out(`Killed fwknopd (pid=${pid})`);
  return 0;
}

/** -D, --exit-parse-config, --exit-parse-digest-cache. */
export function dumpOrParse(args: ServerArgs): number {
  const cfg = loadLogged(args, err);
  if (args.dumpConfig) {
    out(
      `Current fwknopd config settings:\n${cfg.conf.dump()}\n\nFirewall: ${cfg.firewallType}\n\nCurrent fwknopd access settings:`,
    );
    for (const s of cfg.stanzas) out(`${stanzaSummary(s)}\n`);
  }
  if (args.exitParseDigestCache) {
    const rc = new ReplayCache({ path: cfg.daemon.digestFile, nowSecs });
    const st = rc.open(null);
    rc.close();
    out(`${cfg.daemon.digestFile}: ${st.loaded} digests, ${st.invalid} invalid lines`);
  }
  return 0;
}

/** --fw-check, --fw-list, --fw-list-all, --fw-flush: with the backend the daemon would use here. */
export async function firewallCommand(args: ServerArgs): Promise<number> {
  if (args.fwCheck) {
    const r = await fwCheck(loadLogged(args, err));
    out(r.text);
    return r.ok ? 0 : 1;
  }
  // Listing never refuses: it shows what there is, even where a grant would open nothing.
  const loaded = loadLogged(args, err, { accessOptional: true });
  const cfg = await resolveFirewall(loaded, true, () => undefined);
  const fw = cfg.daemon.makeFirewall();
  try {
    if (args.fwFlush) {
      await fw.flush();
      out(`Flushed fwknopd's ${fw.name} rules.`);
      // C's --fw-flush deletes the NFQ chain too (delete_all_chains).
      const nfq = cfg.daemon.nfq;
      if (nfq !== null) {
        await cfg.daemon.makeQueueRule(nfq.rule).remove();
        out(`Removed the NFQUEUE rule (${nfq.rule.chain}).`);
      }
      if (args.revokeConnections) {
        const r = await revokeConnections({});
        if ("failed" in r) throw new EnvironmentError(`--revoke-connections: ${r.failed}`);
        out(`Cut ${r.cut} connection(s) the grants had let in.`);
      }
    } else out(await fw.listText(args.fwListAll));
  } finally {
    await fw.close();
  }
  return 0;
}
