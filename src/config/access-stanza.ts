/**
 * One access.conf stanza: its typed fields, C's defaults (server/access.c:set_acc_defaults), the
 * whole-stanza checks (access.c:acc_data_is_valid) and the -D summary (access.c:dump_access_list).
 */
import { ConfigError } from "../errors.js";
import {
  MAX_DIGEST_BLOCK_LEN,
  MAX_SPA_USERNAME_SIZE,
  RIJNDAEL_MAX_KEYSIZE,
  type DigestName,
  type EncMode,
} from "../spa/index.js";
import type { AddressList, PortEntry } from "./access-values.js";

export interface GpgStanza {
  /** C's use_gpg: GPG_DECRYPT_PW set, or GPG_ALLOW_NO_PW Y. */
  use: boolean;
  /** null: the global GPG_HOME_DIR of fwknopd.conf. */
  homeDir: string | null;
  exe: string | null;
  decryptId: string | null;
  /** "" when GPG_ALLOW_NO_PW is Y (as C). */
  decryptPw: string | null;
  allowNoPw: boolean;
  requireSig: boolean;
  disableSig: boolean;
  ignoreSigVerifyError: boolean;
  remoteIds: string[] | null;
  fingerprintIds: string[] | null;
}

export interface AccessStanza {
  /** 1-based, in file order across includes, counting valid stanzas only. */
  number: number;
  /** Where its SOURCE line is. */
  file: string;
  line: number;
  source: AddressList;
  destination: AddressList | null;
  openPorts: PortEntry[] | null;
  restrictPorts: PortEntry[] | null;
  key: Buffer | null;
  hmacKey: Buffer | null;
  /** sha256 when an HMAC key is set without HMAC_DIGEST_TYPE. */
  hmacType: DigestName | null;
  mode: EncMode;
  fwAccessTimeout: number;
  maxFwTimeout: number;
  /** Epoch seconds after which the stanza no longer applies. */
  accessExpire: number | null;
  requireUsername: string | null;
  requireSourceAddress: boolean;
  enableCmdExec: boolean;
  enableCmdSudoExec: boolean;
  cmdSudoExecUser: string | null;
  cmdSudoExecGroup: string | null;
  cmdExecUser: string | null;
  cmdExecGroup: string | null;
  cmdCycleOpen: string | null;
  cmdCycleClose: string | null;
  /** False when CMD_CYCLE_CLOSE starts with NONE. */
  cmdCycleDoClose: boolean;
  cmdCycleTimer: number | null;
  forceNat: { ip: string; port: number } | null;
  forceSnat: string | null;
  forceMasquerade: boolean;
  forwardAll: boolean;
  disableDnat: boolean;
  /**
   * MAX_CONNECTIONS (ours): new connections a grant admits; 1 is one-shot, 0 (the default) C's
   * window, where every connection from the address is let in until the grant ends.
   */
  maxConnections: number;
  /**
   * REQUIRE_CONNECT_TOKEN (ours): new connections of this stanza's grants go to fwknopd's gate,
   * which lets through only one that starts with the packet's connect token (spa/connect-token.ts).
   */
  requireConnectToken: boolean;
  /** REVOKE_CONNECTIONS_ON_EXPIRY (ours): cut the grant's connections when it ends. */
  revokeConnectionsOnExpiry: boolean;
  gpg: GpgStanza;
  /** CMD_* lines as written (kept for src/server/load-config.ts; prefer the typed fields). */
  cmd: Record<string, string>;
  /** FORCE_*, FORWARD_ALL and DISABLE_DNAT lines as written (same). */
  nat: Record<string, string>;
}

const DEF_FW_ACCESS_TIMEOUT = 30;
const DEF_MAX_FW_TIMEOUT = 300;
/** server/cmd_cycle.h: CMD_CYCLE_BUFSIZE */
const CMD_CYCLE_BUFSIZE = 256;

