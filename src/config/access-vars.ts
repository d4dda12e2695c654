/**
 * Every access.conf stanza variable, declared once (server/access.c:parse_access_file): how its
 * value is read into the stanza, whether it is secret (never echoed), whether a %include_keys file
 * may set it (access.c:include_keys_file), and a line of documentation. SOURCE starts a stanza
 * and is handled by the reader. Values arrive latin1-decoded (byte per character): keys, the
 * GPG passphrase and REQUIRE_USERNAME stay so; file names, users and commands are turned to text.
 */
import { parseDigestName, parseEncMode } from "../spa/index.js";
import type { AccessStanza } from "./access-stanza.js";
import { utf8 } from "./conf-lines.js";
import {
  keyBytes,
  parseAddressList,
  parseBool,
  parseExpireDate,
  parseForceNat,
  parseIntIn,
  parseIpv4,
  parsePortList,
  parseStringList,
  isPlaceholder,
  type Bad,
} from "./access-values.js";

export interface SetContext {
  bad: Bad;
  isDirectory: (path: string) => boolean;
}

export interface StanzaVar {
  readonly name: string;
  readonly set: (s: AccessStanza, v: string, ctx: SetContext) => void;
  readonly doc: string;
  readonly secret?: boolean;
  /** Honoured inside %include_keys files. */
  readonly inKeysFile?: boolean;
}

/** 2 << 22: RCHK_MAX_FW_TIMEOUT and RCHK_MAX_CMD_CYCLE_TIMER (server/fwknopd_common.h). */
const MAX_TIMER = 8388608;
/** MAX_CONNECTIONS: a token-bucket burst in the kernel; more than this is a window anyway. */
const MAX_COUNTED = 1000;

const v = (
  name: string,
  doc: string,
  set: StanzaVar["set"],
  extra: { secret?: boolean; inKeysFile?: boolean } = {},
): StanzaVar => ({ name, doc, set, ...extra });

const keepCmd = (name: string, s: AccessStanza, val: string): void => {
  s.cmd[name] = val;
};
const keepNat = (name: string, s: AccessStanza, val: string): void => {
  s.nat[name] = val;
};

