/** An "ADDRESS:PORT" setting (METRICS_LISTEN): an IP literal, IPv6 in brackets, and a port. */
import { isIP } from "node:net";

export interface ListenAddress {
  host: string;
  port: number;
}

/** The address, or why the text is not one. */
export function parseListenAddress(v: string): ListenAddress | string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  if (m === null) return "expected ADDRESS:PORT, e.g. 127.0.0.1:9930 or [::1]:9930";
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4)
    return `'${host}' is not an IP address${m[1] === undefined && host.includes(":") ? " (write IPv6 in brackets)" : ""}`;
  if (port < 1 || port > 65535) return `port ${port} is out of range [1-65535]`;
  return { host, port };
}