export function newStanza(file: string, line: number, source: AddressList): AccessStanza {
  return {
    number: 0,
    file,
    line,
    source,
    destination: null,
    openPorts: null,
    restrictPorts: null,
    key: null,
    hmacKey: null,
    hmacType: null,
    mode: "cbc",
    fwAccessTimeout: 0,
    maxFwTimeout: 0,
    accessExpire: null,
    requireUsername: null,
    requireSourceAddress: false,
    enableCmdExec: false,
    enableCmdSudoExec: false,
    cmdSudoExecUser: null,
    cmdSudoExecGroup: null,
    cmdExecUser: null,
    cmdExecGroup: null,
    cmdCycleOpen: null,
    cmdCycleClose: null,
    cmdCycleDoClose: true,
    cmdCycleTimer: null,
    forceNat: null,
    forceSnat: null,
    forceMasquerade: false,
    forwardAll: false,
    disableDnat: false,
    maxConnections: 0,
    requireConnectToken: false,
    revokeConnectionsOnExpiry: false,
    gpg: {
      use: false,
      homeDir: null,
      exe: null,
      decryptId: null,
      decryptPw: null,
      allowNoPw: false,
      requireSig: false,
      disableSig: false,
      ignoreSigVerifyError: false,
      remoteIds: null,
      fingerprintIds: null,
    },
    cmd: {},
    nat: {},
  };
}

/**
 * access.c:acc_data_is_valid, then set_acc_defaults, for one stanza: throws a ConfigError at its
 * SOURCE line, pushes C's warnings. Key lengths are checked here too (C accepts any length and
 * then fails on every packet).
 */
