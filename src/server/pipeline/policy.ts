/**
 * The policy of a stanza for an authentic, decoded packet (server/incoming_spa.c:incoming_spa
 * after the decryption): packet age, allow IP, REQUIRE_SOURCE_ADDRESS, REQUIRE_USERNAME, NAT
 * types, command cycles, command messages, OPEN_PORTS / RESTRICT_PORTS, then the grants. Pure:
 * every answer is a complete decision that carries the packet's replay digests.
 */
import { isIPv4 } from "node:net";
import type { PortEntry } from "../../config/access-values.js";
import {
  FKO_CLIENT_TIMEOUT_LOCAL_NAT_ACCESS_MSG,
  FKO_COMMAND_MSG,
  FKO_LOCAL_NAT_ACCESS_MSG,
  isNatType,
} from "../../spa/constants.js";
import type { OpenedSpa } from "../../spa/packet.js";
import { isValidIpv4 } from "../../spa/validate.js";
import type { Grant } from "../firewall/types.js";
import { Refusal, type RefusalReason } from "../refusals.js";
import { grantDestination } from "./destination.js";
import { natFor } from "./nat.js";
import type { ServedStanza } from "./served-stanza.js";
import {
  NO_NAT,
  type Incoming,
  type PipelineSettings,
  type Refused,
  type Settled,
} from "./types.js";

/** One authentic packet before one stanza's policy. */
export interface PolicyInput {
  stanza: ServedStanza;
  spa: OpenedSpa;
  inc: Incoming;
  settings: PipelineSettings;
  nowSecs: number;
  /** "[source] (stanza #n)", the head of this stanza's log lines. */
  tag: string;
  /** The wire's replay digest, burnt on refusal unless in test mode (as C). */
  digest: string;
  /** GPG: the decrypted message's replay digest (after-gpg.ts); null for Rijndael. */
  innerDigest: string | null;
}

export function checkPolicy(p: PolicyInput): Settled {
  const ruleIp = checkClient(p);
  if (typeof ruleIp !== "string") return ruleIp;
  const type = p.spa.messageType;
  // server/incoming_spa.c:check_nat_access_types
  const nat = p.settings.nat ?? NO_NAT;
  if (isNatType(type) && !(isLocalNat(p.spa) ? nat.localNat : nat.forwarding))
    return refused(
      p,
      Refusal.NatNotEnabled,
      `SPA packet from ${p.inc.srcIp} requested NAT access, but is not enabled/supported${nat.unsupported !== undefined ? ` (${nat.unsupported})` : ""}`,
    );
  // server/incoming_spa.c: a cycle stanza runs its commands instead of firewall rules, before the
  // port checks; a command message needs ENABLE_CMD_EXEC. Neither runs anything in -t.
  if (p.stanza.cmdCycleOpen !== null && type !== FKO_COMMAND_MSG)
    return cycleDecision(p, p.stanza.cmdCycleOpen, ruleIp);
  if (type === FKO_COMMAND_MSG) return commandDecision(p, ruleIp);
  return accessDecision(p, ruleIp);
}

/** A refusal by this stanza, its digests burnt unless in test mode. */
function refused(p: PolicyInput, reason: RefusalReason, message: string): Refused {
  return {
    kind: "refuse",
    reason,
    stanza: p.stanza.number,
    message: `${p.tag} ${message}`,
    user: p.spa.username,
    digest: p.settings.testMode ? null : p.digest,
    innerDigest: p.innerDigest,
    spaTime: p.spa.timestamp,
  };
}

