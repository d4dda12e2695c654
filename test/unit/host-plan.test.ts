/**
 * Reading the host's firewall and choosing a backend (issue 11), on rulesets listed by the real
 * nft and iptables-legacy-save (test/fixtures/host/make-rulesets.ts made them).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { evaluateInput } from "../../src/server/firewall/host/evaluate.js";
import { parseIptablesSave } from "../../src/server/firewall/host/iptables-save.js";
import {
  PlanError,
  planFirewall,
  type FirewalldState,
  type HostFirewall,
  type PlanConfig,
} from "../../src/server/firewall/host/plan.js";
import { probeHost } from "../../src/server/firewall/host/probe.js";
import { fwCheckReport } from "../../src/server/firewall/host/report.js";
import { parseNftRuleset, type Ruleset } from "../../src/server/firewall/host/ruleset.js";

const FIX = join(__dirname, "..", "fixtures", "host");
const nft = (name: string): Ruleset =>
  parseNftRuleset(readFileSync(join(FIX, `${name}.json`), "utf8"));
const NO_FIREWALLD: FirewalldState = { running: false, backend: null, defaultZone: null };
const host = (rs: Ruleset, firewalld = NO_FIREWALLD): HostFirewall => ({
  ruleset: rs,
  unread: [],
  firewalld,
});
const config = (over: Partial<PlanConfig> = {}): PlanConfig => ({
  type: "auto",
  exe: null,
  iptVars: [],
  firewdVars: [],
  iptInput: { table: "filter", fromChain: "INPUT" },
  nftTable: "inet fwknopd",
  nftJumpChain: null,
  nftProtectPorts: false,
  openPorts: [{ proto: "tcp", port: 1234 }],
  ipv6: false,
  exists: (p) => p === "/usr/sbin/iptables-nft",
  ...over,
});

describe("ruleset model", () => {
  it("marks iptables-nft's tables and reads base chains with their policy and priority", () => {
    const rs = nft("ufw-like");
    const input = rs.chains.find((c) => c.name === "INPUT");
    assert.ok(input !== undefined);
    assert.equal(input.origin, "iptables-nft");
    assert.deepEqual(input.base, { hook: "input", prio: 0, type: "filter", policy: "drop" });
    const deb = nft("debian-nftables").chains.find((c) => c.name === "input");
    assert.ok(deb !== undefined);
    assert.equal(deb.origin, "nftables");
    assert.equal(deb.rules.length, 6);
  });

  it("reads iptables-legacy-save, multiport ranges included", () => {
    const chains = parseIptablesSave(readFileSync(join(FIX, "legacy-drop.save"), "utf8"), "ip");
    const input = chains.find((c) => c.name === "INPUT");
    assert.ok(input !== undefined);
    assert.equal(input.origin, "iptables-legacy");
    assert.equal(input.base?.policy, "drop");
    const rs: Ruleset = { chains, tables: [] };
    const verdict = (dport: number): string =>
      evaluateInput(rs, { family: 4, proto: "tcp", dport }, () => false)[0]?.why ?? "";
    assert.match(verdict(85), /REJECT/);
    assert.match(verdict(1234), /policy drop/);
  });

  it("never throws on arbitrary JSON-shaped input", () => {
    fc.assert(
      fc.property(fc.json(), (j) => {
        try {
          parseNftRuleset(j);
        } catch (e) {
          assert.ok(e instanceof SyntaxError, String(e));
        }
        parseNftRuleset(JSON.stringify({ nftables: [JSON.parse(j)] }));
      }),
    );
  });
});

describe("evaluating the input chains", () => {
  it("Debian's default-drop chain: invalid and established rules do not apply to a new connection", () => {
    const rs = nft("debian-nftables");
    const [o22] = evaluateInput(rs, { family: 4, proto: "tcp", dport: 22 }, () => false);
    assert.equal(o22?.verdict, "accept");
    const [o1234] = evaluateInput(rs, { family: 6, proto: "tcp", dport: 1234 }, () => false);
    assert.equal(o1234?.verdict, "drop");
    assert.equal(o1234.mayDrop, null);
    assert.match(o1234.why, /policy drop of inet filter input/);
  });

  it("follows jumps into user chains (ufw-user-input)", () => {
    const rs = nft("ufw-like");
    const [o] = evaluateInput(rs, { family: 4, proto: "udp", dport: 62201 }, () => false);
    assert.equal(o?.verdict, "accept");
    assert.match(o.why, /ufw-user-input/);
  });
});

describe("FIREWALL_TYPE auto", () => {
  it("an empty host: nftables in our own table, with a loud warning that the port is open", () => {
    const p = planFirewall(host(nft("empty")), config());
    assert.equal(p.type, "nftables");
    assert.equal(p.jumpChain, null);
    assert.deepEqual(p.blockers, []);
    assert.deepEqual(p.openToAll, ["tcp/1234 (IPv4)"]);
    assert.match(p.openToAllFix, /NFT_PROTECT_PORTS/);
  });

  it("NFT_PROTECT_PORTS Y closes the port in our table: no warning", () => {
    const p = planFirewall(host(nft("nftables-open")), config({ nftProtectPorts: true }));
    assert.deepEqual(p.openToAll, []);
  });

  it("a ufw-like iptables host: iptables through iptables-nft, the reason names the policy", () => {
    const p = planFirewall(host(nft("ufw-like")), config());
    assert.equal(p.type, "iptables");
    assert.equal(p.exe, "/usr/sbin/iptables-nft");
    assert.match(p.reason, /^auto: INPUT policy DROP in table ip filter$/);
    assert.deepEqual(p.blockers, []);
    assert.deepEqual(p.openToAll, []);
  });

  it("IPT_* chain lines choose iptables on a host with no rules at all", () => {
    const p = planFirewall(host(nft("empty")), config({ iptVars: ["IPT_INPUT_ACCESS"] }));
    assert.equal(p.type, "iptables");
    assert.equal(p.exe, "/usr/sbin/iptables-nft");
    assert.equal(p.reason, "auto: IPT_INPUT_ACCESS set");
  });

  it("legacy rules only: iptables-legacy", () => {
    const chains = parseIptablesSave(readFileSync(join(FIX, "legacy-drop.save"), "utf8"), "ip");
    const p = planFirewall(host({ chains, tables: [] }), config());
    assert.equal(p.type, "iptables");
    assert.equal(p.exe, "/usr/sbin/iptables-legacy");
    assert.match(p.reason, /\(legacy\)/);
  });

  it("Debian's nftables.conf with a drop policy: our accept goes at the top of its input chain", () => {
    const p = planFirewall(host(nft("debian-nftables")), config({ ipv6: true }));
    assert.equal(p.type, "nftables");
    assert.equal(p.jumpChain, "inet filter input");
    assert.deepEqual(p.blockers, []);
    assert.match(p.reason, /inet filter input drops what is not allowed/);
  });

  it("two nftables chains that drop: refuses and names both", () => {
    assert.throws(
      () => planFirewall(host(nft("two-drops")), config()),
      (e: unknown) =>
        e instanceof PlanError &&
        /inet filter input; ip extra input/.test(e.message) &&
        /NFT_JUMP_CHAIN/.test(e.message),
    );
  });

  it("firewalld running wins over FIREWALL_EXE and the iptables rules it made", () => {
    const fw: FirewalldState = { running: true, backend: "nftables", defaultZone: "public" };
    const p = planFirewall(
      host(nft("ufw-like"), fw),
      config({ exe: { value: "/usr/sbin/iptables", where: "f:1" } }),
    );
    assert.equal(p.type, "firewalld");
    assert.match(p.reason, /firewalld is running \(backend nftables, default zone public\)/);
  });

  it("FIREWD_* lines with no firewalld running: refuses, naming FIREWALL_EXE's line", () => {
    assert.throws(
      () =>
        planFirewall(
          host(nft("empty")),
          config({
            exe: { value: "/usr/bin/firewall-cmd", where: "/etc/fwknop/fwknopd.conf:17" },
            firewdVars: ["FIREWD_INPUT_ACCESS"],
          }),
        ),
      /fwknopd\.conf:17: FIREWALL_EXE \/usr\/bin\/firewall-cmd asks for firewalld, but firewalld is not running/,
    );
  });
});

describe("FIREWALL_EXE", () => {
  it("naming nft wins over FIREWD_* lines (the tutorial's file with another program)", () => {
    const p = planFirewall(
      host(nft("debian-nftables")),
      config({
        exe: { value: "/usr/sbin/nft", where: "f:16" },
        firewdVars: ["FIREWD_INPUT_ACCESS"],
      }),
    );
    assert.equal(p.type, "nftables");
    assert.equal(p.jumpChain, "inet filter input");
  });

  it("the nf_tables iptables on a legacy host: the legacy INPUT chain blocks its grants", () => {
    const chains = parseIptablesSave(readFileSync(join(FIX, "legacy-drop.save"), "utf8"), "ip");
    const p = planFirewall(
      host({ chains, tables: [] }),
      config({ exe: { value: "/usr/sbin/iptables", where: "f:3", legacy: false } }),
    );
    assert.equal(p.type, "iptables");
    assert.equal(p.exe, "/usr/sbin/iptables");
    assert.match(p.blockers.join("\n"), /^ip filter INPUT would drop a granted tcp\/1234/);
  });
});

describe("an explicit FIREWALL_TYPE is checked the same way", () => {
  it("nftables on a ufw-like host: the INPUT chain is a blocker", () => {
    const p = planFirewall(host(nft("ufw-like")), config({ type: "nftables" }));
    assert.equal(p.type, "nftables");
    assert.equal(p.blockers.length, 1);
    assert.match(p.blockers[0] ?? "", /^ip filter INPUT would drop a granted tcp\/1234 \(IPv4\)/);
    assert.match(fwCheckReport(host(nft("ufw-like")), config(), p), /WOULD NOT OPEN/);
  });

  it("nftables with NFT_JUMP_CHAIN on Debian's chain: no blocker", () => {
    const p = planFirewall(
      host(nft("debian-nftables")),
      config({ type: "nftables", nftJumpChain: "inet filter input" }),
    );
    assert.deepEqual(p.blockers, []);
  });

  it("iptables on a host whose nftables chain drops: that chain is the blocker", () => {
    const p = planFirewall(host(nft("debian-nftables")), config({ type: "iptables" }));
    assert.match(p.blockers.join("\n"), /inet filter input would drop/);
  });
});

describe("probeHost", () => {
  it("reads nft and the legacy dumps, and says what it could not read", async () => {
    const calls: string[] = [];
    const h = await probeHost({
      nft: "/usr/sbin/nft",
      exists: (p) => p !== "/usr/sbin/ip6tables-legacy-save",
      exec: (file) => {
        calls.push(file);
        if (file === "/usr/sbin/nft")
          return Promise.resolve({ code: 1, stdout: "", stderr: "Operation not permitted" });
        return Promise.resolve({
          code: 0,
          stdout: readFileSync(join(FIX, "legacy-drop.save"), "utf8"),
          stderr: "",
        });
      },
      firewalld: () => Promise.resolve(NO_FIREWALLD),
    });
    assert.deepEqual(calls, ["/usr/sbin/nft", "/usr/sbin/iptables-legacy-save"]);
    assert.match(h.unread[0] ?? "", /nft -j list ruleset: Operation not permitted/);
    assert.equal(h.ruleset.chains.filter((c) => c.origin === "iptables-legacy").length, 3);
  });
});

describe("the walk's edge cases", () => {
  /** One inet table: base chain `input` (policy as given) and user chains, from nft's JSON shapes. */
  const ruleset = (policy: "accept" | "drop", rules: Record<string, unknown[][]>): Ruleset => {
    const items: unknown[] = [{ table: { family: "inet", name: "t" } }];
    for (const [name, list] of Object.entries(rules)) {
      items.push({
        chain: {
          family: "inet",
          table: "t",
          name,
          ...(name === "input" ? { type: "filter", hook: "input", prio: 0, policy } : {}),
        },
      });
      list.forEach((expr, i) =>
        items.push({ rule: { family: "inet", table: "t", chain: name, handle: i + 1, expr } }),
      );
    }
    return parseNftRuleset(JSON.stringify({ nftables: items }));
  };
  const dport = (port: number | string, op = "=="): unknown => ({
    match: { op, left: { payload: { protocol: "tcp", field: "dport" } }, right: port },
  });
  const pkt = { family: 4 as const, proto: "tcp" as const, dport: 1234 };
  const outcome = (rs: Ruleset) => evaluateInput(rs, pkt, () => false)[0];

  it("goto does not come back; return does", () => {
    const viaGoto = ruleset("accept", {
      input: [[{ goto: { target: "sub" } }], [{ drop: null }]],
      sub: [[dport(22), { accept: null }]],
    });
    assert.equal(outcome(viaGoto)?.verdict, "accept");
    const viaJump = ruleset("accept", {
      input: [[{ jump: { target: "sub" } }], [{ drop: null }]],
      sub: [[{ return: null }], [{ accept: null }]],
    });
    assert.equal(outcome(viaJump)?.verdict, "drop");
  });

  it("negated matches: tcp dport != 22 reject applies to 1234", () => {
    const rs = ruleset("accept", { input: [[dport(22, "!="), { reject: null }]] });
    assert.equal(outcome(rs)?.verdict, "drop");
  });

  it("a verdict map or a set lookup is uncertain: may drop, never an accept", () => {
    const vmap = ruleset("accept", {
      input: [[{ vmap: { key: { meta: { key: "iifname" } }, data: { set: [] } } }]],
    });
    const o = outcome(vmap);
    assert.equal(o?.verdict, "accept");
    assert.match(o.mayDrop ?? "", /vmap/);
    const setAccept = ruleset("drop", {
      input: [
        [
          {
            match: {
              op: "==",
              left: { payload: { protocol: "ip", field: "saddr" } },
              right: "@allowed",
            },
          },
          { accept: null },
        ],
      ],
    });
    const s = outcome(setAccept);
    assert.equal(s?.verdict, "drop");
    assert.equal(s.mayAccept, true);
  });

  it("a jump loop ends (depth bound) as an uncertain drop", () => {
    const rs = ruleset("accept", {
      input: [[{ jump: { target: "a" } }]],
      a: [[{ jump: { target: "a" } }]],
    });
    assert.match(outcome(rs)?.mayDrop ?? "", /too deep/);
  });

  it("our own rules (comment fwknopd-grants) are not the host's", () => {
    const rs = ruleset("drop", { input: [[{ accept: null }]] });
    const input = rs.chains[0];
    assert.ok(input !== undefined && input.rules[0] !== undefined);
    input.rules[0].comment = "fwknopd-grants";
    const p = planFirewall(host(rs), config({ type: "nftables" }));
    assert.match(p.blockers.join(""), /policy drop of inet t input/);
  });
});