export function validateStanza(s: AccessStanza, warnings: string[]): void {
  const where = `${s.file}:${s.line}: stanza for SOURCE '${s.source.text}'`;
  const fail: (why: string) => never = (why) => {
    throw new ConfigError(s.file, s.line, `stanza for SOURCE '${s.source.text}': ${why}`);
  };
  const g = s.gpg;
  const hasKey = s.key !== null && s.key.length > 0;
  const hasGpg = (g.decryptPw !== null && g.decryptPw !== "") || g.allowNoPw;
  if (!hasKey && !hasGpg)
    fail("no KEY or KEY_BASE64 (nor GPG_DECRYPT_PW / GPG_ALLOW_NO_PW): every stanza needs a key");

  if (s.mode === "legacy" && s.key !== null && s.key.length > 16) {
    warnings.push(`${where}: truncating encryption key in legacy mode to 16 bytes`);
    s.key = s.key.subarray(0, 16);
  }
  if (s.key !== null && s.key.length > RIJNDAEL_MAX_KEYSIZE)
    fail(`the encryption key is ${s.key.length} bytes; at most ${RIJNDAEL_MAX_KEYSIZE}`);
  if (s.hmacKey !== null && s.hmacKey.length > MAX_DIGEST_BLOCK_LEN)
    fail(`the HMAC key is ${s.hmacKey.length} bytes; at most ${MAX_DIGEST_BLOCK_LEN}`);

  if (s.hmacKey !== null) {
    const samePw =
      !g.allowNoPw && g.decryptPw !== null && Buffer.from(g.decryptPw, "latin1").equals(s.hmacKey);
    if ((hasKey && s.key?.equals(s.hmacKey) === true) || samePw)
      fail("the HMAC key must differ from the encryption key");
  }

  if ((s.forceSnat !== null || s.forceMasquerade) && s.forceNat === null) {
    if (s.forwardAll) s.forceNat = { ip: "0.0.0.0", port: 0 };
    else fail("FORCE_SNAT/FORCE_MASQUERADE requires either FORCE_NAT or FORWARD_ALL");
  }

  if (s.maxConnections > 0 && s.forceNat !== null)
    fail(
      "MAX_CONNECTIONS counts plain access only; it cannot be used with FORCE_NAT or FORWARD_ALL",
    );

  if (s.requireConnectToken) {
    if (s.hmacKey === null)
      fail(
        "REQUIRE_CONNECT_TOKEN needs an HMAC key (HMAC_KEY or HMAC_KEY_BASE64): the token is made with it",
      );
    if (s.forceNat !== null)
      fail("REQUIRE_CONNECT_TOKEN cannot be used with FORCE_NAT or FORWARD_ALL");
    if (s.maxConnections > 0)
      fail(
        "REQUIRE_CONNECT_TOKEN and MAX_CONNECTIONS cannot be combined: each token admits one connection already",
      );
  }

  if (!s.requireSourceAddress)
    warnings.push(`${where}: Warning: REQUIRE_SOURCE_ADDRESS not enabled for this stanza`);
  // lib/fko_decode.c: a username field of more than MAX_SPA_USERNAME_SIZE base64 characters is
  // refused, so no packet carries a longer name than this; C takes such a stanza silently.
  const maxUser = (MAX_SPA_USERNAME_SIZE * 3) / 4;
  if (s.requireUsername !== null && s.requireUsername.length > maxUser)
    warnings.push(
      `${where}: Warning: REQUIRE_USERNAME is ${s.requireUsername.length} bytes; an SPA packet carries at most ${maxUser} (${MAX_SPA_USERNAME_SIZE} base64 characters), so this stanza refuses every packet`,
    );

  if (s.cmdCycleOpen !== null) {
    if (s.cmdCycleClose === null) fail("CMD_CYCLE_OPEN needs CMD_CYCLE_CLOSE (NONE for no close)");
    s.cmdCycleDoClose = !s.cmdCycleClose.startsWith("NONE");
    if (s.cmdCycleTimer === null && s.cmdCycleDoClose)
      fail("CMD_CYCLE_TIMER is required unless CMD_CYCLE_CLOSE is NONE");
    if (s.cmdCycleOpen.length >= CMD_CYCLE_BUFSIZE)
      fail(`CMD_CYCLE_OPEN must be shorter than ${CMD_CYCLE_BUFSIZE} characters`);
  }
  if (s.cmdCycleClose !== null) {
    if (s.cmdCycleOpen === null) fail("CMD_CYCLE_CLOSE needs CMD_CYCLE_OPEN");
    if (s.cmdCycleClose.length >= CMD_CYCLE_BUFSIZE)
      fail(`CMD_CYCLE_CLOSE must be shorter than ${CMD_CYCLE_BUFSIZE} characters`);
  }

  // set_acc_defaults
  if (s.fwAccessTimeout < 1) s.fwAccessTimeout = DEF_FW_ACCESS_TIMEOUT;
  if (s.maxFwTimeout < 1) s.maxFwTimeout = DEF_MAX_FW_TIMEOUT;
  if (s.maxFwTimeout < s.fwAccessTimeout)
    warnings.push(`${where}: Warning: MAX_FW_TIMEOUT < FW_ACCESS_TIMEOUT, honoring MAX_FW_TIMEOUT`);
  if (g.decryptPw !== null) {
    // GPG_REQUIRE_SIG N alone does not turn signatures off in C; only GPG_DISABLE_SIG does.
    if (!g.requireSig) {
      if (g.disableSig)
        warnings.push(`${where}: Warning: GPG_REQUIRE_SIG should really be enabled`);
      else g.requireSig = true;
    } else if (g.disableSig)
      warnings.push(
        `${where}: Warning: GPG_REQUIRE_SIG and GPG_DISABLE_SIG are both set, will check sigs`,
      );
    if (!g.disableSig && g.remoteIds === null && g.fingerprintIds === null)
      fail("GPG signatures are checked, so GPG_REMOTE_ID or GPG_FINGERPRINT_ID is required");
  }
  if (s.hmacKey !== null && s.hmacType === null) s.hmacType = "sha256";
}

