/**
 * Why the server refused a packet: one enum for the log line, the metric label and the test
 * assertion. The messages keep C fwknopd's wording where scripts grep for it
 * (server/incoming_spa.c, test/test-fwknop.pl), and the lines C's log level.
 */
import type { Level } from "./log-format.js";

export const Refusal = {
  TooSmall: "too_small",
  TooLarge: "too_large",
  NotBase64: "not_base64",
  SaltedPrefix: "salted_prefix",
  GpgData: "gpg_data",
  NoSourceMatch: "no_source_match",
  Replay: "replay",
  ReplayForgotten: "replay_forgotten",
  ReplayCacheFull: "replay_cache_full",
  ReplayStoreDown: "replay_store_down",
  StanzaExpired: "stanza_expired",
  HmacMismatch: "hmac_mismatch",
  DecryptFailed: "decrypt_failed",
  PacketAge: "packet_age",
  BadAllowIp: "bad_allow_ip",
  SourceRequired: "source_required",
  Username: "username",
  NatNotEnabled: "nat_not_enabled",
  NatTarget: "nat_target",
  CommandNotEnabled: "command_not_enabled",
  PortDenied: "port_denied",
  DestinationUnknown: "destination_unknown",
  TestMode: "test_mode",
  GpgBusy: "gpg_busy",
  GpgSignature: "gpg_signature",
  GpgSigner: "gpg_signer",
  Stale: "stale",
  Shed: "shed",
} as const;

export type RefusalReason = (typeof Refusal)[keyof typeof Refusal];

/**
 * The level each refusal is logged at: C's log_msg() level for the same event
 * (server/incoming_spa.c, replay_cache.c:is_replay), ours where C has no such refusal.
 * Junk refused before any stanza (the first four) is logged at debug, as C's preprocess errors.
 */
export const REFUSAL_LEVEL: Readonly<Record<RefusalReason, Level>> = {
  too_small: "debug",
  too_large: "debug",
  not_base64: "debug",
  salted_prefix: "debug",
  // "No stanza encryption mode match for encryption type": LOG_ERR in C.
  gpg_data: "err",
  no_source_match: "warning",
  replay: "warning",
  // Ours: a packet older than the digests the cache still holds (replay-cache.ts).
  replay_forgotten: "warning",
  // Ours: DIGEST_CACHE_MAX_ENTRIES reached; the operator must act.
  replay_cache_full: "err",
  // Ours: REPLAY_STORE redis, Redis unavailable and REDIS_FAIL closed (redis-store.ts).
  replay_store_down: "err",
  stanza_expired: "info",
  // C logs the fko error at debug and "Non-corresponding HMAC for this stanza" at info.
  hmac_mismatch: "info",
  decrypt_failed: "warning",
  packet_age: "warning",
  bad_allow_ip: "warning",
  source_required: "warning",
  username: "warning",
  nat_not_enabled: "warning",
  nat_target: "warning",
  command_not_enabled: "warning",
  port_denied: "warning",
  // Ours: ENABLE_DESTINATION_RULE and the packet's destination is not known (pipeline/destination.ts).
  destination_unknown: "warning",
  test_mode: "warning",
  gpg_busy: "warning",
  gpg_signature: "warning",
  gpg_signer: "warning",
  // Ours: waited too long in the socket queue (listen/udp-batch.ts STALE_MS), dropped unread.
  stale: "warning",
  // Ours: from an address over its share while the daemon was behind (listen/source-share.ts).
  shed: "warning",
};
