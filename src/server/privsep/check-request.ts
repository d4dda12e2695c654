/**
 * The broker's check of a parser request, against the configuration the broker loaded itself.
 * The parser may have been taken over: nothing it says is believed that can be checked, and what
 * cannot be checked (that the packet was authentic) is bounded by what the stanza allows anyway.
 * Pure: the clock and the replay cache are passed in. Returns the decision the daemon acts on
 * (built here, from the stanza: MAX_CONNECTIONS, the token gate, NAT translation), or why not.
 */
import { isIP } from "node:net";
import { isValidIpv4 } from "../../spa/validate.js";
import type { DaemonConfig } from "../daemon-config.js";
import type { Grant, GrantNat } from "../firewall/types.js";
import { grantDestination } from "../pipeline/destination.js";
import { natFor, isValidHostname } from "../pipeline/nat.js";
import { portsAllowed } from "../pipeline/policy.js";
import type { ServedStanza } from "../pipeline/served-stanza.js";
import { NO_NAT, type PipelineSettings, type Settled } from "../pipeline/types.js";
import { REFUSAL_LEVEL } from "../refusals.js";
import type { CycleVars } from "../actions/run-command.js";
import type { ReplayMeta } from "../replay/replay-cache.js";
import type {
  BurnRequest,
  CycleRequest,
  GrantRequest,
  PortAsked,
  RequestDigests,
} from "./protocol.js";

export interface CheckContext {
  cfg: Pick<DaemonConfig, "stanzas" | "packetAging" | "maxPacketAge" | "testMode">;
  settings: Pick<PipelineSettings, "nat" | "destinationRule">;
  nowSecs: number;
  replay: { isSeen(d: string): boolean; forgottenBefore(): number; isFull(): boolean };
}

/** `replay`: the packet is a replay the parser could not know of (it started after the grant). */
export type Checked =
  { ok: true; decision: Settled } | { ok: false; why: string; replay?: boolean };

/** The longest SPA user C's decoder takes (lib/fko_decode.c: MAX_SPA_USERNAME_SIZE). */
const MAX_USER = 64;
/** More ports than any packet of MAX_SPA_MESSAGE_SIZE could list. */
const MAX_PORTS = 64;
/** A replay digest: SHA-256 in base64 without padding (stanza-run.ts). */
const DIGEST_RE = /^[A-Za-z0-9+/]{43}$/;

class Bad extends Error {}
class Replayed extends Bad {}
const fail = (why: string): never => {
  throw new Bad(why);
};

const isInt = (n: unknown, lo: number, hi: number): n is number =>
  typeof n === "number" && Number.isInteger(n) && n >= lo && n <= hi;

function ipLiteral(v: unknown, what: string): string {
  if (typeof v !== "string" || isIP(v) === 0) fail(`${what} is not an IP address literal`);
  return v as string;
}

/**
 * A request's carrier (digest.cache's columns: protocol, addresses, ports), checked; else why
 * not. Every request has one, the command request too (reopen-command.ts).
 */
export function checkedCarrier(raw: unknown): { meta: ReplayMeta } | { why: string } {
  try {
    const c = (raw ?? fail("no packet carrier")) as Partial<Record<keyof ReplayMeta, unknown>>;
    if (!isInt(c.proto, 0, 255)) fail("bad carrier protocol");
    const srcIp = ipLiteral(c.srcIp, "the packet source");
    const dstIp = ipLiteral(c.dstIp, "the packet destination");
    if (!isInt(c.srcPort, 0, 65535) || !isInt(c.dstPort, 0, 65535)) fail("bad carrier port");
    return {
      meta: {
        proto: c.proto as number,
        srcIp,
        srcPort: c.srcPort as number,
        dstIp,
        dstPort: c.dstPort as number,
      },
    };
  } catch (e) {
    if (e instanceof Bad) return { why: e.message };
    throw e;
  }
}

/** The carrier and the digests, as the replay cache needs them. */
function checkDigests(r: RequestDigests, ctx: CheckContext, burning: boolean): void {
  const carrier = checkedCarrier((r as { meta?: unknown }).meta);
  if ("why" in carrier) fail(carrier.why);
  if (typeof r.digest !== "string" || !DIGEST_RE.test(r.digest)) fail("bad replay digest");
  if (
    r.innerDigest !== null &&
    (typeof r.innerDigest !== "string" || !DIGEST_RE.test(r.innerDigest))
  )
    fail("bad inner digest");
  if (r.spaTime !== undefined && !isInt(r.spaTime, 0, 2 ** 31 - 1)) fail("bad packet time");
  if (burning) return;
  if (r.spaTime === undefined) fail("no packet time");
  const t = r.spaTime as number;
  if (ctx.cfg.packetAging && Math.abs(ctx.nowSecs - t) > ctx.cfg.maxPacketAge)
    fail(`packet time ${t} is outside MAX_SPA_PACKET_AGE ${ctx.cfg.maxPacketAge}`);
  if (ctx.replay.isSeen(r.digest) || (r.innerDigest !== null && ctx.replay.isSeen(r.innerDigest)))
    throw new Replayed("replay: the digest is already in the cache");
  if (t < ctx.replay.forgottenBefore()) fail("replay: stamped before the cache's forgotten-before");
  if (ctx.replay.isFull()) fail("the digest cache is full");
}

