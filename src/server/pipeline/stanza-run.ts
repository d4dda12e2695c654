/**
 * One packet's walk through its candidate stanzas: what every step reads, the replay check that
 * runs once an HMAC has passed, and the refusals a stanza logs before the next one is tried.
 */
import { createHash } from "node:crypto";
import { b64NoPad } from "../../spa/base64.js";
import type { DigestName, EncMode } from "../../spa/constants.js";
import { checkSpaHmac, splitSpaWire, type HmacSpec, type SplitWire } from "../../spa/packet.js";
import type { Result } from "../../spa/reasons.js";
import { REFUSAL_LEVEL, Refusal, type RefusalReason } from "../refusals.js";
import type { ServedStanza } from "./served-stanza.js";
import {
  refuse,
  type GpgOpener,
  type Incoming,
  type PipelineLog,
  type PipelineSettings,
  type Refused,
} from "./types.js";

export interface StanzaRun {
  inc: Incoming;
  /** Every stanza of the configuration (sieve.ts keeps what junk needs per array). */
  stanzas: readonly ServedStanza[];
  candidates: readonly ServedStanza[];
  /** Where each candidate is in `stanzas`. */
  at: readonly number[];
  settings: PipelineSettings;
  isReplay: (digest: string) => boolean;
  nowSecs: number;
  log: PipelineLog;
  gpg: GpgOpener | null;
  /** The wire's replay digest, once replayGate has computed it. */
  digest: string | null;
  /** The wire cut for the last prefix and HMAC type a stanza asked for (see splitFor). */
  split: { gpg: boolean; type: DigestName; result: Result<SplitWire> } | null;
  /** HMAC refusals so far, and those not logged one by one (see foldHmacRefusal). */
  hmacMisses: number;
  folded: { count: number; first: number; last: number; refusal: Refused } | null;
}

/**
 * Per packet, the HMAC refusals logged one by one as C words them; the rest are summed up in one
 * line when the search ends. C logs a line per stanza, so with 1,000 SOURCE ANY stanzas one knock
 * writes 1,000 lines and a wrong-key knock reads as 1,000 failures to fail2ban. A sysadmin wants
 * to see which stanzas refused first and how many more did, not a page per packet. With three or
 * fewer candidates the log reads exactly as C's; the summary keeps "Non-corresponding HMAC" after
 * the bracketed source, so fail2ban patterns written for C still match it.
 */
export const HMAC_LINES = 3;

/** A stanza's HMAC refusal past HMAC_LINES: counted, logged later by logFoldedHmac. */
export function foldHmacRefusal(ctx: StanzaRun, stanza: number): Refused {
  const f = ctx.folded;
  if (f !== null) {
    f.count++;
    f.last = stanza;
    f.refusal.stanza = stanza;
    return f.refusal;
  }
  // One refusal object for all of them, its message made when the search ends (logFoldedHmac):
  // junk meets this once per stanza.
  const refusal: Refused = {
    kind: "refuse",
    reason: Refusal.HmacMismatch,
    stanza,
    message: "",
    digest: null,
    innerDigest: null,
  };
  ctx.folded = { count: 1, first: stanza, last: stanza, refusal };
  return refusal;
}

export const HMAC_MISMATCH = "Non-corresponding HMAC for this stanza";

/** The summary line of the folded HMAC refusals, once the search ends. */
export function logFoldedHmac(ctx: StanzaRun): void {
  const f = ctx.folded;
  if (f === null) return;
  ctx.folded = null;
  f.refusal.message = `[${ctx.inc.srcIp}] (stanza #${f.last}) ${HMAC_MISMATCH}`;
  const which = f.count === 1 ? `stanza #${f.first}` : `stanzas, #${f.first} to #${f.last}`;
  ctx.log(`[${ctx.inc.srcIp}] Non-corresponding HMAC for ${f.count} more ${which}`, {
    level: REFUSAL_LEVEL[Refusal.HmacMismatch],
    event: "spa_rejected",
    src: ctx.inc.srcIp,
    stanza: f.last,
    reason: Refusal.HmacMismatch,
  });
}

