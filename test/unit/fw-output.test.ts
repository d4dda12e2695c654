/**
 * OUTPUT rules (ENABLE_IPT_OUTPUT / ENABLE_FIREWD_OUTPUT) and the packet's destination in grants
 * (ENABLE_DESTINATION_RULE), backend by backend, as text: iptables/firewalld passthrough write C's
 * IPT_OUT_RULE_ARGS rule (server/fw_util_iptables.h) beside the INPUT one and read both back as one
 * grant; nftables puts the grant in output sets and destination-keyed sets. The real firewalls
 * run them in test/e2e/fwknopd-output.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AccessStanza } from "../../src/config/access-conf.js";
import type { Exec, ExecResult } from "../../src/exec.js";
import { countedProblem, destinationRuleProblem } from "../../src/server/firewall-config.js";
import { ServerConfig, parseFwknopdConfText } from "../../src/config/fwknopd-conf.js";
import { RichWithOutput } from "../../src/server/firewall/firewalld-output.js";
import { IptablesBackend } from "../../src/server/firewall/iptables.js";
import { grantRules, parseRuleLine, type ChainSpec } from "../../src/server/firewall/ipt-rules.js";
import { NftablesBackend } from "../../src/server/firewall/nftables.js";
import { NftRules } from "../../src/server/firewall/nft-rules.js";
import { nftOptions } from "../fixtures/nft-options.js";
import type { FirewallBackend, Grant } from "../../src/server/firewall/types.js";

const spec = (target: string, from: string, to: string): ChainSpec => ({
  target,
  table: "filter",
  fromChain: from,
  jumpPos: 1,
  toChain: to,
});
const INPUT = spec("ACCEPT", "INPUT", "FWKNOP_INPUT");
const OUTPUT = spec("ACCEPT", "OUTPUT", "FWKNOP_OUTPUT");

const grant = (over: Partial<Grant> = {}): Grant => ({
  stanza: 1,
  user: "u",
  address: "198.18.0.2",
  family: 4,
  proto: "tcp",
  port: 22,
  expiresAt: 1800000030,
  destination: null,
  ...over,
});
const EXP = "-m comment --comment _exp_1800000030";
const text = (g: Grant, output: ChainSpec | null): string[] =>
  grantRules(g, { input: INPUT, output, nat: null }).map(
    (r) => `${r.chain.toChain} ${r.args.join(" ")}`,
  );

const conf = (text: string): ServerConfig => {
  const c = new ServerConfig();
  parseFwknopdConfText(c, "/etc/fwknop/fwknopd.conf", text, []);
  return c;
};

describe("iptables rules: OUTPUT as C writes it", () => {
  it("off: the INPUT accept alone", () => {
    assert.deepEqual(text(grant(), null), [
      `FWKNOP_INPUT -p 6 -s 198.18.0.2 -d 0.0.0.0/0 --dport 22 ${EXP} -j ACCEPT`,
    ]);
  });

  it("on: the OUTPUT accept to the client from the granted port (IPv4, IPv6, destination)", () => {
    assert.deepEqual(text(grant({ proto: "udp", port: 53 }), OUTPUT), [
      `FWKNOP_INPUT -p 17 -s 198.18.0.2 -d 0.0.0.0/0 --dport 53 ${EXP} -j ACCEPT`,
      `FWKNOP_OUTPUT -p 17 -d 198.18.0.2 -s 0.0.0.0/0 --sport 53 ${EXP} -j ACCEPT`,
    ]);
    assert.deepEqual(text(grant({ family: 6, address: "2001:db8::2" }), OUTPUT), [
      `FWKNOP_INPUT -p 6 -s 2001:db8::2 -d ::/0 --dport 22 ${EXP} -j ACCEPT`,
      `FWKNOP_OUTPUT -p 6 -d 2001:db8::2 -s ::/0 --sport 22 ${EXP} -j ACCEPT`,
    ]);
    assert.deepEqual(text(grant({ destination: "198.18.0.1" }), OUTPUT), [
      `FWKNOP_INPUT -p 6 -s 198.18.0.2 -d 198.18.0.1 --dport 22 ${EXP} -j ACCEPT`,
      `FWKNOP_OUTPUT -p 6 -d 198.18.0.2 -s 198.18.0.1 --sport 22 ${EXP} -j ACCEPT`,
    ]);
  });

  it("NAT access has no OUTPUT rule (C adds it for plain access only)", () => {
    const nat = grant({
      nat: {
        kind: "local",
        toAddress: "198.18.0.1",
        toPort: 22,
        dnat: false,
        forwardAll: false,
        snat: null,
      },
    });
    const rules = grantRules(nat, {
      input: INPUT,
      output: OUTPUT,
      nat: {
        forward: spec("ACCEPT", "FORWARD", "FWKNOP_FORWARD"),
        dnat: spec("DNAT", "PREROUTING", "FWKNOP_PREROUTING"),
        snat: null,
        masquerade: null,
      },
    });
    assert.deepEqual(
      rules.map((r) => r.chain.toChain),
      ["FWKNOP_INPUT"],
    );
  });

  it("reads an `iptables -S` OUTPUT line back: client from -d, port from --sport, destination", () => {
    const g = parseRuleLine(
      '-A FWKNOP_OUTPUT -s 198.18.0.1/32 -d 198.18.0.2/32 -p tcp -m tcp --sport 22 -m comment --comment "_exp_1800000030" -j ACCEPT',
      4,
      true,
    );
    assert.deepEqual(g && [g.address, g.destination, g.proto, g.port, g.expiresAt], [
      "198.18.0.2",
      "198.18.0.1",
      "tcp",
      22,
      1800000030,
    ]);
    const i = parseRuleLine(
      '-A FWKNOP_INPUT -s 198.18.0.2/32 -p udp -m udp --dport 53 -m comment --comment "_exp_5" -j ACCEPT',
      4,
    );
    assert.deepEqual(i && [i.address, i.destination, i.proto, i.port], [
      "198.18.0.2",
      null,
      "udp",
      53,
    ]);
  });
});

/** A fake exec answering `-S <chain>` from `listing`, recording every call. */
function fakeIpt(listing: Record<string, string>): { exec: Exec; calls: string[][] } {
  const calls: string[][] = [];
  const exec: Exec = (bin, args, opts) => {
    calls.push([bin, ...args, ...(opts?.input !== undefined ? [opts.input] : [])]);
    const s = args.indexOf("-S");
    const stdout = s >= 0 ? (listing[args[s + 1] ?? ""] ?? "") : "";
    return Promise.resolve({ code: 0, stdout, stderr: "" });
  };
  return { exec, calls };
}

