/**
 * Precomputed SPA packets for the benches, made with our codec: each with fresh random data (so
 * every replay digest differs) and the allow IP equal to its source address (so grants are per
 * source under REQUIRE_SOURCE_ADDRESS). Junk is SPA-shaped: right length and charset, wrong HMAC,
 * so every junk datagram costs the daemon a full HMAC (the expensive kind of junk).
 */
import { randomBytes } from "node:crypto";
import type { SpaKeys } from "../../src/spa/index.js";
import { freshSpaWire } from "../../test/fixtures/pipeline.js";

export interface BenchKeys {
  keys: SpaKeys;
  keyB64: string;
  hmacKeyB64: string;
}

export function benchKeys(): BenchKeys {
  const key = randomBytes(32);
  const hmacKey = randomBytes(64);
  return {
    keys: { mode: "cbc", key, hmac: { type: "sha256", key: hmacKey } },
    keyB64: key.toString("base64"),
    hmacKeyB64: hmacKey.toString("base64"),
  };
}

/** One valid access request for tcp/`port` from `allowIp`, stamped now. */
export function validSpa(k: BenchKeys, allowIp: string, port: number): string {
  return freshSpaWire(k.keys, { username: "bench", message: `${allowIp},tcp/${port}` });
}

/** `count` distinct junk payloads shaped like `like` (same length, base64 charset). */
export function junkLike(like: string, count: number): Buffer[] {
  return Array.from({ length: count }, () =>
    Buffer.from(
      randomBytes(like.length)
        .toString("base64")
        .replace(/[^A-Za-z0-9+/]/g, "A")
        .slice(0, like.length),
      "latin1",
    ),
  );
}

/** The access.conf stanza both daemons use. */
export function accessConf(k: BenchKeys, ports: readonly number[], timeoutSecs: number): string {
  return [
    "SOURCE ANY",
    `OPEN_PORTS ${ports.map((p) => `tcp/${p}`).join(", ")}`,
    "REQUIRE_SOURCE_ADDRESS Y",
    `FW_ACCESS_TIMEOUT ${timeoutSecs}`,
    `KEY_BASE64 ${k.keyB64}`,
    `HMAC_KEY_BASE64 ${k.hmacKeyB64}`,
    "",
  ].join("\n");
}

/**
 * `n` stanzas, the bench's own last (the worst place for it: every stanza before it is tried
 * first). The others have keys of their own; with `perUser` each has a /24 of its own in
 * 10.0.0.0/8 as SOURCE (no bench packet comes from there) and the bench's stanza takes the rig's
 * 198.18.0.0/15, else every SOURCE is ANY.
 */
export function manyStanzas(
  k: BenchKeys,
  ports: readonly number[],
  timeoutSecs: number,
  n: number,
  perUser: boolean,
): string {
  const others = Array.from({ length: n - 1 }, (_, i) =>
    [
      `SOURCE ${perUser ? `10.${i >> 8}.${i & 255}.0/24` : "ANY"}`,
      `OPEN_PORTS ${ports.map((p) => `tcp/${p}`).join(", ")}`,
      `KEY_BASE64 ${randomBytes(32).toString("base64")}`,
      `HMAC_KEY_BASE64 ${randomBytes(64).toString("base64")}`,
      "",
    ].join("\n"),
  );
  const own = accessConf(k, ports, timeoutSecs);
  return [...others, perUser ? own.replace("SOURCE ANY", "SOURCE 198.18.0.0/15") : own].join("\n");
}
