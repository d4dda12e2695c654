/** The client's options, group "access": what to ask the server for (client/cmd_opts.h). */
import { MAX_CLIENT_TIMEOUT } from "../../spa/index.js";
import { text, onOff, portNum, int, timeOffset, rcBool, type ClientOption } from "./setters.js";

export const ACCESS_OPTIONS: readonly ClientOption[] = [
  {
    long: "access",
    short: "A",
    arg: "required",
    rc: "ACCESS",
    metavar: "PROTO/PORT[,...]",
    group: "access",
    help: "Ports to open on the server, e.g. 'tcp/22' or 'tcp/22,udp/53'.",
    set: text("access"),
  },
  {
    long: "allow-ip",
    short: "a",
    arg: "required",
    rc: "ALLOW_IP",
    metavar: "IP",
    group: "access",
    help: "IP address to allow, placed inside the packet.",
    set: (c, v) => {
      // The rc file may say "source" (-s) or "resolve" (-R) here (client/config_init.c).
      if (v === "source") c.sourceIp = true;
      else if (v === "resolve") c.resolveIp = true;
      else c.allowIp = v;
    },
  },
  {
    long: "source-ip",
    short: "s",
    arg: "none",
    group: "access",
    help: "Let the server use the packet's source address (sends 0.0.0.0).",
    set: onOff("sourceIp"),
  },
  {
    long: "resolve-ip-https",
    short: "R",
    arg: "none",
    rc: "RESOLVE_IP_HTTPS",
    group: "access",
    help: "Find this host's external IP through an HTTPS resolver.",
    set: onOff("resolveIp"),
  },
  {
    long: "resolve-ip-http",
    arg: "none",
    rc: "RESOLVE_IP_HTTP",
    group: "access",
    help: "Same as -R.",
    set: onOff("resolveIp"),
  },
  {
    long: "resolve-http-only",
    arg: "none",
    rc: "RESOLVE_HTTP_ONLY",
    group: "access",
    help: "Resolve the external IP over plain HTTP.",
    set: (c, v) => {
      c.resolveHttpOnly = v === "" || rcBool(v);
      if (c.resolveHttpOnly) c.resolveIp = true;
    },
  },
  {
    long: "resolve-url",
    arg: "required",
    rc: "RESOLVE_URL",
    metavar: "URL",
    group: "access",
    help: "Resolver URL for -R.",
    set: (c, v) => {
      c.resolveUrl = v;
      c.resolveIp = true;
    },
  },
  {
    long: "server-cmd",
    short: "C",
    arg: "required",
    metavar: "CMD",
    group: "access",
    help: "Ask the server to run CMD (type-0 command message).",
    set: text("serverCmd"),
  },
  {
    long: "nat-access",
    short: "N",
    arg: "required",
    rc: "NAT_ACCESS",
    metavar: "HOST:PORT",
    group: "access",
    help: "Ask for NAT access to an internal HOST:PORT.",
    set: text("natAccess"),
  },
  {
    long: "nat-local",
    arg: "none",
    rc: "NAT_LOCAL",
    group: "access",
    help: "Ask for a local NAT to a service on the server itself.",
    set: onOff("natLocal"),
  },
  {
    long: "nat-port",
    arg: "required",
    rc: "NAT_PORT",
    metavar: "PORT",
    group: "access",
    help: "Port to request in place of the -A port for NAT.",
    set: portNum("natPort", "NAT port"),
  },
  {
    long: "nat-rand-port",
    arg: "none",
    rc: "NAT_RAND_PORT",
    group: "access",
    help: "Like --nat-port with a random port (printed).",
    set: onOff("natRandPort"),
  },
  {
    long: "fw-timeout",
    short: "f",
    arg: "required",
    rc: "FW_TIMEOUT",
    metavar: "SECS",
    group: "access",
    help: `Ask for access lasting SECS seconds (0..${MAX_CLIENT_TIMEOUT}).`,
    set: (c, v, bad) => {
      // The C client allows up to 131072 here, but no fwknopd decodes more than 65536.
      c.fwTimeout = int(v, 0, MAX_CLIENT_TIMEOUT, "firewall timeout", bad);
    },
  },
  {
    long: "spoof-user",
    short: "U",
    arg: "required",
    rc: "SPOOF_USER",
    metavar: "USER",
    group: "access",
    help: "Username to put in the packet (default: the local user).",
    set: text("spoofUser"),
  },
  {
    long: "time-offset-plus",
    arg: "required",
    metavar: "N[m|h|d]",
    group: "access",
    help: "Add time to the packet's timestamp.",
    set: (c, v, bad) => {
      c.timeOffset = timeOffset(v, bad);
    },
  },
  {
    long: "time-offset-minus",
    arg: "required",
    metavar: "N[m|h|d]",
    group: "access",
    help: "Subtract time from the packet's timestamp.",
    set: (c, v, bad) => {
      c.timeOffset = -timeOffset(v, bad);
    },
  },
  {
    long: "time-offset",
    arg: "required",
    rc: "TIME_OFFSET",
    group: "access",
    help: "",
    set: (c, v, bad) => {
      c.timeOffset = v.startsWith("-") ? -timeOffset(v.slice(1), bad) : timeOffset(v, bad);
    },
  },
];
