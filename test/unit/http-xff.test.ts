/**
 * ENABLE_X_FORWARDED_FOR (server/incoming_spa.c): SPA over HTTP behind a proxy. The header's
 * address is read as C reads it, and counts only for a packet whose allow IP is 0.0.0.0.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { unwrapHttpSpa } from "../../src/server/listen/http.js";
import { processSpa } from "../../src/server/pipeline.js";
import { makeSpaPacket } from "../../src/spa/index.js";
import { NOW, pipelineStanza, spaFields } from "../fixtures/pipeline.js";

const KEYS = {
  mode: "cbc",
  key: randomBytes(32),
  hmac: { type: "sha256", key: randomBytes(64) },
} as const;
const request = (headers: string): string =>
  `GET /abc-def_ghi HTTP/1.1\r\nUser-Agent: Fwknop/2.6.10\r\n${headers}\r\n`;

describe("X-Forwarded-For", () => {
  it("is read only when enabled, case-insensitively, up to white space", () => {
    const r = request("x-forwarded-FOR: 203.0.113.7\r\n");
    assert.deepEqual(unwrapHttpSpa(r, false), {
      kind: "spa",
      data: "abc+def/ghi",
      xff: null,
      xffBad: null,
    });
    const on = unwrapHttpSpa(r, false, true);
    assert.ok(on.kind === "spa" && on.xff === "203.0.113.7" && on.xffBad === null);
  });

  it("refuses what C refuses: a chain, IPv6, a name (the value is reported)", () => {
    for (const [value, shown] of [
      ["198.51.100.1, 203.0.113.7", "198.51.100.1,"],
      ["2001:db8::1", "2001:db8::1"],
      ["proxy.example", "proxy.example"],
    ] as const) {
      const h = unwrapHttpSpa(request(`X-Forwarded-For: ${value}\r\n`), false, true);
      assert.ok(h.kind === "spa" && h.xff === null && h.xffBad === shown, value);
    }
  });

  it("gives the grant to the forwarded address for 0.0.0.0, never over an allow IP", () => {
    const grantFor = (message: string): string | undefined => {
      const wire = makeSpaPacket(spaFields({ message }), "sha256", KEYS, (n) =>
        randomBytes(n),
      ).wire;
      const d = processSpa(
        {
          data: wire,
          srcIp: "127.0.0.1",
          srcPort: 40000,
          dstIp: "127.0.0.1",
          dstPort: 62201,
          xffIp: "198.18.0.2",
        },
        [pipelineStanza(1, KEYS)],
        { packetAging: true, maxPacketAge: 120, testMode: false },
        () => false,
        NOW,
        () => undefined,
      );
      return d.kind === "grant" ? d.grants[0]?.address : d.kind;
    };
    assert.equal(grantFor("0.0.0.0,tcp/22"), "198.18.0.2");
    assert.equal(grantFor("198.18.0.9,tcp/22"), "198.18.0.9");
  });
});
