/**
 * The connect token (ours, REQUIRE_CONNECT_TOKEN): proof, in a connection's first bytes, that it
 * comes from the client that sent an accepted SPA packet. Wire format, 38 bytes, sent by the
 * client before anything else on the connection:
 *
 *   offset 0  4 bytes  "FKT1"
 *   offset 4  2 bytes  the port the client connected to, big-endian
 *   offset 6 32 bytes  HMAC-SHA256(key = the stanza's HMAC key,
 *                        "fwknop-ts connect token v1\n" || SHA-256(SPA wire text) || port (2 bytes BE))
 *
 * The SPA wire text is the base64 packet as sent (its SHA-256 is also the server's replay digest,
 * so the server needs nothing it does not already keep). Only a holder of the HMAC key who saw
 * the packet can make the token; the server takes each token once, so one copied off the wire
 * after use opens nothing. Pure: no I/O.
 */
import { createHash, createHmac } from "node:crypto";

export const TOKEN_MAGIC = "FKT1";
export const TOKEN_BYTES = 38;
const LABEL = "fwknop-ts connect token v1\n";

/** The MAC of a token, from the SHA-256 of the SPA wire text. */
export function connectTokenMac(hmacKey: Buffer, wireSha256: Buffer, port: number): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  return createHmac("sha256", hmacKey)
    .update(LABEL, "latin1")
    .update(wireSha256)
    .update(p)
    .digest();
}

/** The 38 bytes a client sends first, for the packet it sent and the port it connects to. */
export function connectToken(hmacKey: Buffer, wire: string, port: number): Buffer {
  const sha = createHash("sha256").update(wire, "latin1").digest();
  const head = Buffer.alloc(6);
  head.write(TOKEN_MAGIC, 0, "latin1");
  head.writeUInt16BE(port, 4);
  return Buffer.concat([head, connectTokenMac(hmacKey, sha, port)]);
}

/** A received frame: its port and MAC, or null when it is not a token at all. */
export function readTokenFrame(frame: Buffer): { port: number; mac: Buffer } | null {
  if (frame.length !== TOKEN_BYTES || frame.toString("latin1", 0, 4) !== TOKEN_MAGIC) return null;
  return { port: frame.readUInt16BE(4), mac: frame.subarray(6) };
}
