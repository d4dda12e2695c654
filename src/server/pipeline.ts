/**
 * One SPA payload in, one decision out: grant these, or refuse with a reason. Pure apart from the
 * clock and the replay lookup passed in. Order (design.md "The hot path"), cheapest first, nothing
 * stored before authentication:
 *   size and charset -> stanzas by SOURCE -> per stanza: HMAC, replay lookup (once), decrypt,
 *   decode -> policy (age, allow IP, username, message type, ports) -> grants.
 * Stanzas are tried in file order and the first that passes wins (server/incoming_spa.c:
 * incoming_spa); one that fails logs why and the next is tried.
 */
import { createHash } from "node:crypto";
import { isIPv4, type BlockList } from "node:net";
// From the modules themselves, not the ../spa/index.js barrel: its re-exports are getters, one
// call each time a function is reached through them, and this code runs for every packet.
import { b64NoPad, isWireCharset } from "../spa/base64.js";
import {
  B64_GPG_PREFIX,
  B64_RIJNDAEL_SALT,
  MAX_SPA_ENCODED_MSG_SIZE,
  MIN_GNUPG_MSG_SIZE,
  isNatType,
} from "../spa/constants.js";
import { fkoErrorText } from "../spa/fko-errors.js";
import {
  decryptSpaCiphertext,
  verifyGpgHmac,
  verifySpaHmac,
  type OpenedSpa,
  type SpaKeys,
} from "../spa/packet.js";
import type { RejectReason, Result } from "../spa/reasons.js";
import { isValidIpv4 } from "../spa/validate.js";
import type { GpgOpened } from "../gpg/open.js";
import { shortKeyId } from "../gpg/status.js";
import { signatureProblem, signerRefusal } from "./gpg-policy.js";
import type { CycleVars } from "./commands.js";
import type { Grant, GrantNat, GrantProto, NatSettings } from "./firewall/types.js";
import { Refusal, type RefusalReason } from "./refusals.js";

/** fwknopd ignores payloads shorter than this (server/fwknopd_common.h:MIN_SPA_DATA_SIZE). */
export const MIN_SPA_DATA_SIZE = 140;

export interface AddressMatch {
  any: boolean;
  list: BlockList;
}

export interface PortSpec {
  proto: GrantProto;
  port: number;
}

/** GPG settings of a stanza (server/incoming_spa.c:handle_gpg_enc), when it takes GPG packets. */
export interface PipelineGpg {
  homeDir: string;
  exe: string;
  /** GPG_DECRYPT_PW, or "" with GPG_ALLOW_NO_PW. */
  decryptPw: string;
  requireSig: boolean;
  ignoreSigVerifyError: boolean;
  remoteIds: readonly string[] | null;
  fingerprintIds: readonly string[] | null;
}

/**
 * Runs gpg for a stanza (src/gpg/open.ts behind the daemon's bound on concurrent runs); null when
 * no run can be started now, and the packet is dropped.
 */
export type GpgOpener = (
  gpg: PipelineGpg,
  candidates: readonly string[],
) => Promise<Result<GpgOpened>> | null;

/** What the pipeline needs of an access.conf stanza. */
export interface PipelineStanza {
  /** 1-based, as fwknopd logs it. */
  number: number;
  source: AddressMatch;
  destination: AddressMatch | null;
  /** keys.key is empty for a stanza with no Rijndael key (GPG only). */
  keys: SpaKeys;
  gpg: PipelineGpg | null;
  openPorts: readonly PortSpec[] | null;
  restrictPorts: readonly PortSpec[] | null;
  fwAccessTimeout: number;
  maxFwTimeout: number;
  /** Epoch seconds after which the stanza is skipped, or null. */
  accessExpire: number | null;
  requireUsername: string | null;
  requireSourceAddress: boolean;
  enableCmdExec: boolean;
  /** CMD_CYCLE_*: commands instead of firewall rules; close null for CMD_CYCLE_CLOSE NONE. */
  cycle: { open: string; close: string | null; timer: number | null } | null;
  /** ENABLE_CMD_SUDO_EXEC, CMD_SUDO_EXEC_USER/GROUP, CMD_EXEC_USER/GROUP. */
  exec: {
    sudo: boolean;
    sudoUser: string | null;
    sudoGroup: string | null;
    user: string | null;
    group: string | null;
  };
  /** FORCE_NAT, FORCE_SNAT, FORCE_MASQUERADE, FORWARD_ALL, DISABLE_DNAT; absent: none. */
  nat?: StanzaNat;
}

