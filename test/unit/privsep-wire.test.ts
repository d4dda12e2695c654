/**
 * The parser's configuration as it crosses the pipe (server/privsep/wire-config.ts): through
 * JSON, as Node's IPC sends it (and through v8 serialisation, should the channel change), stanzas
 * come back able to match addresses and with keys that are Buffers again.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deserialize, serialize } from "node:v8";
import { parseAddressList } from "../../src/config/access-values.js";
import { fromWire, toWire } from "../../src/server/privsep/wire-config.js";
import type { ReceiverConfig } from "../../src/server/daemon/receiver.js";
import { pipelineStanza } from "../fixtures/pipeline.js";

const KEYS = {
  mode: "cbc",
  key: Buffer.alloc(32, 7),
  hmac: { type: "sha256", key: Buffer.alloc(64, 9) },
} as const;

describe("privsep: the configuration through the pipe", () => {
  it("keeps SOURCE/DESTINATION matching and Buffer keys", () => {
    const list = (v: string) =>
      parseAddressList(v, (why) => {
        throw new Error(why);
      });
    const cfg: ReceiverConfig = {
      udp: { enabled: true, port: 62201 },
      tcp: { enabled: false, port: 62201 },
      http: { enabled: false, allowAnyUserAgent: false, xForwardedFor: false },
      ipv6: true,
      pcap: { enabled: false } as ReceiverConfig["pcap"],
      pcapFile: null,
      nfq: null,
      packetLimit: 0,
      gpg: { concurrent: 2, queued: 8, timeoutMs: 5000 },
      stanzas: [
        pipelineStanza(1, KEYS, {
          source: list("198.18.0.0/24, fd00::/64"),
          destination: list("198.18.1.1"),
        }),
      ],
    };
    const settings = { packetAging: true, maxPacketAge: 120, testMode: false };
    const wire = toWire(cfg, settings);
    const viaJson = fromWire(JSON.parse(JSON.stringify(wire)) as typeof wire);
    const back = fromWire(deserialize(serialize(wire)) as typeof wire);
    for (const b of [viaJson, back]) checkStanza(b);
  });
});

function checkStanza(back: ReceiverConfig): void {
  const s = back.stanzas[0];
  assert.ok(s !== undefined);
  assert.ok(s.source.list.check("198.18.0.77", "ipv4"));
  assert.ok(s.source.list.check("fd00::5", "ipv6"));
  assert.ok(!s.source.list.check("198.18.2.1", "ipv4"));
  assert.ok(s.destination?.list.check("198.18.1.1", "ipv4"));
  assert.ok(Buffer.isBuffer(s.key) && s.key.equals(KEYS.key));
  assert.ok(Buffer.isBuffer(s.hmac?.key) && s.hmac.key.equals(KEYS.hmac.key));
  assert.ok(Buffer.isBuffer(s.hmacKey));
  assert.equal(back.udp.port, 62201);
}
