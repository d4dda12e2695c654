/**
 * After gpg: lib/gpgme_funcs.c:process_sigs (not burnt: libfko fails the decryption), the replay
 * check of the plaintext, then server/incoming_spa.c:handle_gpg_sigs and the policy (burnt).
 */
import type { GpgOpened } from "../../gpg/open.js";
import { shortKeyId } from "../../gpg/status.js";
import { fkoErrorText } from "../../spa/fko-errors.js";
import type { GpgSignature } from "../../spa/index.js";
import type { OpenedSpa } from "../../spa/packet.js";
import { Reject, type RejectReason, type Result } from "../../spa/reasons.js";
import { signatureProblem, signerRefusal } from "../gpg-policy.js";
import { Refusal } from "../refusals.js";
import { checkPolicy } from "./policy.js";
import type { ResolvedGpg, ServedStanza } from "./served-stanza.js";
import {
  logRefusal,
  replayDigest,
  stanzaRefused,
  stanzaTag,
  type StanzaRun,
} from "./stanza-run.js";
import type { Settled } from "./types.js";

/** `digest`: the wire's replay digest (replayGate passed before gpg ran). */
export function afterGpg(
  ctx: StanzaRun,
  s: ServedStanza,
  g: ResolvedGpg,
  digest: string,
  opened: Result<GpgOpened>,
): Settled {
  if (!opened.ok)
    return stanzaRefused(ctx, s, Refusal.DecryptFailed, gpgFailure(opened.reason, opened.detail));
  const sig = opened.value.signatures[0] ?? null;
  if (g.requireSig) {
    const bad = signatureProblem(sig, g.ignoreSigVerifyError);
    if (bad !== null)
      return stanzaRefused(ctx, s, Refusal.GpgSignature, `Error creating fko context: ${bad}`);
  }
  const spa: OpenedSpa = {
    ...opened.value.spa,
    mode: "asymmetric",
    hmacType: s.hmac?.type ?? null,
  };
  // The OpenPGP framing can be re-encoded without any key (other length forms, another prefix),
  // giving a fresh wire digest for the same message; the decrypted text is the replay key that
  // cannot be changed.
  const inner = replayDigest(`${spa.encoded}:${spa.digest}`);
  if (ctx.isReplay(inner))
    return stanzaRefused(
      ctx,
      s,
      Refusal.Replay,
      `Replay detected from source IP: ${ctx.inc.srcIp} (same SPA message in another OpenPGP encoding)`,
    );
  const tag = stanzaTag(ctx, s);
  if (g.requireSig && sig !== null) {
    logSigner(ctx, s, sig, spa.username);
    const who = signerRefusal(sig, g);
    const burn = ctx.settings.testMode
      ? null
      : { digest, innerDigest: inner, spaTime: spa.timestamp };
    if (who !== null) return stanzaRefused(ctx, s, Refusal.GpgSigner, who, burn);
  }
  const { inc, settings, nowSecs } = ctx;
  const r = checkPolicy({
    stanza: s,
    spa,
    inc,
    settings,
    nowSecs,
    tag,
    digest,
    innerDigest: inner,
  });
  if (r.kind === "refuse") logRefusal(ctx, r);
  return r;
}

/** server/incoming_spa.c:handle_gpg_sigs logs who signed, at LOG_INFO. */
function logSigner(ctx: StanzaRun, s: ServedStanza, sig: GpgSignature, user: string): void {
  ctx.log(
    `${stanzaTag(ctx, s)} Incoming SPA data signed by '${shortKeyId(sig) ?? ""}' (fingerprint '${sig.fingerprint ?? ""}').`,
    { level: "info", event: "spa_signed", src: ctx.inc.srcIp, stanza: s.number, user },
  );
}

/** A failed gpg run as libfko words it. */
function gpgFailure(reason: RejectReason, detail: string): string {
  return reason === Reject.GpgDecrypt
    ? `Error creating fko context: ${fkoErrorText("FKO_ERROR_GPGME_DECRYPT_FAILED")} - GPG ERROR: ${detail}`
    : `Error creating fko context: ${reason} (${detail})`;
}
