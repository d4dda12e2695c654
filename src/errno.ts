/**
 * An errno from a call made through koffi (the raw client, recvmmsg, NFQUEUE) as Node words its
 * own system errors, so a refusal reads "EPERM: operation not permitted", not "errno 1".
 */
import { getSystemErrorMap } from "node:util";

/** "EADDRINUSE: address already in use"; "errno N" for a number Node does not know. */
export function errnoText(errno: number): string {
  const known = getSystemErrorMap().get(-errno);
  return known === undefined ? `errno ${errno}` : `${known[0]}: ${known[1]}`;
}
