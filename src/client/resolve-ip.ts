/**
 * -R: this host's address as seen from outside (client/http_resolve_host.c). Node's own HTTP(S)
 * client replaces wget. The answer's first line must start with a dotted-quad IPv4 address.
 * Plain HTTP (--resolve-http-only) falls back to the second default host after 2 s, as C does.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { EnvironmentError, UsageError } from "../errors.js";
import { isValidIpv4 } from "../spa/index.js";

export const DEFAULT_RESOLVE_URL_HTTPS = "https://www.cipherdyne.org/cgi-bin/myip";
export const DEFAULT_RESOLVE_URLS_HTTP = [
  "http://www.cipherdyne.org/cgi-bin/myip",
  "http://www.cipherdyne.com/cgi-bin/myip",
];

function fetchFirstLine(url: string, userAgent: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new UsageError(`--resolve-url: not a URL: '${url}'`, "--resolve-url"));
      return;
    }
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(
      u,
      {
        headers: { "User-Agent": userAgent, Accept: "*/*", Connection: "close" },
        timeout: timeoutMs,
      },
      (res) => {
        let body = "";
        res.setEncoding("latin1");
        res.on("data", (d: string) => {
          body += d;
          if (body.length > 2000) res.destroy();
        });
        res.on("close", () => {
          resolve(body.split(/\r?\n/)[0] ?? "");
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (e) => {
      reject(new EnvironmentError(`could not resolve the external IP via ${url}: ${e.message}`));
    });
    req.end();
  });
}

/** The first dotted-quad of the answer, validated (client/http_resolve_host.c:parse_url_ip). */
export function ipFromAnswer(line: string): string | null {
  const m = /^[0-9.]+/.exec(line.trim());
  return m !== null && isValidIpv4(m[0]) ? m[0] : null;
}

export async function resolveExternalIp(
  url: string | null,
  httpOnly: boolean,
  userAgent: string,
  log: (s: string) => void,
): Promise<string> {
  if (url !== null && httpOnly && url.startsWith("https:"))
    throw new UsageError(
      "--resolve-http-only cannot use an https:// --resolve-url",
      "--resolve-url",
    );
  if (url !== null && !httpOnly && !url.startsWith("https:"))
    log("[-] Warning: IP resolution URL is not HTTPS");
  const urls =
    url !== null ? [url] : httpOnly ? DEFAULT_RESOLVE_URLS_HTTP : [DEFAULT_RESOLVE_URL_HTTPS];
  let last: Error = new EnvironmentError("no resolver URL");
  for (const [i, u] of urls.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, 2000));
    try {
      const line = await fetchFirstLine(u, userAgent, 5000);
      const ip = ipFromAnswer(line);
      if (ip !== null) return ip;
      last = new EnvironmentError(
        `${u} did not answer with an IPv4 address (got '${line.slice(0, 40)}')`,
      );
    } catch (e) {
      last = e as Error;
    }
  }
  throw last;
}