export interface StanzaNat {
  forceNat: { ip: string; port: number } | null;
  forceSnat: string | null;
  forceMasquerade: boolean;
  forwardAll: boolean;
  disableDnat: boolean;
}

/** NAT switched off entirely (the fwknopd.conf defaults). */
export const NO_NAT: NatSettings = {
  forwarding: false,
  localNat: false,
  snat: false,
  snatTranslateIp: null,
  natDns: true,
};

export interface PipelineSettings {
  packetAging: boolean;
  maxPacketAge: number;
  testMode: boolean;
  /** NAT switches from fwknopd.conf; absent means NAT is off. */
  nat?: NatSettings;
}

export interface Incoming {
  data: string;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
}

export interface Granted {
  kind: "grant";
  stanza: number;
  user: string;
  spa: OpenedSpa;
  /** Replay digest of this packet: to be persisted before the grant. */
  digest: string;
  /** GPG: digest of the decrypted message, persisted with `digest` (see afterGpg). */
  innerDigest?: string;
  grants: Grant[];
  timeout: number;
}

export interface Refused {
  kind: "refuse";
  reason: RefusalReason;
  /** Stanza the last refusal came from, when any stanza got that far. */
  stanza: number | null;
  message: string;
  /** Set when a stanza decrypted the packet: its digest is burnt (as C) even though refused. */
  digest: string | null;
  innerDigest?: string;
}

/** A type-0 command message to run (ENABLE_CMD_EXEC). */
export interface CommandDecision {
  kind: "command";
  stanza: number;
  user: string;
  digest: string;
  innerDigest?: string;
  /** The text after the allow IP. */
  command: string;
  ruleIp: string;
}

/** A command cycle to start: open now, close after `closeAfter` seconds. */
export interface CycleDecision {
  kind: "cycle";
  stanza: number;
  user: string;
  digest: string;
  innerDigest?: string;
  open: string;
  close: string | null;
  closeAfter: number;
  vars: CycleVars;
}

export type Settled = Granted | Refused | CommandDecision | CycleDecision;

/** A GPG stanza is being tried: gpg runs take tens of milliseconds, so the rest is async. */
export interface PendingDecision {
  kind: "pending";
  /** Replay digest of the wire: the caller treats it as seen until `decision` settles. */
  digest: string;
  decision: Promise<Settled>;
}

export type Decision = Settled | PendingDecision;

export interface PipelineLog {
  (line: string): void;
}

/** b64nopad SHA-256 of the received wire text: the replay cache key, as C fwknopd computes it. */
export function replayDigest(wire: string): string {
  return b64NoPad(createHash("sha256").update(wire, "latin1").digest());
}

function matches(m: AddressMatch, ip: string): boolean {
  return m.any || m.list.check(ip, isIPv4(ip) ? "ipv4" : "ipv6");
}

function refuse(
  reason: RefusalReason,
  message: string,
  stanza: number | null = null,
  digest: string | null = null,
): Refused {
  return { kind: "refuse", reason, stanza, message, digest };
}

/** The access list of a decoded access message: "tcp/22,udp/53" after the allow IP. */
function requestedPorts(message: string): PortSpec[] {
  return message
    .slice(message.indexOf(",") + 1)
    .split(",")
    .map((s) => {
      const [proto, port] = s.split("/");
      return { proto: proto === "udp" ? "udp" : "tcp", port: Number(port) };
    });
}

/** server/access.c:acc_check_port_access: every request in OPEN_PORTS, none in RESTRICT_PORTS. */
function portsAllowed(s: PipelineStanza, req: readonly PortSpec[]): boolean {
  const has = (list: readonly PortSpec[], p: PortSpec): boolean =>
    list.some((x) => x.proto === p.proto && x.port === p.port);
  if (s.restrictPorts !== null && req.some((p) => has(s.restrictPorts ?? [], p))) return false;
  if (s.openPorts !== null && !req.every((p) => has(s.openPorts ?? [], p))) return false;
  return true;
}