describe("--fw-check on a host whose output drops", () => {
  /** Debian's nftables.conf with its output chain's policy turned to drop. */
  const outputDrop = (): Ruleset => {
    const rs = nft("debian-nftables");
    return {
      ...rs,
      chains: rs.chains.map((c) =>
        c.base?.hook === "output" ? { ...c, base: { ...c.base, policy: "drop" } } : c,
      ),
    };
  };
  const report = (rs: Ruleset, over: Partial<PlanConfig>): string => {
    const cfg = config({ type: "nftables", nftJumpChain: "inet filter input", ...over });
    return fwCheckReport(host(rs), cfg, planFirewall(host(rs), cfg));
  };

  it("lists the output hook's chains and says what lets replies out", () => {
    const r = report(outputDrop(), {});
    assert.match(
      r,
      /base chains on the output hook:\n {4}inet filter output +priority +0 +policy drop/,
    );
    assert.match(
      r,
      /warning: output policy drop in inet filter output: .* set ENABLE_IPT_OUTPUT Y and NFT_OUTPUT_JUMP_CHAIN "inet filter output"/,
    );
    const half = report(outputDrop(), { output: { ipt: true, firewd: false, nftJumpChain: null } });
    assert.match(
      half,
      /ENABLE_IPT_OUTPUT is on, but inet filter output drops output .* NFT_OUTPUT_JUMP_CHAIN/,
    );
    const done = { output: { ipt: true, firewd: false, nftJumpChain: "inet filter output" } };
    assert.doesNotMatch(report(outputDrop(), done), /warning: .*output/);
    assert.doesNotMatch(report(nft("debian-nftables"), {}), /warning: .*output/, "policy accept");
  });
});