/** -D: a stanza laid out as access.c:dump_access_list prints it; keys and passwords hidden. */
export function stanzaSummary(s: AccessStanza): string {
  const NOT = "<not set>";
  const HIDDEN = "<see the access.conf file>";
  const yn = (b: boolean): string => (b ? "Yes" : "No");
  const ports = (p: PortEntry[] | null): string =>
    p === null ? NOT : p.map((x) => `${x.proto}/${x.port}`).join(", ");
  const rows: Array<[string, string | number]> = [
    ["DESTINATION", s.destination?.text ?? NOT],
    ["OPEN_PORTS", ports(s.openPorts)],
    ["RESTRICT_PORTS", ports(s.restrictPorts)],
    ["KEY", s.key === null ? NOT : HIDDEN],
    ["KEY_LEN", s.key?.length ?? 0],
    ["HMAC_KEY", s.hmacKey === null ? NOT : HIDDEN],
    ["HMAC_KEY_LEN", s.hmacKey?.length ?? 0],
    ["HMAC_DIGEST_TYPE", s.hmacType ?? NOT],
    ["ENCRYPTION_MODE", s.mode],
    ["FW_ACCESS_TIMEOUT", s.fwAccessTimeout],
    ["MAX_FW_TIMEOUT", s.maxFwTimeout],
    ["ENABLE_CMD_EXEC", yn(s.enableCmdExec)],
    ["ENABLE_CMD_SUDO_EXEC", yn(s.enableCmdSudoExec)],
    ["CMD_SUDO_EXEC_USER", s.cmdSudoExecUser ?? NOT],
    ["CMD_SUDO_EXEC_GROUP", s.cmdSudoExecGroup ?? NOT],
    ["CMD_EXEC_USER", s.cmdExecUser ?? NOT],
    ["CMD_EXEC_GROUP", s.cmdExecGroup ?? NOT],
    ["CMD_CYCLE_OPEN", s.cmdCycleOpen ?? NOT],
    ["CMD_CYCLE_CLOSE", s.cmdCycleClose ?? NOT],
    ["CMD_CYCLE_TIMER", s.cmdCycleTimer ?? 0],
    ["REQUIRE_USERNAME", s.requireUsername ?? NOT],
    ["REQUIRE_SOURCE_ADDRESS", yn(s.requireSourceAddress)],
    ["FORCE_NAT (ip)", s.forceNat?.ip ?? NOT],
    ["FORCE_NAT (port)", s.forceNat?.port ?? 0],
    ["FORCE_SNAT (ip)", s.forceSnat ?? NOT],
    ["FORCE_MASQUERADE", yn(s.forceMasquerade)],
    ["DISABLE_DNAT", yn(s.disableDnat)],
    ["FORWARD_ALL", yn(s.forwardAll)],
    ["ACCESS_EXPIRE", s.accessExpire === null ? NOT : new Date(s.accessExpire * 1000).toString()],
    ["GPG_HOME_DIR", s.gpg.homeDir ?? NOT],
    ["GPG_EXE", s.gpg.exe ?? NOT],
    ["GPG_DECRYPT_ID", s.gpg.decryptId ?? NOT],
    ["GPG_DECRYPT_PW", s.gpg.decryptPw === null ? NOT : HIDDEN],
    ["GPG_REQUIRE_SIG", yn(s.gpg.requireSig)],
    ["GPG_IGNORE_SIG_VERIFY_ERROR", yn(s.gpg.ignoreSigVerifyError)],
    ["GPG_REMOTE_ID", s.gpg.remoteIds?.join(", ") ?? NOT],
    ["GPG_FINGERPRINT_ID", s.gpg.fingerprintIds?.join(", ") ?? NOT],
    // Ours, so listed only when set: C's layout stays as it was for C's variables.
    ...(s.maxConnections > 0 ? [["MAX_CONNECTIONS", s.maxConnections] as [string, number]] : []),
    ...(s.requireConnectToken ? [["REQUIRE_CONNECT_TOKEN", "Yes"] as [string, string]] : []),
    ...(s.revokeConnectionsOnExpiry
      ? [["REVOKE_CONNECTIONS_ON_EXPIRY", "Yes"] as [string, string]]
      : []),
  ];
  return [
    `SOURCE (${s.number}):  ${s.source.text}   (${s.file}:${s.line})`,
    "==============================================================",
    ...rows.map(([k, v]) => `${k.padStart(27)}:  ${v}`),
  ].join("\n");
}
