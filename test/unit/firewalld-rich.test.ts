/**
 * firewalld rich rules (src/server/firewall/firewalld-rich.ts) and the backend choice
 * (firewalld.ts), with a recording fake exec standing in for firewall-cmd and nft: our rule text
 * and its parser, the zone a grant goes in, the firewall-cmd fallback's argv, and what is left to
 * an admin. firewalld itself: test/e2e/fwknopd-firewalld.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConfigError } from "../../src/errors.js";
import type { Exec, ExecResult } from "../../src/exec.js";
import { FirewalldBackend, backendByNft } from "../../src/server/firewall/firewalld.js";
import { FirewalldBus } from "../../src/server/firewall/firewalld-dbus.js";
import { RichRuleBackend } from "../../src/server/firewall/firewalld-rich.js";
import {
  activeZoneSources,
  interfaceOf,
  localAddressToward,
  parseActiveZones,
  sourceZoneOf,
} from "../../src/server/firewall/firewalld-zones.js";
import { RICH_PRIORITY, parseRichRule, richRuleOf } from "../../src/server/firewall/rich-rule.js";
import type { FirewallBackend, Grant } from "../../src/server/firewall/types.js";

const CMD = "/usr/bin/firewall-cmd";
const OURS =
  'rule priority="-32201" family="ipv4" source address="198.18.0.2" port port="1234" protocol="tcp" accept';

const grant = (over: Partial<Grant> = {}): Grant => ({
  stanza: 1,
  user: "root",
  address: "198.18.0.2",
  family: 4,
  proto: "tcp",
  port: 1234,
  expiresAt: 1030,
  destination: null,
  ...over,
});

/** A fake exec: answers by the first matching pattern of argv (joined by spaces), records all. */
function fake(answers: ReadonlyArray<[RegExp, Partial<ExecResult>]>): {
  exec: Exec;
  calls: string[][];
} {
  const calls: string[][] = [];
  const exec: Exec = (bin, args) => {
    const argv = [bin, ...args];
    calls.push(argv);
    const a = answers.find(([re]) => re.test(argv.join(" ")))?.[1] ?? {};
    return Promise.resolve({ code: 0, stdout: "", stderr: "", ...a });
  };
  return { exec, calls };
}

const cmdBackend = (
  exec: Exec,
  zone: string | null = null,
  now = () => 0,
  route: string | null = null,
): RichRuleBackend =>
  new RichRuleBackend(
    { exe: [CMD], dbus: false, zone },
    exec,
    null,
    "FIREWD_USE_DBUS is N",
    now,
    () => Promise.resolve(route),
  );