export const STANZA_VARS: readonly StanzaVar[] = [
  v("DESTINATION", "destination networks (same syntax as SOURCE)", (s, val, { bad }) => {
    s.destination = parseAddressList(val, bad);
  }),
  v("OPEN_PORTS", "proto/port list every requested port must be in", (s, val, { bad }) => {
    s.openPorts = parsePortList(val, bad);
  }),
  v("RESTRICT_PORTS", "proto/port list never granted", (s, val, { bad }) => {
    s.restrictPorts = parsePortList(val, bad);
  }),
  v(
    "KEY",
    "Rijndael passphrase, raw text",
    (s, val, { bad }) => {
      s.key = keyBytes(val, false, bad);
    },
    { secret: true, inKeysFile: true },
  ),
  v(
    "KEY_BASE64",
    "Rijndael key, base64",
    (s, val, { bad }) => {
      s.key = keyBytes(val, true, bad);
    },
    { secret: true, inKeysFile: true },
  ),
  v(
    "HMAC_KEY",
    "HMAC key, raw text; enables HMAC checking",
    (s, val, { bad }) => {
      s.hmacKey = keyBytes(val, false, bad);
    },
    { secret: true, inKeysFile: true },
  ),
  v(
    "HMAC_KEY_BASE64",
    "HMAC key, base64; enables HMAC checking",
    (s, val, { bad }) => {
      s.hmacKey = keyBytes(val, true, bad);
    },
    { secret: true, inKeysFile: true },
  ),
  v(
    "HMAC_DIGEST_TYPE",
    "md5, sha1, sha256 (default), sha384, sha512, sha3_256, sha3_512",
    (s, val, { bad }) => {
      const d = parseDigestName(val);
      if (d === undefined)
        return bad("expected md5, sha1, sha256, sha384, sha512, sha3_256 or sha3_512");
      s.hmacType = d;
    },
  ),
  v(
    "ENCRYPTION_MODE",
    "CBC (default), ECB, CFB, OFB, CTR, legacy or Asymmetric",
    (s, val, { bad }) => {
      const m = parseEncMode(val);
      if (m === undefined) return bad("expected CBC, ECB, CFB, OFB, CTR, legacy or Asymmetric");
      s.mode = m;
    },
  ),
  v(
    "FW_ACCESS_TIMEOUT",
    "seconds a grant lasts when the client asks none (0: 30)",
    (s, val, { bad }) => {
      s.fwAccessTimeout = parseIntIn(val, 0, MAX_TIMER, bad);
    },
  ),
  v("MAX_FW_TIMEOUT", "cap on client-requested timeouts (0: 300)", (s, val, { bad }) => {
    s.maxFwTimeout = parseIntIn(val, 0, MAX_TIMER, bad);
  }),
  v("ACCESS_EXPIRE", "MM/DD/YYYY after which the stanza no longer applies", (s, val, { bad }) => {
    s.accessExpire = parseExpireDate(val, bad);
  }),
  v("ACCESS_EXPIRE_EPOCH", "the same as epoch seconds", (s, val, { bad }) => {
    s.accessExpire = parseIntIn(val, 0, Number.MAX_SAFE_INTEGER, bad);
  }),
  v("REQUIRE_USERNAME", "exact username the SPA packet must carry", (s, val) => {
    s.requireUsername = val;
  }),
  v("REQUIRE_SOURCE_ADDRESS", "refuse packets asking access for 0.0.0.0", (s, val, { bad }) => {
    s.requireSourceAddress = parseBool(val, bad);
  }),
  v("REQUIRE_SOURCE", "synonym of REQUIRE_SOURCE_ADDRESS", (s, val, { bad }) => {
    s.requireSourceAddress = parseBool(val, bad);
  }),
  v("ENABLE_CMD_EXEC", "allow command messages", (s, val, { bad }) => {
    s.enableCmdExec = parseBool(val, bad);
  }),
  v("ENABLE_CMD_SUDO_EXEC", "run commands through sudo", (s, val, { bad }) => {
    s.enableCmdSudoExec = parseBool(val, bad);
    keepCmd("ENABLE_CMD_SUDO_EXEC", s, val);
  }),
  // C resolves these users and groups with getpwnam at parse time; that check waits for commands.
  v("CMD_SUDO_EXEC_USER", "sudo -u user", (s, val) => {
    s.cmdSudoExecUser = utf8(val);
    keepCmd("CMD_SUDO_EXEC_USER", s, val);
  }),
  v("CMD_SUDO_EXEC_GROUP", "sudo -g group", (s, val) => {
    s.cmdSudoExecGroup = utf8(val);
    keepCmd("CMD_SUDO_EXEC_GROUP", s, val);
  }),
  v("CMD_EXEC_USER", "setuid to this user before running a command", (s, val) => {
    s.cmdExecUser = utf8(val);
    keepCmd("CMD_EXEC_USER", s, val);
  }),
  v("CMD_EXEC_GROUP", "setgid to this group before running a command", (s, val) => {
    s.cmdExecGroup = utf8(val);
    keepCmd("CMD_EXEC_GROUP", s, val);
  }),
  v("CMD_CYCLE_OPEN", "command run instead of opening the firewall", (s, val) => {
    s.cmdCycleOpen = utf8(val);
    keepCmd("CMD_CYCLE_OPEN", s, val);
  }),
  v("CMD_CYCLE_CLOSE", "command run when the cycle ends (NONE: none)", (s, val) => {
    s.cmdCycleClose = utf8(val);
    keepCmd("CMD_CYCLE_CLOSE", s, val);
  }),
  v("CMD_CYCLE_TIMER", "seconds between open and close", (s, val, { bad }) => {
    s.cmdCycleTimer = parseIntIn(val, 1, MAX_TIMER, bad);
    keepCmd("CMD_CYCLE_TIMER", s, val);
  }),
  // Their fwknopd.conf prerequisites (ENABLE_IPT_FORWARDING...) are checked by the server.
  v("FORCE_NAT", "<IPv4> <port>: always DNAT there", (s, val, { bad }) => {
    s.forceNat = parseForceNat(val, bad);
    keepNat("FORCE_NAT", s, val);
  }),
  v("FORCE_SNAT", "<IPv4>: static SNAT address", (s, val, { bad }) => {
    s.forceSnat = parseIpv4(val, bad);
    keepNat("FORCE_SNAT", s, val);
  }),
  v("FORCE_MASQUERADE", "MASQUERADE instead of SNAT", (s, val, { bad }) => {
    s.forceMasquerade = parseBool(val, bad);
    keepNat("FORCE_MASQUERADE", s, val);
  }),
  v("FORWARD_ALL", "forward everything from the client", (s, val, { bad }) => {
    s.forwardAll = parseBool(val, bad);
    keepNat("FORWARD_ALL", s, val);
  }),
  v("DISABLE_DNAT", "FORWARD (and SNAT) rules without DNAT", (s, val, { bad }) => {
    s.disableDnat = parseBool(val, bad);
    keepNat("DISABLE_DNAT", s, val);
  }),
  v(
    "GPG_HOME_DIR",
    "existing directory with the server's keyring",
    (s, val, { bad, isDirectory }) => {
      if (!isDirectory(utf8(val))) bad("not an existing directory");
      s.gpg.homeDir = utf8(val);
    },
  ),
  v("GPG_EXE", "gpg binary for this stanza", (s, val) => {
    s.gpg.exe = utf8(val);
  }),
  v(
    "GPG_DECRYPT_ID",
    "server key id",
    (s, val) => {
      s.gpg.decryptId = val;
    },
    { inKeysFile: true },
  ),
  v(
    "GPG_DECRYPT_PW",
    "server key passphrase; enables GPG",
    (s, val, { bad }) => {
      if (isPlaceholder(val)) bad("replace __CHANGEME__ with the GPG key's passphrase");
      s.gpg.decryptPw = val;
      s.gpg.use = true;
    },
    { secret: true, inKeysFile: true },
  ),
  v(
    "GPG_ALLOW_NO_PW",
    "server key has no passphrase; enables GPG",
    (s, val, { bad }) => {
      s.gpg.allowNoPw = parseBool(val, bad);
      if (s.gpg.allowNoPw) {
        s.gpg.use = true;
        s.gpg.decryptPw = "";
      }
    },
    { inKeysFile: true },
  ),
  v(
    "GPG_REQUIRE_SIG",
    "require a signature (the default with GPG)",
    (s, val, { bad }) => {
      s.gpg.requireSig = parseBool(val, bad);
    },
    { inKeysFile: true },
  ),
  v(
    "GPG_DISABLE_SIG",
    "do not require a signature",
    (s, val, { bad }) => {
      s.gpg.disableSig = parseBool(val, bad);
    },
    { inKeysFile: true },
  ),
  v(
    "GPG_IGNORE_SIG_VERIFY_ERROR",
    "accept bad or untrusted signatures",
    (s, val, { bad }) => {
      s.gpg.ignoreSigVerifyError = parseBool(val, bad);
    },
    { inKeysFile: true },
  ),
  v(
    "GPG_REMOTE_ID",
    "comma list of allowed signer key ids",
    (s, val, { bad }) => {
      s.gpg.remoteIds = parseStringList(val, bad);
    },
    { inKeysFile: true },
  ),
  v(
    "GPG_FINGERPRINT_ID",
    "comma list of allowed signer fingerprints",
    (s, val, { bad }) => {
      s.gpg.fingerprintIds = parseStringList(val, bad);
    },
    { inKeysFile: true },
  ),
  v(
    "MAX_CONNECTIONS",
    "new connections each grant admits (ours; 1: one-shot; 0: C's window, the default)",
    (s, val, { bad }) => {
      s.maxConnections = parseIntIn(val, 0, MAX_COUNTED, bad);
    },
  ),
  v(
    "REQUIRE_CONNECT_TOKEN",
    "new connections must start with the SPA packet's one-time connect token (ours; fwknop --connect --connect-token sends it)",
    (s, val, { bad }) => {
      s.requireConnectToken = parseBool(val, bad);
    },
  ),
  v(
    "REVOKE_CONNECTIONS_ON_EXPIRY",
    "cut the connections a grant let in when it ends (ours; nftables; local services)",
    (s, val, { bad }) => {
      s.revokeConnectionsOnExpiry = parseBool(val, bad);
    },
  ),
];

export const STANZA_VAR_BY_NAME: ReadonlyMap<string, StanzaVar> = new Map(
  STANZA_VARS.map((x) => [x.name, x]),
);
