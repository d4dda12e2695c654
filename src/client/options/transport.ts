/** The client's options, group "transport": where and how the packet goes (client/cmd_opts.h). */
import type { ServerProto } from "../config.js";
import { text, onOff, portNum, type Bad, type ClientOption } from "./setters.js";

/** common/common.h: MAX_ICMP_TYPE, MAX_ICMP_CODE. */
const MAX_ICMP_TYPE = 40;
const MAX_ICMP_CODE = 15;

/** client/config_init.c, cases SPA_ICMP_TYPE and SPA_ICMP_CODE: C's message, C's range. */
function icmpField(v: string, what: "type" | "code", max: number, bad: Bad): number {
  if (!/^[0-9]{1,3}$/.test(v) || Number(v) > max)
    bad(`Invalid icmp ${what} '${v}', must be in [0-${max}]`);
  return Number(v);
}

const PROTOS: readonly ServerProto[] = ["udp", "tcp", "http", "udpraw", "tcpraw", "icmp"];

export const TRANSPORT_OPTIONS: readonly ClientOption[] = [
  {
    long: "destination",
    short: "D",
    arg: "required",
    rc: "SPA_SERVER",
    metavar: "HOST",
    group: "transport",
    help: "Host name or IP address of the fwknop server.",
    set: text("destination"),
  },
  {
    long: "server-port",
    short: "p",
    arg: "required",
    rc: "SPA_SERVER_PORT",
    metavar: "PORT",
    group: "transport",
    help: "Destination port (default 62201).",
    set: portNum("serverPort", "server port"),
  },
  {
    long: "server-proto",
    short: "P",
    arg: "required",
    rc: "SPA_SERVER_PROTO",
    metavar: "PROTO",
    group: "transport",
    help: "udp (default), tcp, http, or udpraw, tcpraw, icmp (raw socket: root only).",
    set: (c, v, bad) => {
      const p = v.toLowerCase() as ServerProto;
      if (!PROTOS.includes(p))
        bad(`Unrecognized protocol: ${v} (use udp, tcp, http, udpraw, tcpraw or icmp)`);
      c.serverProto = p;
    },
  },
  {
    long: "source-port",
    short: "S",
    arg: "required",
    rc: "SPA_SOURCE_PORT",
    metavar: "PORT",
    group: "transport",
    help: "Source port for the outgoing packet.",
    set: portNum("sourcePort", "source port"),
  },
  {
    long: "rand-port",
    short: "r",
    arg: "none",
    rc: "RAND_PORT",
    group: "transport",
    help: "Send to a random destination port (10000-65534).",
    set: onOff("randPort"),
  },
  {
    long: "spoof-source",
    short: "Q",
    arg: "required",
    rc: "SPOOF_SOURCE_IP",
    metavar: "IP",
    group: "transport",
    help: "Source address written into the packet (-P udpraw, tcpraw or icmp; root only).",
    set: text("spoofSource"),
  },
  {
    long: "spoof-src",
    arg: "required",
    group: "transport",
    help: "",
    set: text("spoofSource"),
  },
  {
    long: "http-proxy",
    short: "H",
    arg: "required",
    metavar: "HOST[:PORT]",
    group: "transport",
    help: "Send over HTTP through this proxy (port: :PORT, else the SPA port).",
    set: (c, v) => {
      c.httpProxy = v.replace(/^http:\/\//, "");
      c.serverProto = "http";
    },
  },
  {
    long: "user-agent",
    short: "u",
    arg: "required",
    rc: "HTTP_USER_AGENT",
    metavar: "UA",
    group: "transport",
    help: "User-Agent for -P http (default Fwknop/<version>).",
    set: text("userAgent"),
  },
  {
    long: "icmp-type",
    arg: "required",
    group: "transport",
    metavar: "TYPE",
    help: "ICMP type for -P icmp (default 0, echo reply).",
    set: (c, v, bad) => {
      c.icmpType = icmpField(v, "type", MAX_ICMP_TYPE, bad);
    },
  },
  {
    long: "icmp-code",
    arg: "required",
    group: "transport",
    metavar: "CODE",
    help: "ICMP code for -P icmp (default 0).",
    set: (c, v, bad) => {
      c.icmpCode = icmpField(v, "code", MAX_ICMP_CODE, bad);
    },
  },
  {
    long: "server-resolve-ipv4",
    arg: "none",
    rc: "SERVER_RESOLVE_IPV4",
    group: "transport",
    help: "Use only IPv4 addresses for the server name.",
    set: () => undefined,
  },
  {
    long: "wget-cmd",
    short: "w",
    arg: "required",
    rc: "WGET_CMD",
    group: "transport",
    help: "Accepted for compatibility; the resolver needs no wget.",
    set: () => undefined,
  },
  {
    long: "use-wget-user-agent",
    arg: "none",
    rc: "USE_WGET_USER_AGENT",
    group: "transport",
    help: "Accepted for compatibility; the resolver needs no wget.",
    set: () => undefined,
  },
];
