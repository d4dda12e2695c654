/** The client's options, group "transport": where and how the packet goes (client/cmd_opts.h). */
import type { ServerProto } from "../config.js";
import { text, onOff, portNum, later, type ClientOption } from "./setters.js";

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
    help: "udp (default), tcp or http (udpraw, tcpraw and icmp: not supported yet).",
    set: (c, v, bad) => {
      const p = v.toLowerCase() as ServerProto;
      if (!PROTOS.includes(p))
        bad(`Unrecognized protocol: ${v} (use udp, tcp, http, udpraw, tcpraw or icmp)`);
      if (p === "udpraw" || p === "tcpraw" || p === "icmp")
        bad(`-P ${p} (raw sockets) is not supported yet; use -P udp, tcp or http`);
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
    help: "Spoof the source address (raw modes only).",
    set: later("-Q (spoofed source)", "it needs the raw modes (-P udpraw, tcpraw or icmp)"),
  },
  {
    long: "spoof-src",
    arg: "required",
    group: "transport",
    help: "",
    set: later("-Q (spoofed source)", "it needs the raw modes (-P udpraw, tcpraw or icmp)"),
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
    help: "ICMP type for -P icmp.",
    set: later("--icmp-type", "it goes with -P icmp"),
  },
  {
    long: "icmp-code",
    arg: "required",
    group: "transport",
    help: "ICMP code for -P icmp.",
    set: later("--icmp-code", "it goes with -P icmp"),
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
