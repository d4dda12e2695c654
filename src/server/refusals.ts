/**
 * Why the server refused a packet: one enum for the log line, the metric label and the test
 * assertion. The messages keep C fwknopd's wording where scripts grep for it
 * (server/incoming_spa.c, test/test-fwknop.pl).
 */
export const Refusal = {
  TooSmall: "too_small",
  TooLarge: "too_large",
  NotBase64: "not_base64",
  SaltedPrefix: "salted_prefix",
  GpgData: "gpg_data",
  NoSourceMatch: "no_source_match",
  Replay: "replay",
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
  TestMode: "test_mode",
  GpgBusy: "gpg_busy",
  GpgSignature: "gpg_signature",
  GpgSigner: "gpg_signer",
} as const;

export type RefusalReason = (typeof Refusal)[keyof typeof Refusal];