export function processSpa(
  inc: Incoming,
  stanzas: readonly PipelineStanza[],
  settings: PipelineSettings,
  isReplay: (digest: string) => boolean,
  nowSecs: number,
  log: PipelineLog,
  gpg: GpgOpener | null = null,
): Decision {
  const data = inc.data;
  // server/incoming_spa.c:preprocess_spa_data
  if (data.length < MIN_SPA_DATA_SIZE)
    return refuse(Refusal.TooSmall, `payload of ${data.length} bytes`);
  if (data.length >= MAX_SPA_ENCODED_MSG_SIZE)
    return refuse(Refusal.TooLarge, `payload of ${data.length} bytes`);
  // A re-prefixed copy of a seen packet would get a new replay digest: C drops these outright.
  if (data.startsWith(B64_RIJNDAEL_SALT))
    return refuse(Refusal.SaltedPrefix, "data starts with the Rijndael salt prefix");
  if (data.length > MIN_GNUPG_MSG_SIZE && data.startsWith(B64_GPG_PREFIX))
    return refuse(Refusal.SaltedPrefix, "data starts with the GPG prefix");
  if (!isWireCharset(data))
    return refuse(Refusal.NotBase64, "Data is not a valid SPA message format");

  const candidates = stanzas.filter(
    (s) =>
      matches(s.source, inc.srcIp) && (s.destination === null || matches(s.destination, inc.dstIp)),
  );
  if (candidates.length === 0)
    return refuse(Refusal.NoSourceMatch, `No access data found for source IP: ${inc.srcIp}`);

  const ctx: StanzaRun = { inc, candidates, settings, isReplay, nowSecs, log, gpg, digest: null };
  return tryStanzas(
    ctx,
    0,
    refuse(Refusal.DecryptFailed, `no stanza could decrypt the SPA packet from ${inc.srcIp}`),
  );
}

interface StanzaRun {
  inc: Incoming;
  candidates: readonly PipelineStanza[];
  settings: PipelineSettings;
  isReplay: (digest: string) => boolean;
  nowSecs: number;
  log: PipelineLog;
  gpg: GpgOpener | null;
  /** The wire's replay digest, once replayGate has computed it. */
  digest: string | null;
}

/**
 * The wire's replay digest, computed when the first stanza's HMAC passes, so junk never pays for
 * the SHA-256 (design.md "The hot path": HMAC, then replay); a refusal when it was seen before.
 */
function replayGate(ctx: StanzaRun): string | Refused {
  if (ctx.digest !== null) return ctx.digest;
  const digest = replayDigest(ctx.inc.data);
  ctx.digest = digest;
  if (ctx.isReplay(digest))
    return refuse(
      Refusal.Replay,
      `Replay detected from source IP: ${ctx.inc.srcIp}, destination IP: ${ctx.inc.dstIp}`,
    );
  return digest;
}

/**
 * The stanzas from `from` on, in file order; the first that passes wins. A GPG stanza hands the
 * rest of the loop to a promise (gpg is slow); Rijndael stanzas never wait.
 */
