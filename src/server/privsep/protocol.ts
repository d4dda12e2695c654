/**
 * The private channel between fwknopd's two processes (Node's IPC pipe, created by the broker
 * when it starts the parser; nothing else can reach it). Everything the parser sends is a typed
 * request that the broker checks against the configuration it loaded itself
 * (check-request.ts): the parser can ask, never decide. Field names are short and flat because
 * every grant crosses this pipe.
 */
import type { EventFields, Level, LogEvent } from "../log-format.js";
import type { ReplayMeta } from "../replay/replay-cache.js";
import type { RefusalReason } from "../refusals.js";
import type { WireConfig } from "./wire-config.js";

/** The replay digests of an authentic packet and its own timestamp (pipeline/types.ts Digests). */
export interface RequestDigests {
  /**
   * When the packet reached the parser (performance.timeOrigin + performance.now(), ms): for the
   * grant-time histogram only, and bounded by the broker, which believes nothing else of it.
   */
  at?: number;
  digest: string;
  innerDigest: string | null;
  /** Absent for a refusal burnt before the packet's time was known. */
  spaTime?: number;
  meta: ReplayMeta;
}

export interface PortAsked {
  proto: "tcp" | "udp";
  port: number;
}

/** Open access: the broker builds the grants from its own stanza (MAX_CONNECTIONS, gate, ...). */
export interface GrantRequest extends RequestDigests {
  t: "grant";
  stanza: number;
  user: string;
  /** The address access is for (the packet's allow IP, or its source). */
  address: string;
  ports: PortAsked[];
  timeout: number;
  /** NAT access: where to; the broker derives DNAT/SNAT/forward-all from the stanza. */
  nat?: { kind: "forward" | "local"; toAddress: string; toPort: number };
}

/** A refused authentic packet: its digest is burnt, as C does. */
export interface BurnRequest extends RequestDigests {
  t: "burn";
  reason: RefusalReason;
}

/** CMD_CYCLE_OPEN now and CMD_CYCLE_CLOSE later: the texts come from the broker's stanza. */
export interface CycleRequest extends RequestDigests {
  t: "cycle";
  stanza: number;
  user: string;
  address: string;
  port: PortAsked;
  seconds: number;
}

/**
 * A command message (ENABLE_CMD_EXEC): the command is in the packet, so the broker is given the
 * packet and opens it again itself with the stanza's keys; no command text crosses the pipe.
 */
export interface CommandRequest {
  t: "command";
  stanza: number;
  data: string;
  meta: ReplayMeta;
}

export type ActRequest = GrantRequest | BurnRequest | CycleRequest | CommandRequest;

/** Parser -> broker. */
export type ParserMessage =
  | ActRequest
  /** `noNewPrivs`: true, or why PR_SET_NO_NEW_PRIVS could not be set. */
  | { t: "ready"; listening: string[]; noNewPrivs: true | string }
  | { t: "log"; level: Level; event: LogEvent; fields: EventFields; text: string }
  | { t: "counts"; packets: number; refused: Partial<Record<RefusalReason | "http", number>> }
  | { t: "limit" }
  /** The parser cannot go on (a port taken, privileges that would not drop): why, then it ends. */
  | { t: "fatal"; message: string };

/** What the pipeline needs of the replay cache between two messages (pipeline/types.ts). */
export interface ReplayView {
  forgottenBefore: number;
  full: boolean;
}

/** Broker -> parser. */
export type BrokerMessage =
  | { t: "config"; cfg: WireConfig; replay: ReplayView; wants: Level[] }
  | { t: "replay"; replay: ReplayView }
  | { t: "stop" };
