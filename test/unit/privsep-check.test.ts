/**
 * The privsep broker's check of parser requests (server/privsep/check-request.ts): a taken-over
 * parser asks for what its stanza never allows, and each such request is refused with a reason.
 */
import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseAddressList } from "../../src/config/access-values.js";
import { checkRequest, type CheckContext } from "../../src/server/privsep/check-request.js";
import { NOW, pipelineStanza } from "../fixtures/pipeline.js";

const KEYS = {
  mode: "cbc",
  key: Buffer.alloc(32, 1),
  hmac: { type: "sha256", key: Buffer.alloc(32, 2) },
} as const;
const D1 = "A".repeat(43);
const D2 = "B".repeat(43);
const netOf = (v: string): ReturnType<typeof parseAddressList> =>
  parseAddressList(v, (why) => {
    throw new Error(why);
  });

function ctx(over: Partial<CheckContext> = {}, seen: readonly string[] = []): CheckContext {
  return {
    cfg: {
      packetAging: true,
      maxPacketAge: 120,
      testMode: false,
      stanzas: [
        pipelineStanza(1, KEYS, {
          source: netOf("198.18.0.0/24"),
          openPorts: [{ proto: "tcp", port: 22 }],
          maxFwTimeout: 300,
          maxConnections: 1,
        }),
        pipelineStanza(2, KEYS, {
          source: { text: "ANY", any: true, list: new BlockList() },
          cmdCycleOpen: "/usr/local/bin/open $IP $PORT",
          cmdCycleClose: "/usr/local/bin/close $IP",
          cmdCycleTimer: 60,
        }),
        pipelineStanza(3, KEYS, { forceNat: { ip: "198.18.1.5", port: 22 } }),
      ],
    },
    settings: {
      nat: { forwarding: true, localNat: false, snat: false, snatTranslateIp: null, natDns: false },
    },
    nowSecs: NOW,
    replay: { isSeen: (d) => seen.includes(d), forgottenBefore: () => 0, isFull: () => false },
    ...over,
  };
}

const meta = {
  proto: 17,
  srcIp: "198.18.0.2",
  srcPort: 40000,
  dstIp: "198.18.0.1",
  dstPort: 62201,
};
function grant(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    t: "grant",
    digest: D1,
    innerDigest: null,
    spaTime: NOW,
    meta,
    stanza: 1,
    user: "alice",
    address: "198.18.0.2",
    ports: [{ proto: "tcp", port: 22 }],
    timeout: 30,
    ...over,
  };
}

function refusedFor(req: unknown, c = ctx()): string {
  const r = checkRequest(req, c);
  if (r.ok) assert.fail(`accepted: ${JSON.stringify(req)}`);
  return r.why;
}

