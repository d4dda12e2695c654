/** What goes into the server pipeline and the decisions that come out (see ../pipeline.ts). */
import type { GpgOpened } from "../../gpg/open.js";
import type { OpenedSpa } from "../../spa/packet.js";
import type { Result } from "../../spa/reasons.js";
import type { CycleVars } from "../actions/run-command.js";
import type { Grant, NatSettings } from "../firewall/types.js";
import type { Level } from "../log-format.js";
import type { RefusalReason } from "../refusals.js";
import type { ResolvedGpg } from "./served-stanza.js";

/**
 * Runs gpg for a stanza (src/gpg/open.ts behind the daemon's bound on concurrent runs); null when
 * no run can be started now, and the packet is dropped.
 */
export type GpgOpener = (
  gpg: ResolvedGpg,
  candidates: readonly string[],
) => Promise<Result<GpgOpened>> | null;

/** NAT switched off entirely (the fwknopd.conf defaults). */
export const NO_NAT: NatSettings = {
  forwarding: false,
  localNat: false,
  snat: false,
  snatTranslateIp: null,
  natDns: true,
};

/** What the policy asks the replay cache besides "seen before?" (daemon/replay-guard.ts). */
export interface ReplayState {
  /** Digests of packets stamped before this epoch may have been dropped; 0 when none was. */
  forgottenBefore(): number;
  /** DIGEST_CACHE_MAX_ENTRIES reached: a new digest cannot be kept, so no packet is accepted. */
  isFull(): boolean;
}

export interface PipelineSettings {
  packetAging: boolean;
  maxPacketAge: number;
  testMode: boolean;
  /** NAT switches from fwknopd.conf; absent means NAT is off. */
  nat?: NatSettings;
  /** ENABLE_DESTINATION_RULE: grants admit traffic to the packet's destination only. */
  destinationRule?: boolean;
  /** The replay cache's state; absent: nothing was ever dropped and there is room (no cache). */
  replay?: ReplayState;
}

export interface Incoming {
  data: string;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  /** ENABLE_X_FORWARDED_FOR: the HTTP request's X-Forwarded-For address, for 0.0.0.0 requests. */
  xffIp?: string;
}

/** The replay digests a decision on an authentic packet carries, to be persisted before acting. */
interface Digests {
  /** Replay digest of this packet (the wire text). */
  digest: string;
  /** GPG: digest of the decrypted message, persisted with `digest` (see after-gpg.ts). */
  innerDigest: string | null;
  /** The packet's timestamp, kept with the digests: it decides when they may be dropped. */
  spaTime: number;
}

export interface Granted extends Digests {
  kind: "grant";
  stanza: number;
  user: string;
  /** The opened packet (absent when the privsep broker rebuilt the decision from a request). */
  spa?: OpenedSpa;
  grants: Grant[];
  timeout: number;
}

export interface Refused {
  kind: "refuse";
  reason: RefusalReason;
  /** Stanza the last refusal came from, when any stanza got that far. */
  stanza: number | null;
  message: string;
  /** The SPA user, once the packet is decrypted. */
  user?: string;
  /** Set when a stanza decrypted the packet: its digest is burnt (as C) even though refused. */
  digest: string | null;
  innerDigest: string | null;
  /** The packet's timestamp when it was decoded; a digest burnt without it is never dropped. */
  spaTime?: number;
}

/** A type-0 command message to run (ENABLE_CMD_EXEC). */
export interface CommandDecision extends Digests {
  kind: "command";
  stanza: number;
  user: string;
  /** The text after the allow IP. */
  command: string;
  ruleIp: string;
}

/** A command cycle to start: open now, close after `closeAfter` seconds. */
export interface CycleDecision extends Digests {
  kind: "cycle";
  stanza: number;
  user: string;
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

/** A line about one packet (C's wording) and what the structured log knows of it. */
export type PipelineLog = (line: string, about: PacketLogFields) => void;

export interface PacketLogFields {
  level: Level;
  event: "spa_rejected" | "spa_signed";
  src: string;
  stanza: number | null;
  user?: string | undefined;
  reason?: RefusalReason;
}

/** A refusal that no stanza owns and nothing burns (junk, replays, the no-stanza fallback). */
export function refuse(reason: RefusalReason, message: string): Refused {
  return { kind: "refuse", reason, stanza: null, message, digest: null, innerDigest: null };
}
