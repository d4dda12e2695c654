/**
 * PRIVSEP and RUN_AS_USER (ours): who the packet-parsing process runs as. The default is a
 * `fwknopd` system user when the host has one (an admin can create it with
 * `useradd --system --no-create-home --shell /usr/sbin/nologin fwknopd`), else `nobody`; never
 * root, whatever the file says.
 */
import { statSync } from "node:fs";
import { ConfigError } from "../../errors.js";
import type { ServerConfig } from "../../config/fwknopd-conf.js";
import { resolveRunAs } from "../actions/run-command.js";
import type { ServedStanza } from "../pipeline/served-stanza.js";

export interface Privsep {
  user: string;
  uid: number;
  gid: number;
}

/** Null with PRIVSEP N. Throws ConfigError (file:line) for a user that is unknown or root. */
export function privsepOf(conf: ServerConfig, fwknopdFile: string): Privsep | null {
  if (!conf.value("PRIVSEP")) return null;
  const given = conf.value("RUN_AS_USER");
  const user = given ?? (typeof resolveRunAs("fwknopd", null) === "object" ? "fwknopd" : "nobody");
  const at = conf.origin("RUN_AS_USER");
  const bad = (why: string): ConfigError =>
    new ConfigError(at?.file ?? fwknopdFile, at?.line ?? 0, `RUN_AS_USER '${user}': ${why}`);
  const ids = resolveRunAs(user, null);
  if (ids === null || typeof ids === "string")
    throw bad("no such user in /etc/passwd; create it, name another, or set PRIVSEP N");
  if (ids.uid === 0)
    throw bad("is root; the packet parser must run as an unprivileged user (or set PRIVSEP N)");
  return { user, uid: ids.uid, gid: ids.gid };
}

/**
 * gpg runs in the packet parser, as RUN_AS_USER: each GPG stanza's GPG_HOME_DIR must be that
 * user's (gpg refuses a home it does not own, and writes its lock files and agent socket there).
 * The error names the stanza and says both ways out.
 */
export function gpgHomeProblem(
  stanzas: readonly Pick<ServedStanza, "file" | "line" | "gpgResolved">[],
  p: Privsep,
): ConfigError | null {
  for (const s of stanzas) {
    const home = s.gpgResolved?.homeDir;
    if (home === undefined) continue;
    let owner: number | null = null;
    try {
      owner = statSync(home).uid;
    } catch {
      owner = null;
    }
    if (owner === p.uid) continue;
    return new ConfigError(
      s.file,
      s.line,
      `GPG_HOME_DIR ${home} ${owner === null ? "does not exist" : `belongs to uid ${owner}`}; gpg runs in the packet parser as RUN_AS_USER ${p.user} (uid ${p.uid}): chown -R ${p.user} ${home}, or set PRIVSEP N in fwknopd.conf`,
    );
  }
  return null;
}
