/**
 * --save-rc-stanza (client/config_init.c:update_rc). The stanza named by -n (else -D) is rewritten
 * from this command line's settings, one "NAME    value" line each ("%-24s    %s"), in the order
 * of the C client's variable table; with --key-gen the new keys are added. Unlike C, key variables
 * the command line does not set are kept. Key variables already in
 * the stanza are only replaced after a yes to "Overwrite [N/y] ?" (or with --force-stanza). All
 * other lines of the file are kept byte for byte; the new file is written beside the old one with
 * mode 0600 and renamed over it.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";

/** client/config_init.c:fko_var_array order, which the C client also writes in. */
export const RC_VARIABLE_ORDER = [
  "DIGEST_TYPE",
  "SPA_SERVER_PROTO",
  "SPA_SERVER_PORT",
  "SPA_SOURCE_PORT",
  "FW_TIMEOUT",
  "ALLOW_IP",
  "TIME_OFFSET",
  "ENCRYPTION_MODE",
  "USE_GPG",
  "USE_GPG_AGENT",
  "GPG_RECIPIENT",
  "GPG_SIGNER",
  "GPG_HOMEDIR",
  "GPG_EXE",
  "GPG_SIGNING_PW",
  "GPG_SIGNING_PW_BASE64",
  "GPG_NO_SIGNING_PW",
  "SPOOF_USER",
  "SPOOF_SOURCE_IP",
  "ACCESS",
  "SPA_SERVER",
  "RAND_PORT",
  "KEY",
  "KEY_BASE64",
  "HMAC_DIGEST_TYPE",
  "HMAC_KEY_BASE64",
  "HMAC_KEY",
  "USE_HMAC",
  "USE_WGET_USER_AGENT",
  "KEY_FILE",
  "HMAC_KEY_FILE",
  "NAT_ACCESS",
  "HTTP_USER_AGENT",
  "RESOLVE_URL",
  "SERVER_RESOLVE_IPV4",
  "NAT_LOCAL",
  "NAT_RAND_PORT",
  "NAT_PORT",
  "VERBOSE",
  "RESOLVE_IP_HTTP",
  "RESOLVE_IP_HTTPS",
  "RESOLVE_HTTP_ONLY",
  "WGET_CMD",
  "NO_SAVE_ARGS",
] as const;

/** Variables whose old value is only replaced after asking (client/config_init.c:critical_var). */
export const CRITICAL_RC_VARIABLES = new Set([
  "KEY",
  "KEY_BASE64",
  "HMAC_KEY",
  "HMAC_KEY_BASE64",
  "GPG_RECIPIENT",
  "GPG_SIGNER",
  "GPG_SIGNING_PW",
  "GPG_SIGNING_PW_BASE64",
]);

export const rcLine = (name: string, value: string): string => `${name.padEnd(24)}    ${value}\n`;

export type AskOverwrite = (variable: string, stanza: string) => Promise<boolean>;

/** Only the section's own lines: from "[name]" up to the next "[...]" line or the end. */
function findStanza(lines: readonly string[], name: string): { start: number; end: number } | null {
  const isSection = (l: string): string | null => /^\s*\[([^\]]*)\]/.exec(l)?.[1] ?? null;
  const start = lines.findIndex((l) => isSection(l) === name);
  if (start < 0) return null;
  let end = start + 1;
  while (end < lines.length && isSection(lines[end] ?? "") === null) end++;
  return { start, end };
}

export async function saveRcStanza(
  path: string,
  stanza: string,
  values: ReadonlyMap<string, string>,
  ask: AskOverwrite,
  force: boolean,
): Promise<void> {
  let text = "";
  try {
    text = readFileSync(path, "latin1");
  } catch {
    text = "";
  }
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const found = findStanza(lines, stanza);
  const existing = new Map<string, string>();
  if (found !== null)
    for (const l of lines.slice(found.start + 1, found.end)) {
      const m = /^\s*(\S+?):?\s+(\S+)/.exec(l);
      if (m !== null && !l.startsWith("#")) existing.set(m[1] ?? "", l);
    }

  const body: string[] = [];
  for (const name of RC_VARIABLE_ORDER) {
    const v = values.get(name);
    const old = existing.get(name);
    if (v === undefined) {
      // C drops every line this command line does not set, keys included, which leaves a stanza
      // that cannot make packets. Key variables are kept instead.
      if (old !== undefined && CRITICAL_RC_VARIABLES.has(name)) body.push(old);
      continue;
    }
    if (
      old !== undefined &&
      CRITICAL_RC_VARIABLES.has(name) &&
      !force &&
      !(await ask(name, stanza))
    ) {
      body.push(old);
      continue;
    }
    body.push(rcLine(name, v).replace(/\n$/, ""));
  }

  let out: string[];
  if (found === null)
    out = [
      ...lines,
      ...(lines.length > 0 && lines[lines.length - 1] !== "" ? [""] : []),
      `[${stanza}]`,
      ...body,
    ];
  else
    out = [
      ...lines.slice(0, found.start + 1),
      ...body,
      ...(found.end < lines.length ? [""] : []),
      ...lines.slice(found.end),
    ];
  const tmp = `${path}.updated`;
  writeFileSync(tmp, `${out.join("\n")}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