function tryStanzas(ctx: StanzaRun, from: number, lastRefusal: Refused): Decision {
  const { inc, candidates, settings, nowSecs, log } = ctx;
  const data = inc.data;
  let last = lastRefusal;
  for (let i = from; i < candidates.length; i++) {
    const s = candidates[i];
    if (s === undefined) break;
    // Built only when a refusal is logged: junk is refused here once per packet and stanza.
    const tagOf = (): string => `[${inc.srcIp}] (stanza #${s.number})`;
    const no = (reason: RefusalReason, message: string): void => {
      last = refuse(reason, `${tagOf()} ${message}`, s.number);
      log(last.message);
    };
    if (s.accessExpire !== null && nowSecs > s.accessExpire) {
      no(Refusal.StanzaExpired, "Access stanza has expired");
      continue;
    }
    // server/incoming_spa.c: GPG is tried when the data is long enough to be GPG (C's length
    // rule); a stanza with no Rijndael key also takes shorter GPG data (Curve25519 without a
    // signature is under 400 chars), which C would only ever try, and fail, as Rijndael.
    if (s.gpg !== null && (data.length >= MIN_GNUPG_MSG_SIZE || s.keys.key.length === 0)) {
      const checked = verifyGpgHmac(data, s.keys.hmac);
      if (!checked.ok) {
        no(...stanzaRefusal(checked.reason, checked.detail));
        continue;
      }
      const digest = replayGate(ctx);
      if (typeof digest !== "string") return digest;
      const run = ctx.gpg?.(s.gpg, checked.value) ?? null;
      if (run === null) {
        no(Refusal.GpgBusy, "too many GPG decryptions in progress, SPA packet dropped");
        continue;
      }
      const next = i + 1;
      const decision = run.then((opened) => {
        const d = afterGpg(ctx, s, tagOf(), opened);
        if (d.kind !== "refuse") return { ...d, digest };
        if (d.reason === Refusal.BadAllowIp || d.reason === Refusal.Replay) return d;
        return settle(tryStanzas(ctx, next, d));
      });
      return { kind: "pending", digest, decision };
    }
    if (data.length >= MIN_GNUPG_MSG_SIZE || s.keys.key.length === 0) {
      no(
        Refusal.GpgData,
        `No stanza encryption mode match for encryption type: ${data.length >= MIN_GNUPG_MSG_SIZE ? 2 : 1}.`,
      );
      continue;
    }
    // processSpa found the data to be wire charset before any stanza was tried.
    const checked = verifySpaHmac(data, s.keys.mode, s.keys.hmac, true);
    if (!checked.ok) {
      no(...stanzaRefusal(checked.reason, checked.detail));
      continue;
    }
    const digest = replayGate(ctx);
    if (typeof digest !== "string") return digest;
    const opened = decryptSpaCiphertext(checked.value, s.keys.mode, s.keys.key);
    if (!opened.ok) {
      no(Refusal.DecryptFailed, `Error creating fko context: ${opened.reason} (${opened.detail})`);
      continue;
    }
    const spa: OpenedSpa = {
      ...opened.value,
      mode: s.keys.mode,
      hmacType: s.keys.hmac?.type ?? null,
    };
    // From here on the packet is authentic: its digest is burnt even if policy refuses it (as C).
    const burn = settings.testMode ? null : digest;
    const r = checkPolicy(s, spa, inc, settings, nowSecs, tagOf(), burn);
    if (r.kind !== "refuse") return { ...r, digest };
    last = r;
    log(r.message);
    if (r.reason === Refusal.BadAllowIp) return r; // C stops all stanza processing here
  }
  return last;
}

function settle(d: Decision): Promise<Settled> | Settled {
  return d.kind === "pending" ? d.decision : d;
}

/** An HMAC step failure as fwknopd logs it (server/incoming_spa.c:check_mode_ctx). */
function stanzaRefusal(reason: RejectReason, detail: string): [RefusalReason, string] {
  return reason === "hmac_mismatch"
    ? [Refusal.HmacMismatch, "Non-corresponding HMAC for this stanza"]
    : [Refusal.DecryptFailed, `Error creating fko context: ${detail}`];
}

/**
 * After gpg: lib/gpgme_funcs.c:process_sigs (not burnt: libfko fails the decryption), the replay
 * check of the plaintext, then server/incoming_spa.c:handle_gpg_sigs and the policy (burnt).
 */
function afterGpg(
  ctx: StanzaRun,
  s: PipelineStanza,
  tag: string,
  opened: Result<GpgOpened>,
): Settled {
  const { inc, settings, nowSecs, log } = ctx;
  const g = s.gpg;
  const no = (reason: RefusalReason, message: string, burn: string | null = null): Refused => {
    const r = refuse(reason, `${tag} ${message}`, s.number, burn);
    log(r.message);
    return r;
  };
  if (g === null) return no(Refusal.DecryptFailed, "no GPG settings");
  if (!opened.ok)
    return no(
      Refusal.DecryptFailed,
      opened.reason === "gpg_decrypt"
        ? `Error creating fko context: ${fkoErrorText("FKO_ERROR_GPGME_DECRYPT_FAILED")} - GPG ERROR: ${opened.detail}`
        : `Error creating fko context: ${opened.reason} (${opened.detail})`,
    );
  const sigs = opened.value.signatures;
  const sig = sigs[0] ?? null;
  if (g.requireSig) {
    const bad = signatureProblem(sig, g.ignoreSigVerifyError);
    if (bad !== null) return no(Refusal.GpgSignature, `Error creating fko context: ${bad}`);
  }
  const spa: OpenedSpa = {
    ...opened.value.spa,
    mode: "asymmetric",
    hmacType: s.keys.hmac?.type ?? null,
  };
  // The OpenPGP framing can be re-encoded without any key (other length forms, another prefix),
  // giving a fresh wire digest for the same message; the decrypted text is the replay key that
  // cannot be changed.
  const inner = replayDigest(`${spa.encoded}:${spa.digest}`);
  if (ctx.isReplay(inner))
    return no(
      Refusal.Replay,
      `Replay detected from source IP: ${inc.srcIp} (same SPA message in another OpenPGP encoding)`,
    );
  const burn = settings.testMode ? null : ctx.digest;
  if (g.requireSig && sig !== null) {
    log(
      `${tag} Incoming SPA data signed by '${shortKeyId(sig) ?? ""}' (fingerprint '${sig.fingerprint ?? ""}').`,
    );
    const who = signerRefusal(sig, g);
    if (who !== null) return { ...no(Refusal.GpgSigner, who, burn), innerDigest: inner };
  }
  const r = checkPolicy(s, spa, inc, settings, nowSecs, tag, burn);
  if (r.kind === "refuse") log(r.message);
  return { ...r, innerDigest: inner };
}