const ipt = (exec: Exec, kind: "iptables" | "firewalld", outputOnly = false): IptablesBackend =>
  new IptablesBackend(
    {
      kind,
      exe: [kind === "iptables" ? "/usr/sbin/iptables" : "/usr/bin/firewall-cmd"],
      ip6exe: null,
      input: INPUT,
      output: OUTPUT,
      nat: null,
      prepend: false,
      ipv6: false,
      dbus: false,
      outputOnly,
    },
    exec,
  );

const IN_LINE =
  '-A FWKNOP_INPUT -s 198.18.0.2/32 -p tcp -m tcp --dport 22 -m comment --comment "_exp_1800000030" -j ACCEPT';
const OUT_LINE =
  '-A FWKNOP_OUTPUT -d 198.18.0.2/32 -p tcp -m tcp --sport 22 -m comment --comment "_exp_1800000030" -j ACCEPT';
const ORPHAN =
  '-A FWKNOP_OUTPUT -d 198.18.0.9/32 -p tcp -m tcp --sport 22 -m comment --comment "_exp_1800000040" -j ACCEPT';

describe("iptables backend with ENABLE_IPT_OUTPUT", () => {
  it("init makes FWKNOP_OUTPUT and its jump from OUTPUT; grant and revoke carry both rules", async () => {
    const { exec, calls } = fakeIpt({});
    const fw = ipt(exec, "iptables");
    await fw.init(false);
    const argv = calls.map((c) => c.slice(1).join(" "));
    assert.ok(argv.includes("-w -t filter -C OUTPUT -j FWKNOP_OUTPUT"), argv.join("\n"));
    calls.length = 0;
    await fw.grant([grant()]);
    assert.deepEqual(calls[0]?.at(-1)?.split("\n"), [
      "*filter",
      `-A FWKNOP_INPUT -p 6 -s 198.18.0.2 -d 0.0.0.0/0 --dport 22 ${EXP} -j ACCEPT`,
      `-A FWKNOP_OUTPUT -p 6 -d 198.18.0.2 -s 0.0.0.0/0 --sport 22 ${EXP} -j ACCEPT`,
      "COMMIT",
      "",
    ]);
    calls.length = 0;
    await fw.revoke([grant()]);
    assert.match(
      calls[0].at(-1) ?? "",
      /-D FWKNOP_INPUT [^\n]*\n-D FWKNOP_OUTPUT -p 6 -d 198\.18\.0\.2 /,
    );
  });

  it("list: a grant with its OUTPUT rule is one grant; an OUTPUT rule of no grant is a leftover", async () => {
    const { exec } = fakeIpt({
      FWKNOP_INPUT: `-N FWKNOP_INPUT\n${IN_LINE}\n`,
      FWKNOP_OUTPUT: `-N FWKNOP_OUTPUT\n${OUT_LINE}\n${ORPHAN}\n`,
    });
    const found = await ipt(exec, "iptables").list();
    assert.equal(found.length, 2);
    assert.deepEqual(
      [found[0]?.address, found[0]?.port, found[0]?.leftover],
      ["198.18.0.2", 22, undefined],
    );
    assert.equal(found[1]?.leftover?.chain, "FWKNOP_OUTPUT");
    assert.equal(found[1].expiresAt, 1800000040);
  });

  it("firewalld, output only (beside rich rules): FWKNOP_OUTPUT alone, by passthrough", async () => {
    const { exec, calls } = fakeIpt({ FWKNOP_OUTPUT: `${OUT_LINE}\n` });
    const fw = ipt(exec, "firewalld", true);
    await fw.init(false);
    await fw.grant([grant()]);
    const argv = calls.map((c) => c.slice(1).join(" "));
    assert.ok(
      argv.every((a) => !a.includes("FWKNOP_INPUT")),
      argv.join("\n"),
    );
    assert.ok(
      argv.includes(
        `--direct --passthrough ipv4 -t filter -A FWKNOP_OUTPUT -p 6 -d 198.18.0.2 -s 0.0.0.0/0 --sport 22 ${EXP} -j ACCEPT`,
      ),
      argv.join("\n"),
    );
    const found = await fw.list();
    assert.deepEqual(
      found.map((g) => [g.address, g.port, g.leftover]),
      [["198.18.0.2", 22, undefined]],
    );
  });
});

