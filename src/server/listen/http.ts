/**
 * SPA over HTTP (server/incoming_spa.c:preprocess_spa_data): a payload starting with "GET /"
 * carries the SPA data in its path, with '-' for '+' and '_' for '/' (client/spa_comm.c). Unless
 * ALLOW_ANY_USER_AGENT, the request must say "User-Agent: Fwknop".
 */
export type HttpUnwrap =
  { kind: "not-http" } | { kind: "spa"; data: string } | { kind: "refused"; why: string };

export function unwrapHttpSpa(payload: string, allowAnyUserAgent: boolean): HttpUnwrap {
  if (payload.slice(0, 5).toUpperCase() !== "GET /") return { kind: "not-http" };
  if (!allowAnyUserAgent && !/User-Agent: Fwknop/.test(payload))
    return { kind: "refused", why: "HTTP request without a 'User-Agent: Fwknop' header" };
  const end = payload.slice(5).search(/\s/);
  const path = end < 0 ? payload.slice(5) : payload.slice(5, 5 + end);
  return { kind: "spa", data: path.replace(/-/g, "+").replace(/_/g, "/") };
}
