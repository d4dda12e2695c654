/**
 * The client's --connect options (ours, group "transport"): knock, then connect and relay
 * stdin/stdout, for ssh's ProxyCommand (client/connect.ts). Neither is an rc variable: C fwknop
 * refuses a ~/.fwknoprc holding a variable it does not know (client/config_init.c:parse_rc_param),
 * and a stanza that always relayed would make every `fwknop -n NAME` wait on stdin.
 */
import { UsageError } from "../../errors.js";
import { MAX_PORT } from "../../spa/index.js";
import type { ClientConfig, ConnectTarget } from "../config.js";
import { int, type Bad, type ClientOption } from "./setters.js";

/** --connect-timeout's upper bound: an hour is already far beyond any grant's arrival. */
const MAX_CONNECT_TIMEOUT_S = 3600;

/** HOST:PORT, or [HOST]:PORT (needed for an IPv6 address; accepted for a name, as ssh's %h). */
export function parseConnectTarget(value: string, bad: Bad): ConnectTarget {
  const m = /^\[([^[\]]+)\]:([^:]*)$/.exec(value) ?? /^([^[\]:]+):([^:]*)$/.exec(value);
  if (m === null)
    bad(
      value.split(":").length > 2
        ? `'${value}' has more than one ':' (an IPv6 address goes in brackets: [2001:db8::1]:22)`
        : `'${value}' is not HOST:PORT (as in 203.0.113.5:22 or [2001:db8::1]:22)`,
    );
  return { host: m[1] ?? "", port: int(m[2] ?? "", 1, MAX_PORT, "port", bad) };
}

/** The target as one would type it again: brackets around an IPv6 address. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export const CONNECT_OPTIONS: readonly ClientOption[] = [
  {
    long: "connect",
    arg: "required",
    metavar: "HOST:PORT",
    group: "transport",
    help: "After sending, connect to HOST:PORT ([addr]:port for IPv6) once it opens and relay stdin/stdout over it, for ssh's ProxyCommand; messages go to stderr.",
    // Early: output goes to stderr from the start, the rc file's notices included.
    early: true,
    ours: true,
    set: (c, v, bad) => {
      c.connect = parseConnectTarget(v, bad);
    },
  },
  {
    long: "connect-timeout",
    arg: "required",
    metavar: "SECS",
    group: "transport",
    help: "With --connect, how long the port may take to open after the packet is sent (default 5; 0.5 works).",
    ours: true,
    set: (c, v, bad) => {
      const s = /^[0-9]{1,4}(\.[0-9]{1,3})?$/.test(v) ? Number(v) : NaN;
      if (!(s > 0 && s <= MAX_CONNECT_TIMEOUT_S))
        bad(`seconds above 0 and at most ${MAX_CONNECT_TIMEOUT_S} (as in 5 or 0.5), got '${v}'`);
      c.connectTimeoutMs = Math.round(s * 1000);
    },
  },
  {
    long: "connect-token",
    arg: "none",
    group: "transport",
    help: "With --connect, open the connection with the packet's one-time connect token, for a server stanza with REQUIRE_CONNECT_TOKEN (needs an HMAC key).",
    ours: true,
    set: (c) => {
      c.connectToken = true;
    },
  },
];

/** Flags that send nothing (nothing to connect after) or read stdin (which --connect relays). */
const CONFLICTS: ReadonlyArray<[(c: ClientConfig) => boolean, string, string]> = [
  [(c) => c.test, "-T", "-T builds the packet without sending it"],
  [(c) => c.keyGen, "--key-gen", "--key-gen makes keys and sends nothing"],
  [(c) => c.stanzaList, "--stanza-list", "--stanza-list sends nothing"],
  [(c) => c.showLast, "--show-last", "--show-last sends nothing"],
  [
    (c) => c.keyFromStdin || c.keyFd === 0,
    "--stdin or --fd 0",
    "the key cannot come from stdin, which --connect relays (use --fd N, -G FILE or ~/.fwknoprc)",
  ],
];

/** With --connect, a refusal for a flag it cannot go with; checked after each pass. */
export function refuseWithConnect(cfg: ClientConfig): void {
  if (cfg.connect === null) return;
  for (const [given, flag, why] of CONFLICTS)
    if (given(cfg)) throw new UsageError(`--connect cannot be used with ${flag}: ${why}`, flag);
}

/** After all options: the refusals, and the connect host as -D when nothing named a server. */
export function settleConnect(cfg: ClientConfig): void {
  refuseWithConnect(cfg);
  if (cfg.connectToken && cfg.connect === null)
    throw new UsageError(
      "--connect-token needs --connect: the token opens the connection fwknop makes",
      "--connect-token",
    );
  if (cfg.connect !== null) cfg.destination ??= cfg.connect.host;
}