/** A backend that only records and lists what it is given. */
function fakeBackend(listed: Grant[]): FirewallBackend & { got: string[] } {
  const got: string[] = [];
  const ok = (): Promise<void> => Promise.resolve();
  return {
    name: "firewalld",
    expiresItself: true,
    got,
    init: ok,
    grant: (gs) => {
      got.push(...gs.map((g) => `grant ${g.address}`));
      return ok();
    },
    revoke: (gs) => {
      got.push(...gs.map((g) => `revoke ${g.address}`));
      return ok();
    },
    list: () => Promise.resolve(listed),
    listText: () => Promise.resolve(""),
    flush: ok,
    close: ok,
  };
}

describe("firewalld rich rules with ENABLE_FIREWD_OUTPUT", () => {
  it("both halves grant and revoke; the daemon expires (the passthrough rule does not end itself)", async () => {
    const rich = fakeBackend([]);
    const out = fakeBackend([]);
    const fw = new RichWithOutput(rich, out);
    assert.equal(fw.expiresItself, false);
    await fw.grant([grant()], 0);
    await fw.revoke([grant()]);
    assert.deepEqual(rich.got, ["grant 198.18.0.2", "revoke 198.18.0.2"]);
    assert.deepEqual(out.got, ["grant 198.18.0.2", "revoke 198.18.0.2"]);
  });

  it("list: a rich rule takes its OUTPUT rule's expiry; an OUTPUT rule alone is a grant of its own", async () => {
    const fw = new RichWithOutput(
      fakeBackend([grant({ expiresAt: 101 })]),
      fakeBackend([grant({ expiresAt: 160 }), grant({ address: "198.18.0.9", expiresAt: 170 })]),
    );
    assert.deepEqual(
      (await fw.list(100)).map((g) => [g.address, g.expiresAt]),
      [
        ["198.18.0.2", 160],
        ["198.18.0.9", 170],
      ],
    );
  });
});

