/**
 * A command line written as text split into an argv, so it can run without a shell: fwknopd's
 * command messages and command cycles, and the rule lines `iptables -S` prints. C splits on white
 * space only (common/fko_util.c:strtoargv); quotes '...' and "..." also group here, with no
 * expansion.
 */

export const MAX_ARGS = 30;

/** White-space split with '...' and "..." grouping; no escapes, no expansion. Null if unbalanced. */
export function splitArgs(text: string): string[] | null {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: string | null = null;
  for (const ch of text) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      else cur += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote !== null) return null;
  if (inWord) out.push(cur);
  return out.length > 0 && out.length <= MAX_ARGS ? out : null;
}
