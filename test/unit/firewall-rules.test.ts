/**
 * The iptables backend's commands with a recording fake exec: NAT rules carry C fwknopd's
 * argument strings (server/fw_util_iptables.h IPT_*_RULE_ARGS) so either daemon can list and
 * expire the other's. (The nftables backend is exercised for real in test/e2e/fwknopd-nat.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Exec } from "../../src/exec.js";
import { IptablesBackend } from "../../src/server/firewall/iptables.js";
import {
  parseLeftover,
  parseRuleLine,
  type ChainSpec,
} from "../../src/server/firewall/ipt-rules.js";
import { grantKey, type Grant, type GrantNat } from "../../src/server/firewall/types.js";

const chain = (target: string, table: string, from: string, to: string): ChainSpec => ({
  target,
  table,
  fromChain: from,
  jumpPos: 1,
  toChain: to,
});

/** A fake exec that records every call; `failRestore` makes iptables-restore fail. */
function recorder(): {
  exec: Exec;
  calls: Array<{ argv: string[]; input: string | undefined }>;
  failRestore: { on: boolean };
} {
  const calls: Array<{ argv: string[]; input: string | undefined }> = [];
  const failRestore = { on: false };
  const exec: Exec = (bin, args, opts) => {
    calls.push({ argv: [bin, ...args], input: opts?.input });
    const code = failRestore.on && bin.endsWith("-restore") ? 1 : 0;
    return Promise.resolve({ code, stdout: "", stderr: "" });
  };
  return { exec, calls, failRestore };
}

const grant = (nat: GrantNat): Grant => ({
  stanza: 1,
  user: "root",
  address: "198.18.0.2",
  family: 4,
  proto: "tcp",
  port: 2222,
  expiresAt: 1800000030,
  destination: null,
  nat,
});

describe("iptables backend: NAT rules as C writes them", () => {
  const { exec, calls, failRestore } = recorder();
  const fw = new IptablesBackend(
    {
      kind: "iptables",
      exe: ["/usr/sbin/iptables"],
      ip6exe: null,
      input: chain("ACCEPT", "filter", "INPUT", "FWKNOP_INPUT"),
      nat: {
        forward: chain("ACCEPT", "filter", "FORWARD", "FWKNOP_FORWARD"),
        dnat: chain("DNAT", "nat", "PREROUTING", "FWKNOP_PREROUTING"),
        snat: chain("SNAT", "nat", "POSTROUTING", "FWKNOP_POSTROUTING"),
        masquerade: chain("MASQUERADE", "nat", "POSTROUTING", "FWKNOP_MASQUERADE"),
      },
      prepend: false,
      ipv6: false,
      dbus: false,
    },
    exec,
  );
  const nat: GrantNat = {
    kind: "forward",
    toAddress: "198.18.1.2",
    toPort: 22,
    dnat: true,
    forwardAll: false,
    snat: { to: "198.18.1.1" },
  };
  const exp = "-m comment --comment _exp_1800000030";

  it("forward NAT: FORWARD accept, DNAT and SNAT in one iptables-restore", async () => {
    calls.length = 0;
    await fw.grant([grant(nat)]);
    assert.equal(calls.length, 1);
    const [call] = calls;
    assert.ok(call !== undefined);
    assert.deepEqual(call.argv, ["/usr/sbin/iptables-restore", "-w", "--noflush"]);
    assert.equal(
      call.input,
      [
        "*filter",
        `-A FWKNOP_FORWARD -p 6 -s 198.18.0.2 --dport 22 ${exp} -j ACCEPT`,
        "COMMIT",
        "*nat",
        `-A FWKNOP_PREROUTING -p 6 -s 198.18.0.2 -d 0.0.0.0/0 --dport 2222 ${exp} -j DNAT --to-destination 198.18.1.2:22`,
        `-A FWKNOP_POSTROUTING -p 6 -d 198.18.1.2 --dport 22 ${exp} -j SNAT --to-source 198.18.1.1`,
        "COMMIT",
        "",
      ].join("\n"),
    );
  });

  it("local NAT accepts the translated port in INPUT; FORWARD_ALL and MASQUERADE drop the ports", async () => {
    calls.length = 0;
    await fw.grant([grant({ ...nat, kind: "local", snat: null, toAddress: "198.18.0.1" })]);
    await fw.grant([grant({ ...nat, forwardAll: true, snat: "masquerade" })]);
    assert.deepEqual(
      calls.map((c) => c.input?.split("\n").filter((l) => l.startsWith("-A"))),
      [
        [
          `-A FWKNOP_INPUT -p 6 -s 198.18.0.2 -d 0.0.0.0/0 --dport 22 ${exp} -j ACCEPT`,
          `-A FWKNOP_PREROUTING -p 6 -s 198.18.0.2 -d 0.0.0.0/0 --dport 2222 ${exp} -j DNAT --to-destination 198.18.0.1:22`,
        ],
        [
          `-A FWKNOP_FORWARD -s 198.18.0.2 ${exp} -j ACCEPT`,
          `-A FWKNOP_PREROUTING -s 198.18.0.2 -d 0.0.0.0/0 ${exp} -j DNAT --to-destination 198.18.1.2`,
          `-A FWKNOP_MASQUERADE -s 198.18.0.2 ${exp} -j MASQUERADE`,
        ],
      ],
    );
  });

  it("revokes a grant's rules in one iptables-restore, rule by rule if that fails", async () => {
    calls.length = 0;
    await fw.revoke([grant({ ...nat, snat: null })]);
    assert.equal(calls.length, 1);
    assert.deepEqual(
      calls[0]?.input?.split("\n").filter((l) => l.startsWith("-D")),
      [
        `-D FWKNOP_FORWARD -p 6 -s 198.18.0.2 --dport 22 ${exp} -j ACCEPT`,
        `-D FWKNOP_PREROUTING -p 6 -s 198.18.0.2 -d 0.0.0.0/0 --dport 2222 ${exp} -j DNAT --to-destination 198.18.1.2:22`,
      ],
    );
    calls.length = 0;
    failRestore.on = true;
    await fw.revoke([grant({ ...nat, snat: null })]);
    failRestore.on = false;
    assert.deepEqual(
      calls.map((c) => c.argv.slice(1, 6).join(" ")),
      ["-w --noflush", "-w -t filter -D FWKNOP_FORWARD", "-w -t nat -D FWKNOP_PREROUTING"],
    );
  });

  it("revokes a leftover by the text it was listed with", async () => {
    const left = parseLeftover(
      '-A FWKNOP_PREROUTING -s 198.18.0.2/32 -p tcp -m tcp --dport 2222 -m comment --comment "_exp_1800000030" -j DNAT --to-destination 198.18.1.2:22',
      chain("DNAT", "nat", "PREROUTING", "FWKNOP_PREROUTING"),
      4,
    );
    assert.ok(left !== null);
    assert.equal(left.expiresAt, 1800000030);
    calls.length = 0;
    await fw.revoke([left]);
    assert.deepEqual(calls[0]?.argv, [
      "/usr/sbin/iptables",
      "-w",
      ...["-t", "nat", "-D", "FWKNOP_PREROUTING", "-s", "198.18.0.2/32", "-p", "tcp", "-m", "tcp"],
      ...["--dport", "2222", "-m", "comment", "--comment", "_exp_1800000030", "-j", "DNAT"],
      ...["--to-destination", "198.18.1.2:22"],
    ]);
  });
});