/** Age, allow IP, REQUIRE_SOURCE_ADDRESS and REQUIRE_USERNAME: the IP rules are for, or a refusal. */
function checkClient(p: PolicyInput): string | Refused {
  const { spa, settings, stanza: s } = p;
  if (settings.packetAging && Math.abs(p.nowSecs - spa.timestamp) > settings.maxPacketAge)
    return refused(
      p,
      Refusal.PacketAge,
      `SPA data time difference is too great (${p.nowSecs - spa.timestamp} seconds).`,
    );
  // Ours: the cache may have dropped the digest of a packet this old (replay-cache.ts), and
  // whatever the window is now, such a packet cannot be told from a replay.
  const forgotten = settings.replay?.forgottenBefore() ?? 0;
  if (spa.timestamp < forgotten)
    return refused(
      p,
      Refusal.ReplayForgotten,
      `SPA packet stamped ${spa.timestamp} is older than the digest cache remembers (digests of packets stamped before ${forgotten} were dropped under packet aging); refused as a possible replay`,
    );
  const allowIp = spa.message.slice(0, spa.message.indexOf(","));
  if (!isValidIpv4(allowIp))
    return refused(p, Refusal.BadAllowIp, `Invalid source IP in SPA message, ignoring SPA packet`);
  let ruleIp = allowIp;
  if (allowIp === "0.0.0.0") {
    if (s.requireSourceAddress)
      return refused(p, Refusal.SourceRequired, "Got 0.0.0.0 when valid source IP was required.");
    // server/incoming_spa.c:check_src_access: behind an HTTP proxy, the address it forwarded for.
    ruleIp = p.inc.xffIp ?? p.inc.srcIp;
  }
  if (s.requireUsername !== null && spa.username !== s.requireUsername)
    return refused(
      p,
      Refusal.Username,
      `Username in SPA data (${spa.username}) does not match required username: ${s.requireUsername}`,
    );
  return ruleIp;
}

function isLocalNat(spa: OpenedSpa): boolean {
  return (
    spa.messageType === FKO_LOCAL_NAT_ACCESS_MSG ||
    spa.messageType === FKO_CLIENT_TIMEOUT_LOCAL_NAT_ACCESS_MSG
  );
}

/** The access list of a decoded access message: "tcp/22,udp/53" after the allow IP. */
function requestedPorts(message: string): PortEntry[] {
  return message
    .slice(message.indexOf(",") + 1)
    .split(",")
    .map((s) => {
      const [proto, port] = s.split("/");
      return { proto: proto === "udp" ? "udp" : "tcp", port: Number(port) };
    });
}

/** server/access.c:acc_check_port_access: every request in OPEN_PORTS, none in RESTRICT_PORTS. */
export function portsAllowed(
  s: Pick<ServedStanza, "openPorts" | "restrictPorts">,
  req: readonly PortEntry[],
): boolean {
  const has = (list: readonly PortEntry[], p: PortEntry): boolean =>
    list.some((x) => x.proto === p.proto && x.port === p.port);
  if (s.restrictPorts !== null && req.some((p) => has(s.restrictPorts ?? [], p))) return false;
  if (s.openPorts !== null && !req.every((p) => has(s.openPorts ?? [], p))) return false;
  return true;
}

/** server/cmd_cycle.c: CMD_CYCLE_OPEN now, CMD_CYCLE_CLOSE after the timer. */
function cycleDecision(p: PolicyInput, open: string, ruleIp: string): Settled {
  const { spa, stanza: s } = p;
  const first: PortEntry = requestedPorts(spa.message)[0] ?? { proto: "tcp", port: 0 };
  // C does not cap cycle timeouts at MAX_FW_TIMEOUT; we do, like any other grant.
  const secs =
    spa.clientTimeout > 0 ? Math.min(spa.clientTimeout, s.maxFwTimeout) : (s.cmdCycleTimer ?? 0);
  if (p.settings.testMode)
    return refused(p, Refusal.TestMode, "--test mode enabled, skipping command cycle.");
  return {
    kind: "cycle",
    stanza: s.number,
    user: spa.username,
    digest: p.digest,
    innerDigest: p.innerDigest,
    spaTime: p.spa.timestamp,
    open,
    close: s.cmdCycleDoClose ? s.cmdCycleClose : null,
    closeAfter: secs,
    vars: {
      IP: ruleIp,
      SRC: ruleIp,
      PKT_SRC: p.inc.srcIp,
      DST: p.inc.dstIp,
      PORT: String(first.port),
      PROTO: first.proto === "udp" ? "17" : "6",
      TIMEOUT: String(spa.timestamp + secs),
      CLIENT_TIMEOUT: String(secs),
    },
  };
}

