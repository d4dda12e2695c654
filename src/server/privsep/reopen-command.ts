/**
 * A command message (ENABLE_CMD_EXEC) under privilege separation. Its command is text from the
 * packet, so the broker does not take it from the parser: it is given the packet and opens it
 * again itself with that one stanza's keys (the same pipeline: HMAC, replay, decrypt, decode,
 * policy). Only a packet that opens as a command message for that stanza runs anything. This is
 * the one place the broker reads packet bytes, and only bytes the parser already authenticated.
 */
import { MAX_SPA_ENCODED_MSG_SIZE } from "../../spa/constants.js";
import type { DaemonConfig } from "../daemon-config.js";
import { processSpa } from "../pipeline.js";
import type { CommandDecision, GpgOpener, PipelineSettings } from "../pipeline/types.js";
import type { ReplayMeta } from "../replay/replay-cache.js";
import { checkedCarrier } from "./check-request.js";

export interface ReopenContext {
  cfg: Pick<DaemonConfig, "stanzas">;
  settings: PipelineSettings;
  nowSecs: number;
  isSeen: (digest: string) => boolean;
  gpg: GpgOpener;
}

export type Reopened =
  { ok: true; decision: CommandDecision; meta: ReplayMeta } | { ok: false; why: string };

export async function reopenCommand(raw: unknown, ctx: ReopenContext): Promise<Reopened> {
  const r = raw as { stanza?: unknown; data?: unknown; meta?: unknown };
  const stanza = ctx.cfg.stanzas.find((s) => s.number === r.stanza);
  const carrier = checkedCarrier(r.meta);
  if (stanza === undefined) return { ok: false, why: `no stanza #${String(r.stanza)}` };
  if ("why" in carrier) return { ok: false, why: carrier.why };
  const { meta } = carrier;
  if (typeof r.data !== "string" || r.data.length >= MAX_SPA_ENCODED_MSG_SIZE)
    return { ok: false, why: "bad packet data" };
  const inc = { data: r.data, ...meta };
  let d = processSpa(
    inc,
    [stanza],
    ctx.settings,
    ctx.isSeen,
    ctx.nowSecs,
    () => undefined,
    ctx.gpg,
  );
  if (d.kind === "pending") d = await d.decision;
  if (d.kind !== "command")
    return {
      ok: false,
      why: `the packet does not open as a command message for stanza #${stanza.number}${d.kind === "refuse" ? ` (${d.reason})` : ""}`,
    };
  return { ok: true, decision: d, meta };
}