/** The stanza by number, which must admit the packet's source (and destination). */
function stanzaFor(n: unknown, r: RequestDigests, ctx: CheckContext): ServedStanza {
  if (!isInt(n, 1, ctx.cfg.stanzas.length)) fail(`no stanza #${String(n)}`);
  const s = ctx.cfg.stanzas.find((x) => x.number === n) ?? fail(`no stanza #${String(n)}`);
  const src = r.meta.srcIp;
  const has = (l: ServedStanza["source"], ip: string): boolean =>
    l.any || l.list.check(ip, isIP(ip) === 4 ? "ipv4" : "ipv6");
  if (!has(s.source, src)) fail(`source ${src} is not in stanza #${s.number}'s SOURCE`);
  if (s.destination !== null && !has(s.destination, r.meta.dstIp))
    fail(`destination ${r.meta.dstIp} is not in stanza #${s.number}'s DESTINATION`);
  return s;
}

function checkUser(u: unknown, s: ServedStanza): string {
  // eslint-disable-next-line no-control-regex
  if (typeof u !== "string" || u.length > MAX_USER || /[\u0000-\u001f\u007f]/.test(u))
    fail("bad user name");
  if (s.requireUsername !== null && u !== s.requireUsername)
    fail(`user is not stanza #${s.number}'s REQUIRE_USERNAME`);
  return u as string;
}

/** The address access is for: a literal, not the unspecified one, the source if required. */
function checkAddress(a: unknown, r: RequestDigests, s: ServedStanza): string {
  const ip = ipLiteral(a, "the access address");
  if (ip === "0.0.0.0" || ip === "::") fail("the access address is unspecified");
  if (s.requireSourceAddress && ip !== r.meta.srcIp)
    fail(`stanza #${s.number} sets REQUIRE_SOURCE_ADDRESS and ${ip} is not the source`);
  return ip;
}

function checkPorts(ports: unknown, s: ServedStanza, min: number): PortAsked[] {
  if (!Array.isArray(ports) || ports.length < 1 || ports.length > MAX_PORTS) fail("bad port list");
  const list = (ports as unknown[]).map((p): PortAsked => {
    const q = p as Partial<PortAsked> | null;
    if (q === null || (q.proto !== "tcp" && q.proto !== "udp") || !isInt(q.port, min, 65535))
      fail("bad protocol/port");
    return { proto: (q as PortAsked).proto, port: (q as PortAsked).port };
  });
  if (!portsAllowed(s, list))
    fail(
      `${list.map((p) => `${p.proto}/${p.port}`).join(",")} not allowed by stanza #${s.number}'s OPEN_PORTS/RESTRICT_PORTS`,
    );
  return list;
}

/** The longest timeout the stanza can give (policy.ts grantTimeout). */
function maxTimeout(s: ServedStanza): number {
  return Math.max(s.maxFwTimeout, s.fwAccessTimeout > 0 ? s.fwAccessTimeout : 30);
}

function checkNat(r: GrantRequest, s: ServedStanza, ctx: CheckContext, v4: boolean): GrantNat {
  const n = r.nat as Partial<NonNullable<GrantRequest["nat"]>>;
  const settings = ctx.settings.nat ?? NO_NAT;
  if (n.kind !== "forward" && n.kind !== "local") fail("bad NAT kind");
  if (!v4) fail("NAT access needs an IPv4 client address");
  if (s.maxConnections > 0 || s.requireConnectToken)
    fail(`stanza #${s.number} is plain access only`);
  if (s.forceNat === null && !(n.kind === "local" ? settings.localNat : settings.forwarding))
    fail("NAT access is not enabled");
  const to = n.toAddress;
  if (typeof to !== "string" || !(isValidIpv4(to) || (settings.natDns && isValidHostname(to))))
    fail("bad NAT target address");
  if (!isInt(n.toPort, 1, 65535)) fail("bad NAT target port");
  const toAddress = to as string;
  const toPort = n.toPort as number;
  if (s.forceNat !== null && (s.forceNat.ip !== toAddress || s.forceNat.port !== toPort))
    fail(`NAT target is not stanza #${s.number}'s FORCE_NAT`);
  const nat = natFor(s, `${toAddress},${toPort}`, settings, n.kind === "local");
  return typeof nat === "string" ? fail(nat) : nat;
}

