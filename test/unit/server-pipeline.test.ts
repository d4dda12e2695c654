/**
 * The server pipeline as a pure function: real packets from the codec, fake clock and replay set.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { BlockList } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import { processSpa } from "../../src/server/pipeline.js";
import type { StanzaNat } from "../../src/server/pipeline/nat.js";
import type { ServedStanza } from "../../src/server/pipeline/served-stanza.js";
import { replayDigest } from "../../src/server/pipeline/stanza-run.js";
import type { Decision } from "../../src/server/pipeline/types.js";
import { NOW, pipelineStanza, spaFields } from "../fixtures/pipeline.js";
import { makeSpaPacket, type SpaFields, type SpaKeys } from "../../src/spa/index.js";

const keysA: SpaKeys = {
  mode: "cbc",
  key: randomBytes(32),
  hmac: { type: "sha256", key: randomBytes(64) },
};
const keysB: SpaKeys = {
  mode: "ctr",
  key: randomBytes(32),
  hmac: { type: "sha512", key: randomBytes(64) },
};

const stanza = pipelineStanza;

function packet(keys: SpaKeys, f: Partial<SpaFields> = {}): string {
  return makeSpaPacket(spaFields(f), "sha256", keys, (n) => randomBytes(n)).wire;
}

const settings = { packetAging: true, maxPacketAge: 120, testMode: false };
function run(
  data: string,
  stanzas: ServedStanza[],
  seen = new Set<string>(),
  over = {},
): { d: Decision; log: string[] } {
  const log: string[] = [];
  const d = processSpa(
    { data, srcIp: "198.18.0.2", srcPort: 4000, dstIp: "0.0.0.0", dstPort: 62201 },
    stanzas,
    { ...settings, ...over },
    (x) => seen.has(x),
    NOW,
    (l) => log.push(l),
  );
  return { d, log };
}

describe("server pipeline", () => {
  it("grants each requested port to the allow IP for FW_ACCESS_TIMEOUT", () => {
    const wire = packet(keysA, { message: "198.18.0.9,tcp/22,udp/53" });
    const { d } = run(wire, [stanza(1, keysA)]);
    assert.equal(d.kind, "grant");
    assert.deepEqual(
      d.grants.map((g) => [g.address, g.proto, g.port, g.expiresAt - NOW, g.user]),
      [
        ["198.18.0.9", "tcp", 22, 30, "alice"],
        ["198.18.0.9", "udp", 53, 30, "alice"],
      ],
    );
    assert.equal(d.digest, replayDigest(wire), "the replay digest travels with the grant");
  });

  it("ENABLE_DESTINATION_RULE: grants carry the packet's destination, or it is refused", () => {
    const to = (dstIp: string, message: string, destinationRule = true): Decision =>
      processSpa(
        {
          data: packet(keysA, { message }),
          srcIp: "198.18.0.2",
          srcPort: 4000,
          dstIp,
          dstPort: 62201,
        },
        [stanza(1, keysA)],
        { ...settings, destinationRule },
        () => false,
        NOW,
        () => undefined,
      );
    const dests = (d: Decision): unknown =>
      d.kind === "grant"
        ? d.grants.map((g) => g.destination)
        : `${d.kind} ${d.kind === "refuse" ? d.reason : ""}`;
    assert.deepEqual(dests(to("198.18.0.1", "0.0.0.0,tcp/22,udp/53")), [
      "198.18.0.1",
      "198.18.0.1",
    ]);
    assert.deepEqual(
      dests(to("198.18.0.1", "0.0.0.0,tcp/22", false)),
      [null],
      "off: any destination",
    );
    // The UDP server without recvmmsg, or any listener that did not learn it: refused, not opened to all.
    assert.equal(dests(to("0.0.0.0", "0.0.0.0,tcp/22")), "refuse destination_unknown");
    assert.equal(dests(to("::", "0.0.0.0,tcp/22")), "refuse destination_unknown");
    // An IPv4 address to open (-a) for a packet that came over IPv6: no one rule holds both.
    assert.equal(dests(to("2001:db8::1", "198.18.0.9,tcp/22")), "refuse destination_unknown");
  });

  it("caps the client's timeout at MAX_FW_TIMEOUT and uses the packet source for 0.0.0.0", () => {
    const { d } = run(packet(keysA, { message: "0.0.0.0,tcp/22", clientTimeout: 5000 }), [
      stanza(1, keysA, { maxFwTimeout: 60 }),
    ]);
    assert.ok(d.kind === "grant");
    assert.equal(d.grants[0]?.address, "198.18.0.2");
    assert.equal(d.timeout, 60);
  });

  it("tries stanzas in order and the first that passes wins", () => {
    const { d, log } = run(packet(keysB), [stanza(1, keysA), stanza(2, keysB), stanza(3, keysB)]);
    assert.ok(d.kind === "grant");
    assert.equal(d.stanza, 2);
    assert.match(log[0] ?? "", /\(stanza #1\) Non-corresponding HMAC for this stanza/);
  });

  it("logs three HMAC refusals as C and sums up the rest in one line", () => {
    const wrong = [1, 2, 3, 4, 5].map((n) => stanza(n, keysA));
    const { d, log } = run(packet(keysB), [...wrong, stanza(6, keysB)]);
    assert.ok(d.kind === "grant");
    assert.equal(d.stanza, 6);
    assert.deepEqual(log, [
      "[198.18.0.2] (stanza #1) Non-corresponding HMAC for this stanza",
      "[198.18.0.2] (stanza #2) Non-corresponding HMAC for this stanza",
      "[198.18.0.2] (stanza #3) Non-corresponding HMAC for this stanza",
      "[198.18.0.2] Non-corresponding HMAC for 2 more stanzas, #4 to #5",
    ]);
    const junk = run(packet(keysB), [...wrong, stanza(6, keysA)]);
    assert.ok(junk.d.kind === "refuse");
    assert.equal(junk.d.reason, "hmac_mismatch");
    assert.equal(junk.log.length, 4);
    assert.equal(junk.log[3], "[198.18.0.2] Non-corresponding HMAC for 3 more stanzas, #4 to #6");
  });

  it("past the third HMAC refusal, other refusals and the matching stanza read as before", () => {
    const keysC: SpaKeys = { ...keysA, hmac: { type: "sha256", key: randomBytes(64) } };
    const wrong = [1, 2, 3, 4].map((n) => stanza(n, n % 2 === 0 ? keysC : keysB));
    const expired = stanza(5, keysA, { accessExpire: NOW - 10 });
    const noHmac = stanza(6, { ...keysA, hmac: null });
    const { d, log } = run(packet(keysA), [
      ...wrong,
      expired,
      noHmac,
      stanza(7, keysB),
      stanza(8, keysA),
    ]);
    assert.ok(d.kind === "grant");
    assert.equal(d.stanza, 8);
    assert.deepEqual(log.slice(3), [
      "[198.18.0.2] (stanza #5) Access stanza has expired",
      log[4],
      "[198.18.0.2] Non-corresponding HMAC for 2 more stanzas, #4 to #7",
    ]);
    assert.match(log[4] ?? "", /\(stanza #6\) Error creating fko context/);
  });

  it("refuses a replay before decrypting anything", () => {
    const wire = packet(keysA);
    const { d } = run(wire, [stanza(1, keysA)], new Set([replayDigest(wire)]));
    assert.ok(d.kind === "refuse");
    assert.equal(d.reason, "replay");
  });

  const refusals: Array<[string, () => { d: Decision }, string]> = [
    ["too small", () => run("A".repeat(100), [stanza(1, keysA)]), "too_small"],
    ["re-prefixed", () => run(`U2FsdGVkX1${packet(keysA)}`, [stanza(1, keysA)]), "salted_prefix"],
    ["not base64", () => run(`${packet(keysA).slice(0, -1)}!`, [stanza(1, keysA)]), "not_base64"],
    [
      "no SOURCE match",
      () =>
        run(packet(keysA), [
          stanza(1, keysA, { source: { text: "198.51.100.1", any: false, list: new BlockList() } }),
        ]),
      "no_source_match",
    ],
    [
      "expired stanza",
      () => run(packet(keysA), [stanza(1, keysA, { accessExpire: NOW - 1 })]),
      "stanza_expired",
    ],
    [
      "old packet",
      () => run(packet(keysA, { timestamp: NOW - 121 }), [stanza(1, keysA)]),
      "packet_age",
    ],
    [
      "future packet",
      () => run(packet(keysA, { timestamp: NOW + 121 }), [stanza(1, keysA)]),
      "packet_age",
    ],
    [
      "username",
      () => run(packet(keysA), [stanza(1, keysA, { requireUsername: "bob" })]),
      "username",
    ],
    [
      "0.0.0.0 with REQUIRE_SOURCE_ADDRESS",
      () =>
        run(packet(keysA, { message: "0.0.0.0,tcp/22" }), [
          stanza(1, keysA, { requireSourceAddress: true }),
        ]),
      "source_required",
    ],
    [
      "port not in OPEN_PORTS",
      () =>
        run(packet(keysA, { message: "198.18.0.2,tcp/22,tcp/23" }), [
          stanza(1, keysA, { openPorts: [{ proto: "tcp", port: 22 }] }),
        ]),
      "port_denied",
    ],
    [
      "port in RESTRICT_PORTS",
      () => run(packet(keysA), [stanza(1, keysA, { restrictPorts: [{ proto: "tcp", port: 22 }] })]),
      "port_denied",
    ],
    [
      "NAT request",
      () => run(packet(keysA, { messageType: 2, natAccess: "10.0.0.5,22" }), [stanza(1, keysA)]),
      "nat_not_enabled",
    ],
    [
      "command",
      () => run(packet(keysA, { messageType: 0, message: "198.18.0.2,id" }), [stanza(1, keysA)]),
      "command_not_enabled",
    ],
    [
      "test mode",
      () => run(packet(keysA), [stanza(1, keysA)], new Set(), { testMode: true }),
      "test_mode",
    ],
  ];
  for (const [name, f, reason] of refusals) {
    it(`refuses: ${name}`, () => {
      const { d } = f();
      assert.equal(d.kind, "refuse");
      assert.equal(d.reason, reason);
    });
  }

  it("burns the digest of an authentic packet that policy refuses (as C), but not in test mode", () => {
    const wire = packet(keysA);
    const refused = run(wire, [stanza(1, keysA, { requireUsername: "bob" })]).d;
    assert.ok(refused.kind === "refuse");
    assert.equal(refused.digest, replayDigest(wire));
    const tested = run(wire, [stanza(1, keysA)], new Set(), { testMode: true }).d;
    assert.ok(tested.kind === "refuse");
    assert.equal(tested.digest, null);
  });

  it("never throws and never grants on random input", () => {
    const stanzas = [
      stanza(1, keysA),
      stanza(2, { mode: "cbc", key: randomBytes(16), hmac: null }),
    ];
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 1600 }), fc.string({ unit: "binary", maxLength: 1600 })),
        (s) => {
          assert.equal(run(s, stanzas).d.kind, "refuse");
        },
      ),
      { numRuns: 20_000 },
    );
  });
});

describe("server pipeline: NAT (server/fw_util_iptables.c:process_spa_request)", () => {
  const on = {
    nat: { forwarding: true, localNat: true, snat: false, snatTranslateIp: null, natDns: true },
  };
  const natOf = (d: Decision): unknown => {
    assert.equal(d.kind, "grant", JSON.stringify(d));
    assert.equal(d.grants.length, 1);
    const g = d.grants[0];
    return g === undefined ? null : { port: g.port, proto: g.proto, ...g.nat };
  };
  const forward = { kind: "forward", dnat: true, forwardAll: false, snat: null };
  const nat = (f: Partial<SpaFields>, over = {}, s: Partial<ServedStanza> = {}): Decision =>
    run(
      packet(keysA, { message: "198.18.0.2,tcp/2222,udp/53", ...f }),
      [stanza(1, keysA, s)],
      new Set(),
      {
        ...on,
        ...over,
      },
    ).d;

  it("type 2 DNATs the first requested port to the NAT field's host and port", () => {
    assert.deepEqual(natOf(nat({ messageType: 2, natAccess: "10.0.0.5,22" })), {
      port: 2222,
      proto: "tcp",
      toAddress: "10.0.0.5",
      toPort: 22,
      ...forward,
    });
  });

  it("types 5/6 are local NAT; FORCE_NAT overrides the packet and applies to type 1", () => {
    assert.equal(
      (
        natOf(nat({ messageType: 6, natAccess: "10.0.0.1,22", clientTimeout: 9 })) as {
          kind: string;
        }
      ).kind,
      "local",
    );
    const forced = {
      forceNat: { ip: "10.9.9.9", port: 2200 },
      forceSnat: null,
      forceMasquerade: false,
      forwardAll: false,
      disableDnat: true,
    };
    assert.deepEqual(natOf(nat({}, {}, forced)), {
      port: 2222,
      proto: "tcp",
      ...forward,
      toAddress: "10.9.9.9",
      toPort: 2200,
      dnat: false,
    });
  });

  it("chooses source NAT as snat_rule does", () => {
    const base: StanzaNat = {
      forceNat: { ip: "10.9.9.9", port: 22 },
      forceSnat: null,
      forceMasquerade: false,
      forwardAll: false,
      disableDnat: false,
    };
    const snatOf = (s: Partial<typeof base>, over = {}): unknown =>
      (natOf(nat({}, over, { ...base, ...s })) as { snat: unknown }).snat;
    assert.equal(snatOf({}), null);
    assert.deepEqual(snatOf({ forceSnat: "10.1.1.1" }), { to: "10.1.1.1" });
    assert.equal(snatOf({ forceMasquerade: true }), "masquerade");
    const global = { nat: { ...on.nat, snat: true, snatTranslateIp: "10.2.2.2" } };
    assert.deepEqual(snatOf({}, global), { to: "10.2.2.2" });
    assert.equal(snatOf({}, { nat: { ...on.nat, snat: true } }), "masquerade");
  });

  it("refuses NAT that fwknopd.conf does not enable, and bad or hostile NAT fields", () => {
    const reason = (d: Decision): string => (d.kind === "refuse" ? d.reason : d.kind);
    assert.equal(
      reason(
        nat(
          { messageType: 2, natAccess: "10.0.0.5,22" },
          { nat: { ...on.nat, forwarding: false } },
        ),
      ),
      "nat_not_enabled",
    );
    assert.equal(
      reason(
        nat({ messageType: 5, natAccess: "10.0.0.5,22" }, { nat: { ...on.nat, localNat: false } }),
      ),
      "nat_not_enabled",
    );
    for (const host of ["a;id", "$(id)", "`id`", "a\nb", "x|y", "-j", "a..b", "-a.b"])
      assert.equal(reason(nat({ messageType: 2, natAccess: `${host},22` })), "nat_target", host);
    assert.equal(
      reason(
        nat(
          { messageType: 2, natAccess: "inner.example,22" },
          { nat: { ...on.nat, natDns: false } },
        ),
      ),
      "nat_target",
    );
    // A valid host name passes (it is resolved later, by the daemon).
    assert.equal(
      (natOf(nat({ messageType: 2, natAccess: "inner.example,22" })) as { toAddress: string })
        .toAddress,
      "inner.example",
    );
  });
});

describe("server pipeline and the replay cache's state", () => {
  const state = (forgottenBefore: number, full = false) => ({
    replay: { forgottenBefore: () => forgottenBefore, isFull: () => full },
  });

  it("refuses a packet stamped before forgottenBefore, also with aging off, and burns it", () => {
    const old = packet(keysA, { timestamp: NOW - 500 });
    const off = { packetAging: false, ...state(NOW - 499) };
    const { d, log } = run(old, [stanza(1, keysA)], new Set(), off);
    assert.ok(d.kind === "refuse");
    assert.equal(d.reason, "replay_forgotten");
    assert.equal(d.digest, replayDigest(old), "authentic: its digest is burnt");
    assert.equal(d.spaTime, NOW - 500);
    assert.match(log.join("\n"), /older than the digest cache remembers/);
    // Stamped at forgottenBefore: its digest would still be held, so the cache decides.
    const kept = run(packet(keysA, { timestamp: NOW - 499 }), [stanza(1, keysA)], new Set(), off);
    assert.equal(kept.d.kind, "grant");
  });

  it("carries the packet's timestamp with the digests it grants", () => {
    const { d } = run(packet(keysA, { timestamp: NOW - 7 }), [stanza(1, keysA)]);
    assert.ok(d.kind === "grant");
    assert.equal(d.spaTime, NOW - 7);
  });

  it("a full cache refuses authentic packets without burning them; a replay is still a replay", () => {
    const wire = packet(keysA);
    const { d, log } = run(wire, [stanza(1, keysA), stanza(2, keysA)], new Set(), state(0, true));
    assert.ok(d.kind === "refuse");
    assert.equal(d.reason, "replay_cache_full");
    assert.equal(d.digest, null);
    assert.equal(log.length, 1, "the search ends at the first stanza");
    assert.match(log[0] ?? "", /Digest cache is full \(DIGEST_CACHE_MAX_ENTRIES\)/);
    const again = run(wire, [stanza(1, keysA)], new Set([replayDigest(wire)]), state(0, true));
    assert.equal(again.d.kind === "refuse" && again.d.reason, "replay");
  });
});
