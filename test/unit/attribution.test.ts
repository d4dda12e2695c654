/** Connection attribution: conntrack's event lines, and which live grant a connection belongs to. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Grant } from "../../src/server/firewall/types.js";
import { Attribution } from "../../src/server/grants/attribution.js";
import { parseConntrackEvent } from "../../src/server/grants/conn-watch.js";
import { parseConntrackEntry, ssFilter } from "../../src/server/grants/revoke-connections.js";

const grant = (over: Partial<Grant>): Grant => ({
  stanza: 1,
  user: "alice",
  address: "198.18.0.2",
  family: 4,
  proto: "tcp",
  port: 1234,
  expiresAt: 2_000_000_000,
  destination: null,
  ...over,
});

describe("conntrack -E -o extended lines", () => {
  it("reads the original direction of a new TCP or UDP connection", () => {
    assert.deepEqual(
      parseConntrackEvent(
        "    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=198.18.9.2 dst=198.18.9.1 sport=33282 dport=1234 [UNREPLIED] src=198.18.9.1 dst=198.18.9.2 sport=1234 dport=33282 mark=1073741824",
      ),
      {
        proto: "tcp",
        src: "198.18.9.2",
        dst: "198.18.9.1",
        sport: 33282,
        dport: 1234,
        redirected: false,
      },
    );
    assert.deepEqual(
      parseConntrackEvent(
        "[NEW] ipv6     10 udp      17 30 src=fd00:5fa::2 dst=fd00:5fa::1 sport=5000 dport=53 [UNREPLIED] src=fd00:5fa::1 dst=fd00:5fa::2 sport=53 dport=5000 mark=1073741824",
      ),
      {
        proto: "udp",
        src: "fd00:5fa::2",
        dst: "fd00:5fa::1",
        sport: 5000,
        dport: 53,
        redirected: false,
      },
    );
  });

  it("sees a connection redirected to the token gate by its reply's port", () => {
    const c = parseConntrackEvent(
      "[NEW] ipv4 2 tcp 6 120 SYN_SENT src=198.18.0.2 dst=198.18.0.1 sport=40000 dport=1234 [UNREPLIED] src=198.18.0.1 dst=198.18.0.2 sport=62202 dport=40000 mark=1073741824",
    );
    assert.equal(c?.redirected, true);
  });

  it("ignores other events, other protocols and noise", () => {
    for (const l of [
      "[DESTROY] ipv4 2 tcp 6 src=1.2.3.4 dst=1.2.3.5 sport=1 dport=2",
      "[NEW] ipv4 2 icmp 1 30 src=198.18.0.2 dst=198.18.0.1 type=8 code=0 id=1",
      "conntrack v1.4.7 (conntrack-tools): 1 flow events have been shown.",
      "",
    ])
      assert.equal(parseConntrackEvent(l), null, l);
  });
});

describe("attribution to the live grant", () => {
  it("names the newest matching grant's user, stanza and SPA source, and keeps its connections", () => {
    const lines: string[] = [];
    const grants = [
      grant({ id: 1, user: "alice" }),
      grant({ id: 2, user: "bob", stanza: 2, spaSource: "198.18.0.9" }),
      grant({ id: 3, user: "carol", port: 22 }),
    ];
    const a = new Attribution(
      () => grants,
      (_f, l) => lines.push(l),
    );
    a.admitted({
      proto: "tcp",
      src: "198.18.0.2",
      sport: 40000,
      dst: "198.18.0.1",
      dport: 1234,
      redirected: false,
    });
    assert.deepEqual(lines, [
      "Connection tcp 198.18.0.2:40000 -> 198.18.0.1:1234 admitted by grant #2 for user 'bob' (stanza #2, SPA from 198.18.0.9)",
    ]);
    assert.deepEqual(a.of(grants[1] as Grant), { count: 1, recent: ["198.18.0.2:40000"] });
    assert.equal(a.of(grants[0] as Grant), null);
  });

  it("leaves connections redirected to the token gate to the gate", () => {
    const lines: string[] = [];
    const a = new Attribution(
      () => [grant({ id: 1 })],
      (_f, l) => lines.push(l),
    );
    a.admitted({
      proto: "tcp",
      src: "198.18.0.2",
      sport: 40000,
      dst: "198.18.0.1",
      dport: 1234,
      redirected: true,
    });
    assert.deepEqual(lines, []);
  });

  it("says so when no live grant matches (it ended meanwhile)", () => {
    const lines: string[] = [];
    const a = new Attribution(
      () => [],
      (_f, l) => lines.push(l),
    );
    a.admitted({
      proto: "udp",
      src: "fd00::2",
      sport: 5,
      dst: "fd00::1",
      dport: 53,
      redirected: false,
    });
    assert.deepEqual(lines, [
      "Connection udp [fd00::2]:5 -> [fd00::1]:53 admitted by a grant that has since ended",
    ]);
  });

  it("keeps at most 16 connections a grant, counting all", () => {
    const g = grant({ id: 7 });
    const a = new Attribution(
      () => [g],
      () => undefined,
    );
    for (let i = 0; i < 40; i++)
      a.admitted({
        proto: "tcp",
        src: g.address,
        sport: 1000 + i,
        dst: "198.18.0.1",
        dport: 1234,
        redirected: false,
      });
    const kept = a.of(g);
    assert.ok(kept !== null);
    assert.equal(kept.count, 40);
    assert.equal(kept.recent.length, 16);
    assert.equal(kept.recent[15], "198.18.0.2:1039");
  });
});

describe("revoking connections: conntrack's list and ss's filter", () => {
  it("reads conntrack -L lines and builds one ss filter for this host's end of each", () => {
    const c = parseConntrackEntry(
      "ipv4     2 tcp      6 431999 ESTABLISHED src=198.18.0.2 dst=198.18.0.1 sport=40000 dport=1234 src=198.18.0.1 dst=198.18.0.2 sport=1234 dport=40000 [ASSURED] mark=1073741824 use=1",
    );
    assert.deepEqual(c, {
      proto: "tcp",
      src: "198.18.0.2",
      dst: "198.18.0.1",
      sport: 40000,
      dport: 1234,
    });
    assert.equal(
      parseConntrackEntry("conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown."),
      null,
    );
    assert.deepEqual(
      ssFilter([
        { proto: "tcp", src: "198.18.0.2", sport: 40000, dst: "198.18.0.1", dport: 1234 },
        { proto: "tcp", src: "198.18.0.3", sport: 40001, dst: "198.18.0.1", dport: 1234 },
      ]),
      [
        ...[
          "(",
          "src",
          "198.18.0.1",
          "sport",
          "=",
          ":1234",
          "dst",
          "198.18.0.2",
          "dport",
          "=",
          ":40000",
          ")",
        ],
        "or",
        ...[
          "(",
          "src",
          "198.18.0.1",
          "sport",
          "=",
          ":1234",
          "dst",
          "198.18.0.3",
          "dport",
          "=",
          ":40001",
          ")",
        ],
      ],
    );
  });
});