describe("privsep: the broker checks every parser request", () => {
  it("an honest grant becomes grants built from the broker's own stanza", () => {
    const r = checkRequest(grant(), ctx());
    assert.ok(r.ok && r.decision.kind === "grant");
    const [g, ...more] = r.decision.grants;
    assert.deepEqual(more, []);
    assert.ok(g !== undefined);
    assert.equal(g.address, "198.18.0.2");
    assert.equal(g.expiresAt, NOW + 30);
    // MAX_CONNECTIONS comes from the stanza, not from the request.
    assert.equal(g.maxConnections, 1);
  });

  it("ENABLE_DESTINATION_RULE: the broker puts the packet's destination in the grant itself", () => {
    const on = ctx({ settings: { ...ctx().settings, destinationRule: true } });
    const r = checkRequest(grant(), on);
    assert.ok(r.ok && r.decision.kind === "grant");
    assert.deepEqual(
      r.decision.grants.map((g) => g.destination),
      ["198.18.0.1"],
    );
    const off = checkRequest(grant(), ctx());
    assert.ok(off.ok && off.decision.kind === "grant");
    assert.equal(off.decision.grants[0]?.destination, null);
    // A parser that says it does not know the destination gets no grant open to every address.
    assert.match(
      refusedFor(grant({ meta: { ...meta, dstIp: "0.0.0.0" } }), on),
      /ENABLE_DESTINATION_RULE/,
    );
  });

  it("refuses a port outside the stanza's OPEN_PORTS", () => {
    assert.match(refusedFor(grant({ ports: [{ proto: "tcp", port: 23 }] })), /OPEN_PORTS/);
    assert.match(
      refusedFor(
        grant({
          ports: [
            { proto: "tcp", port: 22 },
            { proto: "udp", port: 53 },
          ],
        }),
      ),
      /not allowed/,
    );
  });

  it("refuses a shell string or a bad address wherever an address goes", () => {
    assert.match(
      refusedFor(grant({ address: "198.18.0.2; rm -rf /" })),
      /not an IP address literal/,
    );
    assert.match(refusedFor(grant({ address: "$(reboot)" })), /not an IP address literal/);
    assert.match(refusedFor(grant({ address: "999.1.1.1" })), /not an IP address literal/);
    assert.match(refusedFor(grant({ address: "0.0.0.0" })), /unspecified/);
    assert.match(refusedFor(grant({ meta: { ...meta, srcIp: "`id`" } })), /packet source/);
  });

  it("refuses a timeout over the stanza's limit, a stanza that does not exist, a source outside SOURCE", () => {
    assert.match(refusedFor(grant({ timeout: 301 })), /limit of 300/);
    assert.match(refusedFor(grant({ timeout: 0 })), /timeout/);
    assert.match(refusedFor(grant({ stanza: 9 })), /no stanza #9/);
    assert.match(refusedFor(grant({ meta: { ...meta, srcIp: "203.0.113.9" } })), /SOURCE/);
  });

  it("refuses replays, old packets and bad digests", () => {
    assert.match(refusedFor(grant(), ctx({}, [D1])), /replay/);
    assert.match(refusedFor(grant({ spaTime: NOW - 121 })), /MAX_SPA_PACKET_AGE/);
    assert.match(refusedFor(grant({ digest: "../../etc/passwd" })), /digest/);
    assert.match(refusedFor(grant({ innerDigest: D2 }), ctx({}, [D2])), /replay/);
  });

  it("never runs a command text from the parser: a cycle's commands come from the stanza", () => {
    const req = {
      t: "cycle",
      digest: D1,
      innerDigest: null,
      spaTime: NOW,
      meta,
      stanza: 2,
      user: "alice",
      address: "198.18.0.2",
      port: { proto: "tcp", port: 22 },
      seconds: 30,
      open: "rm -rf /",
    };
    const r = checkRequest(req, ctx());
    assert.ok(r.ok);
    assert.equal(r.decision.kind === "cycle" && r.decision.open, "/usr/local/bin/open $IP $PORT");
    assert.match(refusedFor({ ...req, stanza: 1 }), /no CMD_CYCLE_OPEN/);
    assert.match(refusedFor({ ...req, address: "1.2.3.4 && sh" }), /IP address/);
    assert.match(refusedFor({ ...req, seconds: 100_000 }), /cycle of/);
    assert.match(refusedFor({ t: "exec", cmd: "/bin/sh" }), /unknown request 'exec'/);
  });

  it("checks NAT targets: FORCE_NAT's own target only, no host names without ENABLE_NAT_DNS", () => {
    const nat = (toAddress: string, toPort = 22): Record<string, unknown> =>
      grant({ stanza: 3, nat: { kind: "forward", toAddress, toPort } });
    assert.ok(checkRequest(nat("198.18.1.5"), ctx()).ok);
    assert.match(refusedFor(nat("198.18.1.6")), /FORCE_NAT/);
    assert.match(refusedFor(grant({ stanza: 3 })), /FORCE_NAT/);
    const open = ctx();
    const s3 = open.cfg.stanzas[2];
    if (s3 !== undefined) s3.forceNat = null;
    assert.match(refusedFor(nat("internal.example; id"), open), /NAT target address/);
    assert.match(
      refusedFor(
        { ...nat("198.18.1.5"), nat: { kind: "local", toAddress: "198.18.1.5", toPort: 22 } },
        open,
      ),
      /not enabled/,
    );
  });

  it("refuses anything malformed without throwing", () => {
    fc.assert(
      fc.property(fc.anything(), (junk) => {
        const r = checkRequest(junk, ctx());
        assert.equal(r.ok, false);
      }),
      { numRuns: 2000 },
    );
    for (const junk of [
      null,
      undefined,
      7,
      "grant",
      { t: "grant" },
      grant({ ports: "tcp/22" }),
      grant({ meta: null }),
    ])
      refusedFor(junk);
  });
});
