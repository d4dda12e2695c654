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
import {
  B64_GPG_PREFIX,
  B64_RIJNDAEL_SALT,
  MAX_SPA_ENCODED_MSG_SIZE,
  MIN_GNUPG_MSG_SIZE,
  b64NoPad,
  decryptSpaCiphertext,
  isNatType,
  isValidIpv4,
  isWireCharset,
  verifySpaHmac,
  type OpenedSpa,
  type SpaKeys,
} from "../spa/index.js";
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

/** What the pipeline needs of an access.conf stanza. */
export interface PipelineStanza {
  /** 1-based, as fwknopd logs it. */
  number: number;
  source: AddressMatch;
  destination: AddressMatch | null;
  keys: SpaKeys;
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
}

/** A type-0 command message to run (ENABLE_CMD_EXEC). */
export interface CommandDecision {
  kind: "command";
  stanza: number;
  user: string;
  digest: string;
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
  open: string;
  close: string | null;
  closeAfter: number;
  vars: CycleVars;
}

export type Decision = Granted | Refused | CommandDecision | CycleDecision;

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

  // The replay digest (a SHA-256) is computed once a stanza's HMAC has passed: junk never pays for
  // it (design.md "The hot path": HMAC, then replay).
  let digest: string | null = null;

  let last: Refused = refuse(
    Refusal.DecryptFailed,
    `no stanza could decrypt the SPA packet from ${inc.srcIp}`,
  );
  for (const s of candidates) {
    const tag = `[${inc.srcIp}] (stanza #${s.number})`;
    if (s.accessExpire !== null && nowSecs > s.accessExpire) {
      last = refuse(Refusal.StanzaExpired, `${tag} Access stanza has expired`, s.number);
      log(last.message);
      continue;
    }
    if (data.length >= MIN_GNUPG_MSG_SIZE && s.keys.mode !== "asymmetric") {
      last = refuse(
        Refusal.GpgData,
        `${tag} data is too long for Rijndael (GPG is not supported yet)`,
        s.number,
      );
      log(last.message);
      continue;
    }
    const checked = verifySpaHmac(data, s.keys.mode, s.keys.hmac);
    if (!checked.ok) {
      last = refuse(
        checked.reason === "hmac_mismatch" ? Refusal.HmacMismatch : Refusal.DecryptFailed,
        checked.reason === "hmac_mismatch"
          ? `${tag} Non-corresponding HMAC for this stanza`
          : `${tag} Error creating fko context: ${checked.detail}`,
        s.number,
      );
      log(last.message);
      continue;
    }
    if (digest === null) {
      digest = replayDigest(data);
      if (isReplay(digest))
        return refuse(
          Refusal.Replay,
          `Replay detected from source IP: ${inc.srcIp}, destination IP: ${inc.dstIp}`,
        );
    }
    const opened = decryptSpaCiphertext(checked.value, s.keys.mode, s.keys.key);
    if (!opened.ok) {
      last = refuse(
        Refusal.DecryptFailed,
        `${tag} Error creating fko context: ${opened.reason} (${opened.detail})`,
        s.number,
      );
      log(last.message);
      continue;
    }
    const spa: OpenedSpa = {
      ...opened.value,
      mode: s.keys.mode,
      hmacType: s.keys.hmac?.type ?? null,
    };
    // From here on the packet is authentic: its digest is burnt even if policy refuses it (as C).
    const burn = settings.testMode ? null : digest;
    const r = checkPolicy(s, spa, inc, settings, nowSecs, tag, burn);
    if (r.kind !== "refuse") return { ...r, digest };
    last = r;
    log(r.message);
    if (r.reason === Refusal.BadAllowIp) return r; // C stops all stanza processing here
  }
  return last;
}

function checkPolicy(
  s: PipelineStanza,
  spa: OpenedSpa,
  inc: Incoming,
  settings: PipelineSettings,
  nowSecs: number,
  tag: string,
  burn: string | null,
): Decision {
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
      `SPA packet from ${inc.srcIp} requested NAT access, but is not enabled/supported`,
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
