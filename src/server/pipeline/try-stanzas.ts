/**
 * The candidate stanzas of a packet in file order; the first that passes wins
 * (server/incoming_spa.c:incoming_spa), one that fails logs why and the next is tried. Per
 * stanza: ACCESS_EXPIRE, HMAC, the replay lookup (once per packet), decrypt and decode, policy.
 */
import { MIN_GNUPG_MSG_SIZE } from "../../spa/constants.js";
import {
  decryptSpaCiphertext,
  verifyGpgHmac,
  verifySpaHmac,
  type OpenedSpa,
} from "../../spa/packet.js";
import { Reject, type RejectReason } from "../../spa/reasons.js";
import { Refusal } from "../refusals.js";
import { afterGpg } from "./after-gpg.js";
import { checkPolicy } from "./policy.js";
import type { ResolvedGpg, ServedStanza } from "./served-stanza.js";
import { sieveOf, type Sieve } from "./sieve.js";
import {
  HMAC_LINES,
  HMAC_MISMATCH,
  foldHmacRefusal,
  hmacOf,
  logFoldedHmac,
  logRefusal,
  replayGate,
  splitFor,
  stanzaRefused,
  stanzaTag,
  type StanzaRun,
} from "./stanza-run.js";
import type { Decision, Refused, Settled } from "./types.js";

/**
 * The stanzas from `from` on. A GPG stanza hands the rest of the loop to a promise (gpg is slow);
 * Rijndael stanzas never wait.
 */
export function tryStanzas(ctx: StanzaRun, from: number, lastRefusal: Refused): Decision {
  let last = lastRefusal;
  const sieve = sieveOf(ctx.stanzas);
  for (let i = from; i < ctx.candidates.length; i++) {
    const k = ctx.at[i] ?? -1;
    if (ctx.hmacMisses >= HMAC_LINES && quickMiss(ctx, sieve, k)) {
      last = foldHmacRefusal(ctx, sieve.number[k] ?? 0);
      continue;
    }
    const s = ctx.candidates[i];
    if (s === undefined) break;
    const d = tryStanza(ctx, s, i);
    if (d.kind !== "refuse" || endsTheSearch(d)) {
      logFoldedHmac(ctx);
      return d;
    }
    last = d;
  }
  logFoldedHmac(ctx);
  return last;
}

/**
 * Stanza k (its index in the configuration) refuses the packet for its HMAC, found from the
 * sieve alone: only for stanzas whose first refusing step is the HMAC, not expired, with data
 * short of GPG size (tryStanza's order). Anything else, or a match, is left to tryStanza.
 */
function quickMiss(ctx: StanzaRun, sieve: Sieve, k: number): boolean {
  const ring = sieve.ring[k];
  if (ring === null || ring === undefined) return false;
  if (ctx.nowSecs > (sieve.expire[k] ?? 0) || ctx.inc.data.length >= MIN_GNUPG_MSG_SIZE)
    return false;
  const split = splitFor(ctx, "cbc", ring.type);
  if (!split.ok) return false;
  ring.setMessage(split.value.prefixed);
  if (ring.matches(sieve.slot[k] ?? 0, split.value.received)) return false;
  ctx.hmacMisses++;
  return true;
}

/**
 * A replay, and a bad allow IP (C stops all stanza processing there), end the search, as does a
 * full digest cache (every stanza would meet it); any other refusal lets the next stanza try.
 */
function endsTheSearch(r: Refused): boolean {
  return (
    r.reason === Refusal.Replay ||
    r.reason === Refusal.BadAllowIp ||
    r.reason === Refusal.ReplayCacheFull
  );
}

/** One stanza; its refusals are logged here (a replay found before any stanza was not). */
function tryStanza(ctx: StanzaRun, s: ServedStanza, i: number): Decision {
  if (s.accessExpire !== null && ctx.nowSecs > s.accessExpire)
    return stanzaRefused(ctx, s, Refusal.StanzaExpired, "Access stanza has expired");
  const data = ctx.inc.data;
  const key = s.key;
  const gpgSized = data.length >= MIN_GNUPG_MSG_SIZE;
  // server/incoming_spa.c: GPG is tried when the data is long enough to be GPG (C's length
  // rule); a stanza with no Rijndael key also takes shorter GPG data (Curve25519 without a
  // signature is under 400 chars), which C would only ever try, and fail, as Rijndael.
  if (s.gpgResolved !== null && (gpgSized || key === null || key.length === 0))
    return tryGpg(ctx, s, s.gpgResolved, i);
  if (gpgSized || key === null || key.length === 0)
    return stanzaRefused(
      ctx,
      s,
      Refusal.GpgData,
      `No stanza encryption mode match for encryption type: ${gpgSized ? 2 : 1}.`,
    );
  // processSpa found the data to be wire charset before any stanza was tried.
  const checked =
    s.hmac === null ? verifySpaHmac(data, s.mode, null, true) : hmacOf(ctx, s, s.hmac);
  if (!checked.ok) return hmacRefused(ctx, s, checked.reason, checked.detail);
  const digest = replayGate(ctx, s);
  if (typeof digest !== "string") return digest;
  const opened = decryptSpaCiphertext(checked.value, s.mode, key);
  if (!opened.ok)
    return stanzaRefused(
      ctx,
      s,
      Refusal.DecryptFailed,
      `Error creating fko context: ${opened.reason} (${opened.detail})`,
    );
  const spa: OpenedSpa = { ...opened.value, mode: s.mode, hmacType: s.hmac?.type ?? null };
  // From here on the packet is authentic: its digest is burnt even if policy refuses it (as C).
  const { inc, settings, nowSecs } = ctx;
  const tag = stanzaTag(ctx, s);
  const r = checkPolicy({ stanza: s, spa, inc, settings, nowSecs, tag, digest, innerDigest: null });
  if (r.kind === "refuse") logRefusal(ctx, r);
  return r;
}

/** HMAC first (no gpg run for an unauthenticated packet), then the replay check, then gpg. */
function tryGpg(ctx: StanzaRun, s: ServedStanza, g: ResolvedGpg, i: number): Decision {
  const checked = verifyGpgHmac(ctx.inc.data, s.hmac);
  if (!checked.ok) return hmacRefused(ctx, s, checked.reason, checked.detail);
  const digest = replayGate(ctx, s);
  if (typeof digest !== "string") return digest;
  const run = ctx.gpg?.(g, checked.value) ?? null;
  if (run === null)
    return stanzaRefused(
      ctx,
      s,
      Refusal.GpgBusy,
      "too many GPG decryptions in progress, SPA packet dropped",
    );
  const decision = run.then((opened) => {
    const d = afterGpg(ctx, s, g, digest, opened);
    if (d.kind !== "refuse" || endsTheSearch(d)) return d;
    return settle(tryStanzas(ctx, i + 1, d));
  });
  return { kind: "pending", digest, decision };
}

function settle(d: Decision): Promise<Settled> | Settled {
  return d.kind === "pending" ? d.decision : d;
}

/** An HMAC step failure as fwknopd logs it (server/incoming_spa.c:check_mode_ctx). */
function hmacRefused(
  ctx: StanzaRun,
  s: ServedStanza,
  reason: RejectReason,
  detail: string,
): Refused {
  if (reason !== Reject.HmacMismatch)
    return stanzaRefused(ctx, s, Refusal.DecryptFailed, `Error creating fko context: ${detail}`);
  return ++ctx.hmacMisses > HMAC_LINES
    ? foldHmacRefusal(ctx, s.number)
    : stanzaRefused(ctx, s, Refusal.HmacMismatch, HMAC_MISMATCH);
}