const nftOpts = nftOptions;
const elems = (r: NftRules, g: Grant): string[] =>
  r.elementsOf(g).map((e) => `${e.set} { ${e.key} }`);

describe("nftables text: output sets and destination sets", () => {
  it("off: one allow element, no output chain, no destination sets or rules", () => {
    const r = new NftRules(nftOpts());
    assert.deepEqual(elems(r, grant()), ["inet fwknopd allow4 { 198.18.0.2 . tcp . 22 }"]);
    const script = r.ownTable(false).join("\n");
    assert.doesNotMatch(script, /allow4d|hook output|out4/);
    assert.equal(r.out, null);
    assert.throws(() => r.elementsOf(grant({ destination: "198.18.0.1" })), /restart fwknopd/);
  });

  it("output in our own table: sets, chain and the element beside the input one", () => {
    const r = new NftRules(nftOpts({ output: true }));
    assert.deepEqual(elems(r, grant()), [
      "inet fwknopd allow4 { 198.18.0.2 . tcp . 22 }",
      "inet fwknopd out4 { 198.18.0.2 . tcp . 22 }",
    ]);
    assert.deepEqual(elems(r, grant({ family: 6, address: "2001:db8::2", proto: "udp" })), [
      "inet fwknopd allow6 { 2001:db8::2 . udp . 22 }",
      "inet fwknopd out6 { 2001:db8::2 . udp . 22 }",
    ]);
    assert.deepEqual(r.out?.ownChain(true), [
      "add table inet fwknopd",
      "add set inet fwknopd out4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }",
      "flush set inet fwknopd out4",
      "add set inet fwknopd out6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }",
      "flush set inet fwknopd out6",
      "add chain inet fwknopd output { type filter hook output priority filter - 5; policy accept; }",
      "flush chain inet fwknopd output",
      "add rule inet fwknopd output ip daddr . meta l4proto . th sport @out4 accept",
      "add rule inet fwknopd output ip6 daddr . meta l4proto . th sport @out6 accept",
    ]);
    assert.equal(r.usesOwnTable(), true);
  });

  it("NFT_OUTPUT_JUMP_CHAIN: sets in the admin's table, our rules at the top of its chain", () => {
    const r = new NftRules(
      nftOpts({
        jumpChain: "inet filter input",
        output: true,
        outputJumpChain: "inet filter output",
        destination: true,
        ipv6: false,
      }),
    );
    assert.equal(r.usesOwnTable(), false);
    assert.deepEqual(r.out?.jumpRules("output"), [
      'insert rule inet filter output ip daddr . ip saddr . meta l4proto . th sport @fwknopd_out4d accept comment "fwknopd-grants"',
      'insert rule inet filter output ip daddr . meta l4proto . th sport @fwknopd_out4 accept comment "fwknopd-grants"',
    ]);
    assert.deepEqual(elems(r, grant({ destination: "198.18.0.1" })), [
      "inet filter fwknopd_allow4d { 198.18.0.2 . 198.18.0.1 . tcp . 22 }",
      "inet filter fwknopd_out4d { 198.18.0.2 . 198.18.0.1 . tcp . 22 }",
    ]);
    assert.ok(r.out.deleteSets().includes("delete set inet filter fwknopd_out6d"));
  });

  it("ENABLE_DESTINATION_RULE: destination sets and their accepts; grants without one unchanged", () => {
    const r = new NftRules(nftOpts({ destination: true }));
    const script = r.ownTable(false);
    assert.ok(
      script.includes(
        "add set inet fwknopd allow6d { type ipv6_addr . ipv6_addr . inet_proto . inet_service; flags timeout; }",
      ),
    );
    assert.ok(
      script.some((l) =>
        l.startsWith(
          "add rule inet fwknopd input ip saddr . ip daddr . meta l4proto . th dport @allow4d ",
        ),
      ),
      script.join("\n"),
    );
    assert.ok(script.some((l) => /ip6 saddr \. ip6 daddr .* @allow6d .*accept$/.test(l)));
    assert.deepEqual(elems(r, grant()), ["inet fwknopd allow4 { 198.18.0.2 . tcp . 22 }"]);
    assert.deepEqual(
      elems(r, grant({ family: 6, address: "2001:db8::2", destination: "2001:db8::1" })),
      ["inet fwknopd allow6d { 2001:db8::2 . 2001:db8::1 . tcp . 22 }"],
    );
    assert.deepEqual(
      r.grantSets(4).map((s) => s.set),
      ["inet fwknopd allow4", "inet fwknopd allow4d"],
    );
  });

  it("list() reads grants with a destination back from the destination sets", async () => {
    const listing = (name: string, concat: unknown[]): string =>
      JSON.stringify({
        nftables: [{ set: { name, elem: [{ elem: { val: { concat }, expires: 9 } }] } }],
      });
    const exec: Exec = (_bin, args): Promise<ExecResult> => {
      const set = args.at(-1);
      const stdout =
        set === "allow4d"
          ? listing("allow4d", ["198.18.0.2", "198.18.0.1", "tcp", 22])
          : set === "allow4"
            ? listing("allow4", ["198.18.0.3", "udp", 53])
            : '{"nftables": []}';
      return Promise.resolve({ code: 0, stdout, stderr: "" });
    };
    const fw = new NftablesBackend(nftOpts({ destination: true, output: true }), exec);
    const found = await fw.list(100);
    assert.deepEqual(
      found.map((g) => [g.address, g.destination, g.proto, g.port, g.expiresAt]),
      [
        ["198.18.0.3", null, "udp", 53, 109],
        ["198.18.0.2", "198.18.0.1", "tcp", 22, 109],
      ],
    );
    await fw.close();
  });
});

