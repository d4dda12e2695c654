/**
 * fwknopd: the SPA server's command line. main() returns the exit code; the one-shot commands
 * are in fwknopd-commands.ts, serving (foreground or daemonised) in fwknopd-serve.ts.
 */
import { getoptLong } from "../argv/getopt.js";
import { ConfigError, exitStatusOf, FwknopTsError, messageOf, UsageError } from "../errors.js";
import { SERVER_OPTIONS, defaultServerArgs, type ServerArgs } from "../server/options.js";
import { FWKNOP_TS_VERSION } from "../version.js";
import {
  controlRunning,
  dumpOrParse,
  err,
  firewallCommand,
  keyGen,
  out,
} from "./fwknopd-commands.js";
import { serve } from "./fwknopd-serve.js";

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
      throw new ConfigError("<command line>", 0, `${o.given}: ${messageOf(e)}`);
    }
  }
  return a;
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
  if (args.keyGen) return keyGen(args);
  const exclusive = [args.dumpConfig, args.kill, args.restart, args.status].filter(Boolean).length;
  if (exclusive > 1)
    throw new ConfigError("<command line>", 0, "-D, -K, -R and -S cannot be combined");
  if (args.revokeConnections && !args.fwFlush)
    throw new UsageError("--revoke-connections goes with --fw-flush", "--revoke-connections");
  if (args.kill || args.restart || args.status) return controlRunning(args);
  if (args.dumpConfig || args.exitParseConfig || args.exitParseDigestCache)
    return dumpOrParse(args);
  if (args.fwCheck || args.fwList || args.fwListAll || args.fwFlush) return firewallCommand(args);
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