/** server/incoming_spa.c:process_cmd_msg, as far as deciding goes. */
function commandDecision(p: PolicyInput, ruleIp: string): Settled {
  if (!p.stanza.enableCmdExec)
    return refused(
      p,
      Refusal.CommandNotEnabled,
      "SPA Command message are not allowed in the current configuration.",
    );
  if (p.settings.testMode)
    return refused(p, Refusal.TestMode, "--test mode enabled, skipping command execution.");
  return {
    kind: "command",
    stanza: p.stanza.number,
    user: p.spa.username,
    digest: p.digest,
    innerDigest: p.innerDigest,
    spaTime: p.spa.timestamp,
    command: p.spa.message.slice(p.spa.message.indexOf(",") + 1),
    ruleIp,
  };
}

/** server/incoming_spa.c:set_timeout */
function grantTimeout(s: ServedStanza, spa: OpenedSpa): number {
  if (spa.clientTimeout > 0) return Math.min(spa.clientTimeout, s.maxFwTimeout);
  return s.fwAccessTimeout > 0 ? s.fwAccessTimeout : 30;
}

type GrantBase = Pick<
  Grant,
  "stanza" | "user" | "address" | "family" | "expiresAt" | "destination"
>;

/** NAT access: one grant, for the first port asked, translated as the stanza and fwknopd.conf say. */
function natGrant(p: PolicyInput, base: GrantBase, req: readonly PortEntry[]): Grant | Refused {
  const { spa, stanza: s } = p;
  const first: PortEntry = req[0] ?? { proto: "tcp", port: 0 };
  if (base.family !== 4)
    return refused(
      p,
      Refusal.NatTarget,
      `NAT access needs an IPv4 client address, not ${base.address}`,
    );
  if (s.maxConnections > 0 || s.requireConnectToken)
    return refused(
      p,
      Refusal.NatNotEnabled,
      `NAT access is refused: this stanza sets ${s.maxConnections > 0 ? "MAX_CONNECTIONS" : "REQUIRE_CONNECT_TOKEN"}, so it grants plain access only`,
    );
  const nat = natFor(s, spa.natAccess ?? "", p.settings.nat ?? NO_NAT, isLocalNat(spa));
  if (typeof nat === "string") return refused(p, Refusal.NatTarget, nat);
  return { ...base, proto: first.proto, port: first.port, nat };
}

/** An access request: the port lists, then one grant per port, or one NAT grant. */
function accessDecision(p: PolicyInput, ruleIp: string): Settled {
  const { spa, stanza: s } = p;
  const req = requestedPorts(spa.message);
  if (!portsAllowed(s, req))
    return refused(
      p,
      Refusal.PortDenied,
      "One or more requested protocol/ports was denied per access.conf.",
    );
  if (p.settings.testMode)
    return refused(p, Refusal.TestMode, "--test mode enabled, skipping firewall manipulation.");
  const timeout = grantTimeout(s, spa);
  const family = isIPv4(ruleIp) ? 4 : 6;
  const dst = grantDestination(p.settings.destinationRule === true, p.inc.dstIp, family);
  if (!dst.ok) return refused(p, Refusal.DestinationUnknown, dst.why);
  const base = {
    stanza: s.number,
    user: spa.username,
    address: ruleIp,
    family,
    expiresAt: p.nowSecs + timeout,
    destination: dst.destination,
  } as const;
  let grants: Grant[];
  if (isNatType(spa.messageType) || s.forceNat !== null) {
    const g = natGrant(p, base, req);
    if ("kind" in g) return g;
    grants = [g];
  } else
    grants = req.map((r) => ({
      ...base,
      proto: r.proto,
      port: r.port,
      spaDestination: p.inc.dstIp,
      ...(s.maxConnections > 0 ? { maxConnections: s.maxConnections } : {}),
      ...(s.requireConnectToken ? { gate: true } : {}),
      ...(s.revokeConnectionsOnExpiry ? { revokeConnections: true } : {}),
    }));
  return {
    kind: "grant",
    stanza: s.number,
    user: spa.username,
    spa,
    digest: p.digest,
    innerDigest: p.innerDigest,
    spaTime: p.spa.timestamp,
    grants,
    timeout,
  };
}
