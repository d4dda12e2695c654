/**
 * An access.conf stanza as fwknopd serves it: the stanza as config/access-stanza.ts parsed it,
 * plus the two things the packet path needs resolved once at load instead of per packet: the HMAC
 * key with its digest type in the shape the codec takes, and the GPG settings with fwknopd.conf's
 * GPG_HOME_DIR / GPG_EXE filled in where the stanza sets neither.
 */
import type { AccessStanza } from "../../config/access-stanza.js";
import type { HmacSpec } from "../../spa/packet.js";

/** GPG settings of a stanza (server/incoming_spa.c:handle_gpg_enc), when it takes GPG packets. */
export interface ResolvedGpg {
  homeDir: string;
  exe: string;
  /** GPG_DECRYPT_PW, or "" with GPG_ALLOW_NO_PW. */
  decryptPw: string;
  requireSig: boolean;
  ignoreSigVerifyError: boolean;
  remoteIds: readonly string[] | null;
  fingerprintIds: readonly string[] | null;
}

export interface ServedStanza extends AccessStanza {
  /** HMAC_KEY with its HMAC_DIGEST_TYPE (sha256 by default); null without an HMAC key. */
  hmac: HmacSpec | null;
  /** Null when the stanza takes no GPG packets. */
  gpgResolved: ResolvedGpg | null;
}

/** fwknopd.conf's GPG_HOME_DIR and GPG_EXE (with their defaults). */
export interface GpgDefaults {
  homeDir: string;
  exe: string;
}

/** The stanza's GPG settings, its own GPG_HOME_DIR / GPG_EXE or fwknopd.conf's. */
function resolveGpg(s: AccessStanza, defaults: GpgDefaults): ResolvedGpg | null {
  const g = s.gpg;
  if (!g.use || g.decryptPw === null) return null;
  return {
    homeDir: g.homeDir ?? defaults.homeDir,
    exe: g.exe ?? defaults.exe,
    decryptPw: g.allowNoPw ? "" : g.decryptPw,
    requireSig: g.requireSig,
    ignoreSigVerifyError: g.ignoreSigVerifyError,
    remoteIds: g.remoteIds,
    fingerprintIds: g.fingerprintIds,
  };
}

export function serveStanza(s: AccessStanza, gpgDefaults: GpgDefaults): ServedStanza {
  return {
    ...s,
    hmac: s.hmacKey === null ? null : { type: s.hmacType ?? "sha256", key: s.hmacKey },
    gpgResolved: resolveGpg(s, gpgDefaults),
  };
}