function checkGrant(r: GrantRequest, ctx: CheckContext): Settled {
  if (ctx.cfg.testMode) fail("--test mode: no grants");
  checkDigests(r, ctx, false);
  const s = stanzaFor(r.stanza, r, ctx);
  if (s.cmdCycleOpen !== null) fail(`stanza #${s.number} runs command cycles, not grants`);
  const user = checkUser(r.user, s);
  const address = checkAddress(r.address, r, s);
  const ports = checkPorts(r.ports, s, 1);
  if (!isInt(r.timeout, 1, maxTimeout(s)))
    fail(`timeout ${String(r.timeout)} is over stanza #${s.number}'s limit of ${maxTimeout(s)} s`);
  const family = isIP(address) === 4 ? 4 : 6;
  const dst = grantDestination(ctx.settings.destinationRule === true, r.meta.dstIp, family);
  if (!dst.ok) fail(dst.why);
  const base = {
    stanza: s.number,
    user,
    address,
    family,
    expiresAt: ctx.nowSecs + r.timeout,
    destination: dst.ok ? dst.destination : null,
  } as const;
  let grants: Grant[];
  if (r.nat !== undefined || s.forceNat !== null) {
    if (r.nat === undefined) fail(`stanza #${s.number} sets FORCE_NAT and the request has none`);
    const first = ports[0] as PortAsked;
    grants = [{ ...base, ...first, nat: checkNat(r, s, ctx, family === 4) }];
  } else
    grants = ports.map((p) => ({
      ...base,
      ...p,
      spaDestination: r.meta.dstIp,
      ...(s.maxConnections > 0 ? { maxConnections: s.maxConnections } : {}),
      ...(s.requireConnectToken ? { gate: true } : {}),
      ...(s.revokeConnectionsOnExpiry ? { revokeConnections: true } : {}),
    }));
  return { kind: "grant", ...digestsOf(r), stanza: s.number, user, grants, timeout: r.timeout };
}

function digestsOf(r: RequestDigests): {
  digest: string;
  innerDigest: string | null;
  spaTime: number;
} {
  return { digest: r.digest, innerDigest: r.innerDigest, spaTime: r.spaTime ?? 0 };
}

function checkCycle(r: CycleRequest, ctx: CheckContext): Settled {
  if (ctx.cfg.testMode) fail("--test mode: no commands");
  checkDigests(r, ctx, false);
  const s = stanzaFor(r.stanza, r, ctx);
  const open = s.cmdCycleOpen ?? fail(`stanza #${s.number} has no CMD_CYCLE_OPEN`);
  const user = checkUser(r.user, s);
  const address = checkAddress(r.address, r, s);
  const [port] = checkPorts([r.port], s, 0);
  const limit = Math.max(s.maxFwTimeout, s.cmdCycleTimer ?? 0);
  if (!isInt(r.seconds, 0, limit)) fail(`cycle of ${String(r.seconds)} s is over ${limit} s`);
  const p = port as PortAsked;
  const vars: CycleVars = {
    IP: address,
    SRC: address,
    PKT_SRC: r.meta.srcIp,
    DST: r.meta.dstIp,
    PORT: String(p.port),
    PROTO: p.proto === "udp" ? "17" : "6",
    TIMEOUT: String((r.spaTime ?? 0) + r.seconds),
    CLIENT_TIMEOUT: String(r.seconds),
  };
  return {
    kind: "cycle",
    ...digestsOf(r),
    stanza: s.number,
    user,
    open,
    close: s.cmdCycleDoClose ? s.cmdCycleClose : null,
    closeAfter: r.seconds,
    vars,
  };
}

function checkBurn(r: BurnRequest, ctx: CheckContext): Settled {
  checkDigests(r, ctx, true);
  if (!Object.hasOwn(REFUSAL_LEVEL, r.reason)) fail("bad refusal reason");
  return {
    kind: "refuse",
    reason: r.reason,
    stanza: null,
    message: "",
    digest: r.digest,
    innerDigest: r.innerDigest,
    ...(r.spaTime !== undefined ? { spaTime: r.spaTime } : {}),
  };
}

/**
 * A grant, cycle or burn request checked and turned into the decision to act on. `raw` is
 * whatever came down the pipe.
 */
export function checkRequest(raw: unknown, ctx: CheckContext): Checked {
  try {
    const t = (raw as { t?: unknown } | null)?.t;
    const decision =
      t === "grant"
        ? checkGrant(raw as GrantRequest, ctx)
        : t === "cycle"
          ? checkCycle(raw as CycleRequest, ctx)
          : t === "burn"
            ? checkBurn(raw as BurnRequest, ctx)
            : fail(`unknown request '${String(t)}'`);
    return { ok: true, decision };
  } catch (e) {
    if (e instanceof Replayed) return { ok: false, why: e.message, replay: true };
    if (e instanceof Bad) return { ok: false, why: e.message };
    // A field of the wrong shape that a check above did not foresee: still a refusal.
    return { ok: false, why: `malformed request (${e instanceof Error ? e.message : String(e)})` };
  }
}