describe("iptables backend: ENABLE_DESTINATION_RULE", () => {
  it("reads a rule's -d back, so a grant to one address of the host is not another's", () => {
    const line = (d: string): string =>
      `-A FWKNOP_INPUT -s 198.18.0.2/32 ${d}-p tcp -m tcp --dport 22 -m comment --comment _exp_1700000030 -j ACCEPT`;
    const to = parseRuleLine(line("-d 198.18.0.11/32 "), 4);
    const any = parseRuleLine(line(""), 4);
    assert.ok(to !== null && any !== null);
    assert.equal(to.destination, "198.18.0.11");
    assert.equal(any.destination, null);
    assert.notEqual(grantKey(to), grantKey(any));
    assert.equal(parseRuleLine(line("-d 0.0.0.0/0 "), 4)?.destination, null);
  });
});

describe("firewalld backend: D-Bus first, firewall-cmd when the bus cannot be reached", () => {
  const options = (dbus: boolean) => ({
    kind: "firewalld" as const,
    exe: ["/usr/bin/firewall-cmd"],
    ip6exe: null,
    input: chain("ACCEPT", "filter", "INPUT", "FWKNOP_INPUT"),
    nat: null,
    prepend: false,
    ipv6: false,
    dbus,
  });

  it("falls back for good, runs C's firewall-cmd argv, and says why", async () => {
    const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS;
    process.env.DBUS_SYSTEM_BUS_ADDRESS = "unix:path=/nonexistent/fwkts-test-bus";
    try {
      const { exec, calls } = recorder();
      const fw = new IptablesBackend(options(true), exec);
      const before = fw.detail;
      await fw.init(false);
      assert.equal(before, "passthrough over D-Bus");
      assert.match(
        fw.detail ?? "",
        /^passthrough through \/usr\/bin\/firewall-cmd \(not D-Bus: D-Bus: \/nonexistent\/fwkts-test-bus: .*ENOENT/,
      );
      assert.deepEqual(calls[0]?.argv, [
        "/usr/bin/firewall-cmd",
        "--direct",
        "--passthrough",
        "ipv4",
        "-t",
        "filter",
        "-L",
        "FWKNOP_INPUT",
        "-n",
      ]);
      await fw.close();
    } finally {
      if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
      else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved;
    }
  });

  it("FIREWD_USE_DBUS N never touches the bus", async () => {
    const { exec, calls } = recorder();
    const fw = new IptablesBackend(options(false), exec);
    await fw.init(false);
    assert.equal(
      fw.detail,
      "passthrough through /usr/bin/firewall-cmd (not D-Bus: FIREWD_USE_DBUS is N)",
    );
    assert.ok(calls.length > 0);
    assert.ok(calls.every((c) => c.argv[0] === "/usr/bin/firewall-cmd"));
  });
});