describe("firewalld rich rules: text", () => {
  it("our rule in firewalld's own form, with our priority", () => {
    assert.equal(richRuleOf(grant()), OURS);
    assert.equal(RICH_PRIORITY, -32201);
    assert.equal(
      richRuleOf(
        grant({
          family: 6,
          address: "fd00:5fa::2",
          proto: "udp",
          port: 53,
          destination: "fd00:5fa::1",
        }),
      ),
      'rule priority="-32201" family="ipv6" source address="fd00:5fa::2" destination address="fd00:5fa::1" port port="53" protocol="udp" accept',
    );
    assert.throws(() => richRuleOf(grant({ address: '1.2.3.4" accept rule x="' })), /internal/);
  });

  it("parses back what it wrote, for any IPv4/IPv6 address, proto and port", () => {
    const g = fc.oneof(
      fc.record({ family: fc.constant(4 as const), address: fc.ipV4() }),
      fc.record({ family: fc.constant(6 as const), address: fc.ipV6() }),
    );
    fc.assert(
      fc.property(
        g,
        fc.constantFrom("tcp" as const, "udp" as const),
        fc.integer({ min: 1, max: 65535 }),
        (a, proto, port) => {
          const m = { ...a, proto, port, destination: null };
          assert.deepEqual(parseRichRule(richRuleOf(m)), m);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("an admin's rules are never ours", () => {
    for (const r of [
      OURS.replace('priority="-32201" ', ""),
      OURS.replace("-32201", "-32200"),
      OURS.replace(" accept", " drop"),
      OURS.replace(" accept", ' accept limit value="1/m"'),
      OURS.replace("198.18.0.2", "198.18.0.0/15"),
      OURS.replace('port="1234"', 'port="1000-2000"'),
      'rule family="ipv4" source address="198.18.0.2" service name="ssh" accept',
      "",
    ])
      assert.equal(parseRichRule(r), null, r);
  });

  it("arbitrary text never throws", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        parseRichRule(s);
        parseActiveZones(s);
      }),
    );
  });
});

describe("firewalld rich rules: which zone", () => {
  const ifaces = {
    lo: [{ address: "127.0.0.1" }],
    veth0: [{ address: "198.18.0.1" }, { address: "fd00:5fa::1" }],
  } as unknown as NodeJS.Dict<import("node:os").NetworkInterfaceInfo[]>;

  it("the interface holding the SPA's destination; none when the listener does not know it", () => {
    assert.equal(interfaceOf("198.18.0.1", ifaces), "veth0");
    assert.equal(interfaceOf("fd00:5fa::1", ifaces), "veth0");
    assert.equal(interfaceOf("0.0.0.0", ifaces), null);
    assert.equal(interfaceOf(undefined, ifaces), null);
    assert.equal(interfaceOf("203.0.113.9", ifaces), null);
  });

  it("a source binding that holds the client's address; MACs and ipsets skipped", () => {
    const sources = [
      { zone: "block", source: "ipset:bad" },
      { zone: "work", source: "00:11:22:33:44:55" },
      { zone: "home", source: "198.18.0.0/15" },
      { zone: "v6", source: "fd00::/8" },
      { zone: "one", source: "203.0.113.7" },
    ];
    assert.equal(sourceZoneOf("198.18.0.2", sources), "home");
    assert.equal(sourceZoneOf("fd00:5fa::2", sources), "v6");
    assert.equal(sourceZoneOf("203.0.113.7", sources), "one");
    assert.equal(sourceZoneOf("203.0.113.8", sources), null);
  });

  it("reads firewall-cmd --get-active-zones and getActiveZones' dict alike", () => {
    const text = "home\n  sources: 198.18.0.0/15 ipset:x\npublic\n  interfaces: veth0 eth1\n";
    const want = [
      { zone: "home", source: "198.18.0.0/15" },
      { zone: "home", source: "ipset:x" },
    ];
    assert.deepEqual(parseActiveZones(text), want);
    assert.deepEqual(
      activeZoneSources([
        ["home", [["sources", ["198.18.0.0/15", "ipset:x"]]]],
        ["public", [["interfaces", ["veth0"]]]],
      ]),
      want,
    );
    assert.deepEqual(activeZoneSources("junk"), []);
  });

  it("FIREWD_ZONE wins, and nothing is asked", async () => {
    const { exec, calls } = fake([]);
    const fw = cmdBackend(exec, "internal");
    await fw.grant([grant()], 1000);
    assert.deepEqual(calls, [[CMD, "--zone=internal", `--add-rich-rule=${OURS}`, "--timeout=30s"]]);
    assert.match(
      fw.detail,
      /^rich rules in zone internal \(FIREWD_ZONE\) through \/usr\/bin\/firewall-cmd \(not D-Bus: FIREWD_USE_DBUS is N\)$/,
    );
  });

  it("a FIREWD_ZONE firewalld does not know stops the start", async () => {
    const { exec } = fake([
      [/--get-default-zone/, { stdout: "public\n" }],
      [/--zone=nosuch --list-rich-rules/, { code: 112, stderr: "Error: INVALID_ZONE: nosuch\n" }],
    ]);
    await assert.rejects(cmdBackend(exec, "nosuch").init(false), /INVALID_ZONE: nosuch/);
  });

  it("else a source binding, else the default zone; lookups cached for 30 s", async () => {
    let now = 0;
    const { exec, calls } = fake([
      [/--get-default-zone/, { stdout: "public\n" }],
      [/--get-active-zones/, { stdout: "trusted\n  sources: 198.18.0.2/32\n" }],
    ]);
    const fw = cmdBackend(exec, null, () => now);
    assert.equal(await fw.zoneFor(grant()), "trusted");
    assert.equal(await fw.zoneFor(grant({ address: "198.18.0.3" })), "public");
    assert.equal(await fw.zoneFor(grant({ address: "198.18.0.4" })), "public");
    assert.equal(calls.length, 2);
    now = 31_000;
    await fw.zoneFor(grant({ address: "198.18.0.4" }));
    assert.equal(calls.length, 4);
  });
});

describe("firewalld rich rules: the zone of the arrival interface", () => {
  it("by the SPA's destination, else by the route to the client (UDP server), cached", async () => {
    const { exec, calls } = fake([
      [/--get-default-zone/, { stdout: "public\n" }],
      [/--get-zone-of-interface=lo/, { stdout: "trusted\n" }],
    ]);
    const fw = cmdBackend(exec, null, () => 0, "127.0.0.1");
    assert.equal(await fw.zoneFor(grant({ spaDestination: "127.0.0.1" })), "trusted");
    assert.equal(await fw.zoneFor(grant({ spaDestination: "0.0.0.0" })), "trusted");
    assert.equal(calls.filter((c) => c[1]?.startsWith("--get-zone-of-interface")).length, 1);
    const none = fake([
      [/--get-default-zone/, { stdout: "public\n" }],
      [/--get-zone-of-interface/, { code: 2, stdout: "no zone\n" }],
    ]);
    assert.equal(
      await cmdBackend(none.exec, null, () => 0, "127.0.0.1").zoneFor(grant()),
      "public",
    );
  });

  it("the kernel's source address toward a destination, without sending", async () => {
    assert.equal(await localAddressToward("127.0.0.1"), "127.0.0.1");
  });
});

describe("firewalld rich rules: grant, revoke, flush through firewall-cmd", () => {
  it("a rule already there is replaced, so the new timeout holds", async () => {
    let first = true;
    const calls: string[][] = [];
    const exec: Exec = (bin, args) => {
      calls.push([bin, ...args]);
      const already = first && args.some((a) => a.startsWith("--add-rich-rule"));
      if (already) first = false;
      return Promise.resolve({
        code: 0,
        stdout: "",
        stderr: already ? `Warning: ALREADY_ENABLED: '${OURS}'\n` : "",
      });
    };
    await cmdBackend(exec, "public").grant([grant({ expiresAt: 1005 })], 1000);
    assert.deepEqual(
      calls.map((c) => c[2]?.split("=")[0]),
      ["--add-rich-rule", "--remove-rich-rule", "--add-rich-rule"],
    );
    assert.equal(calls[2]?.[3], "--timeout=5s");
  });

  it("revoking a rule firewalld already ended (NOT_ENABLED) is no error; other failures are", async () => {
    const gone = fake([[/--remove-rich-rule/, { stderr: "Warning: NOT_ENABLED: x\n" }]]);
    await cmdBackend(gone.exec, "public").revoke([grant()]);
    const broken = fake([
      [/--remove-rich-rule/, { code: 252, stderr: "FirewallD is not running\n" }],
    ]);
    await assert.rejects(
      cmdBackend(broken.exec, "public").revoke([grant()]),
      /exit 252.*not running/,
    );
  });

  it("NAT grants are refused", async () => {
    const { exec } = fake([]);
    await assert.rejects(
      cmdBackend(exec, "public").grant(
        [
          grant({
            nat: {
              kind: "forward",
              toAddress: "198.18.1.2",
              toPort: 22,
              dnat: true,
              forwardAll: false,
              snat: null,
            },
          }),
        ],
        1000,
      ),
      /NAT access cannot be granted with firewalld rich rules/,
    );
  });

  it("list, --fw-list and flush see only ours, in every zone", async () => {
    const admin = 'rule family="ipv4" source address="198.18.0.9" service name="ssh" accept';
    const { exec, calls } = fake([
      [/--get-zones/, { stdout: "block public work\n" }],
      [/--zone=public --list-rich-rules/, { stdout: `${admin}\n${OURS}\n` }],
      [/--zone=work --list-rich-rules/, { stdout: `${OURS.replace("1234", "22")}\n` }],
    ]);
    const fw = cmdBackend(exec);
    const found = await fw.list(1000);
    assert.deepEqual(
      found.map((g) => [g.address, g.port, g.expiresAt]),
      [
        ["198.18.0.2", 1234, 1001],
        ["198.18.0.2", 22, 1001],
      ],
    );
    assert.match(
      await fw.listText(false),
      /zone public: rule priority="-32201".*1234.*\nzone work: .*"22"/,
    );
    calls.length = 0;
    await fw.flush();
    const removed = calls.filter((c) => c.some((a) => a.startsWith("--remove-rich-rule")));
    assert.deepEqual(
      removed.map((c) => c[1]),
      ["--zone=public", "--zone=work"],
    );
    assert.ok(removed.every((c) => !c.join(" ").includes("ssh")));
  });
});

describe("firewalld backend choice", () => {
  const pass = (): FirewallBackend & { closed: boolean } => ({
    name: "firewalld",
    expiresItself: false,
    detail: "passthrough through /usr/bin/firewall-cmd",
    closed: false,
    init: () => Promise.resolve(),
    grant: () => Promise.resolve(),
    revoke: () => Promise.resolve(),
    list: () => Promise.resolve([]),
    listText: () => Promise.resolve(""),
    flush: () => Promise.resolve(),
    close() {
      this.closed = true;
      return Promise.resolve();
    },
  });
  const noBus = (): FirewalldBus => new FirewalldBus("unix:path=/nonexistent/fwkts-test-bus");

  it("nft's table inet firewalld: rich rules; NAT marked as not possible", async () => {
    const { exec, calls } = fake([[/--get-default-zone/, { stdout: "public\n" }]]);
    const p = pass();
    const fw = new FirewalldBackend(
      p,
      { exe: [CMD], dbus: true, zone: null, forceNat: [] },
      exec,
      noBus,
    );
    await fw.init(false);
    assert.deepEqual(calls[0], ["/usr/sbin/nft", "list", "table", "inet", "firewalld"]);
    assert.match(
      fw.detail ?? "",
      /^rich rules in zone public \(the default;.*\) through \/usr\/bin\/firewall-cmd \(not D-Bus: D-Bus: \/nonexistent\/fwkts-test-bus: .*ENOENT.*\) \(firewalld backend, by nft, nftables\)$/,
    );
    assert.equal(fw.expiresItself, true);
    assert.match(fw.noNat ?? "", /ENABLE_FIREWD_FORWARDING/);
    assert.equal(p.closed, true);
    await fw.close();
  });

  it("no such nft table: the passthrough, as before", async () => {
    const { exec } = fake([
      [/nft list/, { code: 1, stderr: "Error: No such file or directory\n" }],
    ]);
    const fw = new FirewalldBackend(
      pass(),
      { exe: [CMD], dbus: false, zone: null, forceNat: [] },
      exec,
      noBus,
    );
    await fw.init(false);
    assert.equal(
      fw.detail,
      "passthrough through /usr/bin/firewall-cmd (firewalld backend, by nft, iptables)",
    );
    assert.equal(fw.expiresItself, false);
    assert.equal(fw.noNat, undefined);
  });

  it("a wrapped firewall-cmd asks nft through the same wrapper", async () => {
    const { exec, calls } = fake([]);
    assert.equal(await backendByNft(exec, ["nsenter", "--net=/x", "--"]), "nftables");
    assert.deepEqual(calls[0]?.slice(0, 4), ["nsenter", "--net=/x", "--", "/usr/sbin/nft"]);
    const missing = fake([[/nft/, { code: 127, stderr: "spawn /usr/sbin/nft ENOENT" }]]);
    assert.equal(await backendByNft(missing.exec, []), null);
  });

  it("FORCE_NAT on rich rules: a ConfigError naming the stanza's line", async () => {
    const { exec } = fake([]);
    const fw = new FirewalldBackend(
      pass(),
      {
        exe: [CMD],
        dbus: false,
        zone: null,
        forceNat: [{ file: "/etc/fwknop/access.conf", line: 12, source: "ANY" }],
      },
      exec,
      noBus,
    );
    await assert.rejects(fw.init(false), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(
        e.message,
        /^\/etc\/fwknop\/access\.conf:12: stanza for SOURCE 'ANY': FORCE_NAT cannot be honoured/,
      );
      return true;
    });
    await fw.close();
  });
});