describe("ENABLE_DESTINATION_RULE with counted grants on nftables", () => {
  const stanza = (over: Partial<AccessStanza>): AccessStanza =>
    ({
      file: "access.conf",
      line: 3,
      maxConnections: 0,
      requireConnectToken: false,
      ...over,
    }) as AccessStanza;

  const on = conf("ENABLE_DESTINATION_RULE Y;\n");
  it("stops the start, naming the stanza and both ways out", () => {
    const e = destinationRuleProblem(on, [stanza({ maxConnections: 2 })], "nftables");
    assert.match(
      e?.message ?? "",
      /access\.conf:3: MAX_CONNECTIONS 2: counted grants cannot be keyed with the packet's destination \(remove MAX_CONNECTIONS, or set ENABLE_DESTINATION_RULE N\)/,
    );
    assert.match(
      destinationRuleProblem(on, [stanza({ requireConnectToken: true })], "nftables")?.message ??
        "",
      /REQUIRE_CONNECT_TOKEN: the token gate cannot be keyed/,
    );
  });

  it("without it, or without counted stanzas, nothing to say", () => {
    assert.equal(
      destinationRuleProblem(conf(""), [stanza({ maxConnections: 2 })], "nftables"),
      null,
    );
    assert.equal(destinationRuleProblem(on, [stanza({})], "nftables"), null);
    // Without the rule, nftables counts: countedProblem has nothing to say either.
    assert.equal(countedProblem([stanza({ maxConnections: 2 })], "nftables"), null);
  });
});

describe("ENABLE_DESTINATION_RULE with NAT on nftables", () => {
  it("stops the start, naming the line: the NAT maps are not keyed with the destination", () => {
    const c = conf("ENABLE_IPT_FORWARDING Y;\nENABLE_DESTINATION_RULE Y;\n");
    assert.match(
      destinationRuleProblem(c, [], "nftables")?.message ?? "",
      /fwknopd\.conf:2: ENABLE_DESTINATION_RULE with ENABLE_IPT_FORWARDING: .*FIREWALL_TYPE iptables/,
    );
    assert.equal(destinationRuleProblem(c, [], "iptables"), null, "iptables puts -d in DNAT rules");
    assert.equal(
      destinationRuleProblem(conf("ENABLE_DESTINATION_RULE Y;\n"), [], "nftables"),
      null,
    );
    assert.equal(destinationRuleProblem(conf("ENABLE_IPT_LOCAL_NAT Y;\n"), [], "nftables"), null);
  });
});