/**
 * verifySpaHmac for stanza `s`, with the wire cut once per packet for each mode and digest type
 * in a row (stanzas mostly share both), so a thousand stanzas cost a thousand HMACs and nothing
 * more: the pads of every key were made once for the stanza array (keyrings.ts).
 */
export function hmacOf(ctx: StanzaRun, s: ServedStanza, hmac: HmacSpec): Result<string> {
  const split = splitFor(ctx, s.mode, hmac.type);
  return split.ok ? checkSpaHmac(split.value, s.mode, hmac) : split;
}

/**
 * The wire cut for a mode and digest type, kept while stanzas in a row ask for the same prefix
 * (GPG's or Rijndael's: the only part of the mode the cut depends on) and type.
 */
export function splitFor(ctx: StanzaRun, mode: EncMode, type: DigestName): Result<SplitWire> {
  const gpg = mode === "asymmetric";
  let m = ctx.split;
  if (m === null || m.gpg !== gpg || m.type !== type) {
    m = { gpg, type, result: splitSpaWire(ctx.inc.data, mode, type, true) };
    ctx.split = m;
  }
  return m.result;
}

/** b64nopad SHA-256 of the received wire text: the replay cache key, as C fwknopd computes it. */
export function replayDigest(wire: string): string {
  return b64NoPad(createHash("sha256").update(wire, "latin1").digest());
}

/**
 * The wire's replay digest, computed when the first stanza's HMAC passes, so junk never pays for
 * the SHA-256 (design.md "The hot path": HMAC, then replay); a refusal when it was seen before,
 * or when the cache is full and could not keep it (DIGEST_CACHE_MAX_ENTRIES: nothing is forgotten
 * to make room, so nothing new is accepted).
 */
export function replayGate(ctx: StanzaRun, s: ServedStanza): string | Refused {
  if (ctx.digest === null) {
    const digest = replayDigest(ctx.inc.data);
    ctx.digest = digest;
    if (ctx.isReplay(digest))
      return refuse(
        Refusal.Replay,
        `Replay detected from source IP: ${ctx.inc.srcIp}, destination IP: ${ctx.inc.dstIp}`,
      );
  }
  if (ctx.settings.replay?.isFull() === true)
    return stanzaRefused(
      ctx,
      s,
      Refusal.ReplayCacheFull,
      "Digest cache is full (DIGEST_CACHE_MAX_ENTRIES): SPA packets are refused until digests can be dropped (packet aging) or the limit is raised; no digest is forgotten to make room",
    );
  return ctx.digest;
}

/** "[source] (stanza #n)": built only when a line is logged (junk is refused once per stanza). */
export function stanzaTag(ctx: StanzaRun, s: ServedStanza): string {
  return `[${ctx.inc.srcIp}] (stanza #${s.number})`;
}

/** A refusal by stanza `s`, logged at once; the digests only when they are burnt. */
export function stanzaRefused(
  ctx: StanzaRun,
  s: ServedStanza,
  reason: RefusalReason,
  message: string,
  burn: { digest: string; innerDigest: string; spaTime: number } | null = null,
): Refused {
  const r: Refused = {
    kind: "refuse",
    reason,
    stanza: s.number,
    message: `${stanzaTag(ctx, s)} ${message}`,
    digest: burn?.digest ?? null,
    innerDigest: burn?.innerDigest ?? null,
    ...(burn !== null ? { spaTime: burn.spaTime } : {}),
  };
  logRefusal(ctx, r);
  return r;
}

/** A stanza's refusal, at C's level for it (refusals.ts). */
export function logRefusal(ctx: StanzaRun, r: Refused): void {
  ctx.log(r.message, {
    level: REFUSAL_LEVEL[r.reason],
    event: "spa_rejected",
    src: ctx.inc.srcIp,
    stanza: r.stanza,
    user: r.user,
    reason: r.reason,
  });
}