function checkPolicy(
  s: PipelineStanza,
  spa: OpenedSpa,
  inc: Incoming,
  settings: PipelineSettings,
  nowSecs: number,
  tag: string,
  burn: string | null,
): Settled {
  const no = (reason: RefusalReason, message: string): Refused =>
    refuse(reason, `${tag} ${message}`, s.number, burn);

  // server/incoming_spa.c:set_timeout
  const timeout =
    spa.clientTimeout > 0
      ? Math.min(spa.clientTimeout, s.maxFwTimeout)
      : s.fwAccessTimeout > 0
        ? s.fwAccessTimeout
        : 30;

  if (settings.packetAging && Math.abs(nowSecs - spa.timestamp) > settings.maxPacketAge)
    return no(
      Refusal.PacketAge,
      `SPA data time difference is too great (${nowSecs - spa.timestamp} seconds).`,
    );

  const allowIp = spa.message.slice(0, spa.message.indexOf(","));
  if (!isValidIpv4(allowIp))
    return no(Refusal.BadAllowIp, `Invalid source IP in SPA message, ignoring SPA packet`);
  let ruleIp = allowIp;
  if (allowIp === "0.0.0.0") {
    if (s.requireSourceAddress)
      return no(Refusal.SourceRequired, "Got 0.0.0.0 when valid source IP was required.");
    ruleIp = inc.srcIp;
  }

  if (s.requireUsername !== null && spa.username !== s.requireUsername)
    return no(
      Refusal.Username,
      `Username in SPA data (${spa.username}) does not match required username: ${s.requireUsername}`,
    );

  // server/incoming_spa.c:check_nat_access_types
  const natSettings = settings.nat ?? NO_NAT;
  const local = spa.messageType === 5 || spa.messageType === 6;
  if (isNatType(spa.messageType) && !(local ? natSettings.localNat : natSettings.forwarding))
    return no(
      Refusal.NatNotEnabled,
      `SPA packet from ${inc.srcIp} requested NAT access, but is not enabled/supported${natSettings.unsupported !== undefined ? ` (${natSettings.unsupported})` : ""}`,
    );
  // server/incoming_spa.c: a cycle stanza runs its commands instead of firewall rules, before the
  // port checks; a command message needs ENABLE_CMD_EXEC. Neither runs anything in -t.
  if (s.cycle !== null && spa.messageType !== 0) {
    const first = requestedPorts(spa.message)[0] ?? { proto: "tcp", port: 0 };
    // C does not cap cycle timeouts at MAX_FW_TIMEOUT; we do, like any other grant.
    const secs =
      spa.clientTimeout > 0 ? Math.min(spa.clientTimeout, s.maxFwTimeout) : (s.cycle.timer ?? 0);
    if (settings.testMode)
      return no(Refusal.TestMode, "--test mode enabled, skipping command cycle.");
    return {
      kind: "cycle",
      stanza: s.number,
      user: spa.username,
      digest: "",
      open: s.cycle.open,
      close: s.cycle.close,
      closeAfter: secs,
      vars: {
        IP: ruleIp,
        SRC: ruleIp,
        PKT_SRC: inc.srcIp,
        DST: inc.dstIp,
        PORT: String(first.port),
        PROTO: first.proto === "udp" ? "17" : "6",
        TIMEOUT: String(spa.timestamp + secs),
        CLIENT_TIMEOUT: String(secs),
      },
    };
  }
  if (spa.messageType === 0) {
    if (!s.enableCmdExec)
      return no(
        Refusal.CommandNotEnabled,
        "SPA Command message are not allowed in the current configuration.",
      );
    if (settings.testMode)
      return no(Refusal.TestMode, "--test mode enabled, skipping command execution.");
    const command = spa.message.slice(spa.message.indexOf(",") + 1);
    return { kind: "command", stanza: s.number, user: spa.username, digest: "", command, ruleIp };
  }

  const req = requestedPorts(spa.message);
  if (!portsAllowed(s, req))
    return no(
      Refusal.PortDenied,
      "One or more requested protocol/ports was denied per access.conf.",
    );

  if (settings.testMode)
    return no(Refusal.TestMode, "--test mode enabled, skipping firewall manipulation.");

  const family = isIPv4(ruleIp) ? 4 : 6;
  if (isNatType(spa.messageType) || (s.nat?.forceNat ?? null) !== null) {
    const first = req[0] ?? { proto: "tcp", port: 0 };
    if (family !== 4)
      return no(Refusal.NatTarget, `NAT access needs an IPv4 client address, not ${ruleIp}`);
    const nat = natFor(s, spa, natSettings, local);
    if (typeof nat === "string") return no(Refusal.NatTarget, nat);
    const grant: Grant = {
      stanza: s.number,
      user: spa.username,
      address: ruleIp,
      family,
      proto: first.proto,
      port: first.port,
      expiresAt: nowSecs + timeout,
      destination: null,
      nat,
    };
    return {
      kind: "grant",
      stanza: s.number,
      user: spa.username,
      spa,
      digest: "",
      grants: [grant],
      timeout,
    };
  }
  const grants: Grant[] = req.map((p) => ({
    stanza: s.number,
    user: spa.username,
    address: ruleIp,
    family,
    proto: p.proto,
    port: p.port,
    expiresAt: nowSecs + timeout,
    destination: null,
    spaDestination: inc.dstIp,
  }));
  return { kind: "grant", stanza: s.number, user: spa.username, spa, digest: "", grants, timeout };
}

