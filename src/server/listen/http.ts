/**
 * SPA over HTTP (server/incoming_spa.c:preprocess_spa_data): a payload starting with "GET /"
 * carries the SPA data in its path, with '-' for '+' and '_' for '/' (client/spa_comm.c). Unless
 * ALLOW_ANY_USER_AGENT, the request must say "User-Agent: Fwknop".
 */
import { isValidIpv4 } from "../../spa/validate.js";

/**
 * `xff`: with ENABLE_X_FORWARDED_FOR, the address an X-Forwarded-For header gave (used, as in C,
 * only for a packet whose allow IP is 0.0.0.0); `xffBad`: the header's value when it was not one.
 */
export type HttpUnwrap =
  | { kind: "not-http" }
  | { kind: "spa"; data: string; xff: string | null; xffBad: string | null }
  | { kind: "refused"; why: string };

export function unwrapHttpSpa(
  payload: string,
  allowAnyUserAgent: boolean,
  xForwardedFor = false,
): HttpUnwrap {
  if (payload.slice(0, 5).toUpperCase() !== "GET /") return { kind: "not-http" };
  if (!allowAnyUserAgent && !/User-Agent: Fwknop/.test(payload))
    return { kind: "refused", why: "HTTP request without a 'User-Agent: Fwknop' header" };
  const end = payload.slice(5).search(/\s/);
  const path = end < 0 ? payload.slice(5) : payload.slice(5, 5 + end);
  const data = path.replace(/-/g, "+").replace(/_/g, "/");
  const value = xForwardedFor ? forwardedFor(payload) : null;
  const ok = value !== null && isValidIpv4(value);
  return { kind: "spa", data, xff: ok ? value : null, xffBad: ok ? null : value };
}

/**
 * C's reading (incoming_spa.c): the first "X-Forwarded-For: " in the request, any case, and its
 * value up to the first white space, so only a header holding one address counts: a proxy chain's
 * "a, b" reads as "a," and is refused with a warning, as C refuses it.
 */
function forwardedFor(payload: string): string | null {
  const at = payload.toLowerCase().indexOf("x-forwarded-for: ");
  if (at < 0) return null;
  const rest = payload.slice(at + 17);
  const end = rest.search(/\s/);
  return end < 0 ? rest : rest.slice(0, end);
}