/**
 * Where a NAT grant goes, as server/fw_util_iptables.c:process_spa_request, dnat_rule and
 * snat_rule decide it: FORCE_NAT wins over the packet's NAT field; a host name needs
 * ENABLE_NAT_DNS (it is resolved later, off the packet path); source NAT comes from FORCE_SNAT /
 * FORCE_MASQUERADE or ENABLE_*_SNAT with SNAT_TRANSLATE_IP. Returns the refusal text on failure.
 */
function natFor(
  s: PipelineStanza,
  spa: OpenedSpa,
  settings: NatSettings,
  local: boolean,
): GrantNat | string {
  const sn = s.nat;
  let host: string;
  let port: number;
  if (sn?.forceNat != null) {
    host = sn.forceNat.ip;
    port = sn.forceNat.port;
  } else {
    const field = spa.natAccess ?? "";
    const comma = field.indexOf(",");
    host = field.slice(0, comma);
    const portText = field.slice(comma + 1);
    if (comma < 0) return "Invalid NAT IP in SPA message";
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535)
      return "Invalid NAT port in SPA message";
    port = Number(portText);
    if (!isValidIpv4(host)) {
      if (!settings.natDns)
        return "Received Hostname in NAT SPA message, but hostname is disabled.";
      if (!isValidHostname(host)) return "Invalid Hostname in NAT SPA message";
    }
  }
  const forwardAll = sn?.forwardAll ?? false;
  const forceSnat = sn?.forceSnat ?? null;
  const forceMasq = sn?.forceMasquerade ?? false;
  let snat: GrantNat["snat"] = null;
  if (forceSnat !== null || forceMasq || settings.snat) {
    if (forceSnat !== null) snat = { to: forceSnat };
    else if (forceMasq && !forwardAll) snat = "masquerade";
    else if (settings.snatTranslateIp !== null) snat = { to: settings.snatTranslateIp };
    else snat = "masquerade";
  }
  return {
    kind: local ? "local" : "forward",
    toAddress: host,
    toPort: port,
    dnat: !(sn?.disableDnat ?? false),
    forwardAll,
    snat,
  };
}

/** RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens. */
export function isValidHostname(h: string): boolean {
  if (h.length === 0 || h.length > 253) return false;
  return h
    .replace(/\.$/, "")
    .split(".")
    .every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}
