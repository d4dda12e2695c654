/**
 * The daemon's parts one at a time, with fakes for the firewall, the clock and the resolver:
 * the status file's throttle, the replay guard, the grant lifecycle, NAT names, the actions
 * (real programs through src/exec.ts), and the background child's node flags.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Actions } from "../../src/server/actions/actions.js";
import { runCommand } from "../../src/server/actions/run-command.js";
import { StatusFile, type StatusGrant } from "../../src/server/daemon/status-file.js";
import { ReplayGuard } from "../../src/server/daemon/replay-guard.js";
import type { FirewallBackend, Grant } from "../../src/server/firewall/types.js";
import { GrantLifecycle } from "../../src/server/grants/lifecycle.js";
import { describeNat, resolveNatNames } from "../../src/server/grants/nat-names.js";
import { DAEMON_NODE_FLAGS, daemonExecArgv } from "../../src/server/node-flags.js";
import type { ServedStanza } from "../../src/server/pipeline/served-stanza.js";
import type { CommandDecision, CycleDecision, Granted } from "../../src/server/pipeline/types.js";
import { cycleVars, pipelineStanza } from "../fixtures/pipeline.js";

const dir = mkdtempSync(join(tmpdir(), "fwknopd-parts-"));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const NOW = 1_800_000_000;

describe("status file", () => {
  it("writes at once, then at most once per 100 ms by the injected clock", async () => {
    const path = join(dir, "status.json");
    let ms = 5_000;
    let writes = 0;
    const grants: StatusGrant[] = [];
    const st = new StatusFile({
      path: () => path,
      nowSecs: () => NOW,
      nowMs: () => ms,
      grants: () => {
        writes++;
        return grants;
      },
    });
    st.changed();
    assert.equal(writes, 1, "the first change is written at once");
    grants.push({
      user: "alice",
      address: "198.18.0.2",
      proto: "tcp",
      port: 22,
      stanza: 1,
      expiresAt: NOW + 30,
    });
    ms += 10;
    st.changed();
    st.changed();
    assert.equal(writes, 1, "within 100 ms: deferred, once");
    await sleep(150);
    assert.equal(writes, 2);
    const body = JSON.parse(readFileSync(path, "utf8")) as {
      pid: number;
      written: number;
      grants: StatusGrant[];
    };
    assert.deepEqual(body, { pid: process.pid, written: NOW, grants });
    ms += 1_000;
    st.changed();
    assert.equal(writes, 3, "over 100 ms later: at once again");
    st.stop();
  });
});

describe("replay guard", () => {
  it("is off with ENABLE_DIGEST_PERSISTENCE N, and says so", async () => {
    const lines: string[] = [];
    const g = new ReplayGuard({ nowSecs: () => NOW, log: (l) => lines.push(l) });
    g.open({
      replayProtection: false,
      digestFile: join(dir, "none"),
      packetAging: true,
      maxPacketAge: 120,
      digestCacheMaxEntries: 1000,
      digestSyncBeforeGrant: false,
    });
    assert.equal(g.enabled, false);
    await g.remember({ digest: "x", innerDigest: null }, meta);
    assert.equal(g.isSeen("x"), false);
    assert.match(lines.join("\n"), /replay detection is off/);
    await g.close();
  });

  it("remembers both digests, and holds a digest while its packet is decided", async () => {
    const file = join(dir, "digest.cache");
    const g = new ReplayGuard({ nowSecs: () => NOW, log: () => undefined });
    g.open({
      replayProtection: true,
      digestFile: file,
      packetAging: true,
      maxPacketAge: 120,
      digestCacheMaxEntries: 1000,
      digestSyncBeforeGrant: true,
    });
    assert.ok(g.enabled);
    await g.remember({ digest: "wire", innerDigest: "inner" }, meta);
    assert.ok(g.isSeen("wire") && g.isSeen("inner"));
    let release: () => void = () => undefined;
    const held = g.holdWhile("pending", new Promise<void>((r) => (release = r)));
    assert.ok(g.isSeen("pending"));
    release();
    await held;
    assert.equal(g.isSeen("pending"), false);
    await g.close();
    assert.match(readFileSync(file, "utf8"), /wire/);
  });
});

const meta = { proto: 17, srcIp: "198.18.0.2", srcPort: 4000, dstIp: "0.0.0.0", dstPort: 62201 };

describe("replay guard and the packet-age window", () => {
  const conf = (
    file: string,
    over: { packetAging?: boolean; maxPacketAge?: number; max?: number },
  ) => ({
    replayProtection: true,
    digestFile: join(dir, file),
    packetAging: over.packetAging ?? true,
    maxPacketAge: over.maxPacketAge ?? 5,
    digestSyncBeforeGrant: false,
    digestCacheMaxEntries: over.max ?? 1000,
  });

  it("on reload drops by the new window at once, and never brings a dropped packet back", async () => {
    let now = NOW;
    const lines: string[] = [];
    const g = new ReplayGuard({ nowSecs: () => now, log: (l) => lines.push(l) });
    g.open(conf("window.cache", { maxPacketAge: 5 }));
    await g.remember({ digest: "p", innerDigest: null, spaTime: NOW }, meta);
    now = NOW + 70;
    g.reconfigure(conf("window.cache", { maxPacketAge: 600 }));
    assert.equal(g.isSeen("p"), true, "a raised MAX_SPA_PACKET_AGE stops dropping at once");
    g.reconfigure(conf("window.cache", { maxPacketAge: 5 }));
    assert.equal(g.isSeen("p"), false, "a lowered one drops at once");
    assert.equal(g.forgottenBefore(), NOW + 1);
    g.reconfigure(conf("window.cache", { packetAging: false }));
    assert.equal(g.forgottenBefore(), NOW + 1, "aging off: still refused by forgottenBefore");
    assert.match(
      lines.join("\n"),
      /packet aging is off, no digest is dropped; packets stamped before 1800000001 are refused/,
    );
    await g.close();
  });

  it("is full at DIGEST_CACHE_MAX_ENTRIES, says so once, and has room again after drops", async () => {
    let now = NOW;
    const lines: string[] = [];
    const g = new ReplayGuard({ nowSecs: () => now, log: (l) => lines.push(l) });
    g.open(conf("full.cache", { packetAging: false, max: 2 }));
    await g.remember({ digest: "a", innerDigest: null, spaTime: NOW }, meta);
    assert.equal(g.isFull(), false);
    await g.remember({ digest: "b", innerDigest: null, spaTime: NOW }, meta);
    await g.remember({ digest: "c", innerDigest: null, spaTime: NOW }, meta);
    assert.equal(g.isFull(), true);
    assert.equal(lines.filter((l) => /Digest cache is full: 2 digests/.test(l)).length, 1);
    now = NOW + 100;
    g.reconfigure(conf("full.cache", { packetAging: false, max: 2 }));
    assert.equal(g.isFull(), true, "aging off: nothing is dropped to make room");
    g.reconfigure(conf("full.cache", { maxPacketAge: 30, max: 2 }));
    assert.equal(g.isFull(), false);
    assert.match(lines.join("\n"), /Digest cache has room again: 0 digests/);
    await g.close();
  });
});

class FakeFirewall implements FirewallBackend {
  readonly name = "nftables" as const;
  readonly expiresItself = false;
  readonly calls: string[] = [];
  constructor(
    private readonly found: Grant[] = [],
    readonly noNat?: string,
  ) {}
  init(flush: boolean): Promise<void> {
    this.calls.push(`init ${flush}`);
    return Promise.resolve();
  }
  grant(grants: readonly Grant[]): Promise<void> {
    this.calls.push(`grant ${grants.map((g) => `${g.address}:${g.port}`).join(",")}`);
    return Promise.resolve();
  }
  revoke(grants: readonly Grant[]): Promise<void> {
    this.calls.push(`revoke ${grants.map((g) => `${g.address}:${g.port}`).join(",")}`);
    return Promise.resolve();
  }
  list(): Promise<Grant[]> {
    return Promise.resolve(this.found);
  }
  listText(): Promise<string> {
    return Promise.resolve("");
  }
  flush(): Promise<void> {
    this.calls.push("flush");
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.calls.push("close");
    return Promise.resolve();
  }
}

function grant(address: string, port: number, expiresAt: number, over: Partial<Grant> = {}): Grant {
  return {
    stanza: 1,
    user: "alice",
    address,
    family: 4,
    proto: "tcp",
    port,
    expiresAt,
    destination: null,
    ...over,
  };
}

function granted(grants: Grant[]): Granted {
  return {
    kind: "grant",
    stanza: 1,
    user: "alice",
    digest: "d",
    innerDigest: null,
    spaTime: NOW,
    grants,
    timeout: 30,
  };
}

describe("grant lifecycle", () => {
  const startCfg = {
    flushAtInit: false,
    firewallReason: "configured",
    nat: { forwarding: true, localNat: false, snat: false, snatTranslateIp: null, natDns: true },
  };

  it("reconciles leftovers at start, opens and logs grants, flushes and closes at stop", async () => {
    const fw = new FakeFirewall([grant("10.0.0.1", 22, NOW - 5), grant("10.0.0.2", 22, NOW + 60)]);
    const lines: string[] = [];
    const lc = new GrantLifecycle(fw, {
      nowSecs: () => NOW,
      log: (l) => lines.push(l),
      event: (level, event, _f, text) => lines.push(`${level} ${event}: ${text}`),
    });
    await lc.start(startCfg);
    assert.deepEqual(fw.calls, ["init false", "revoke 10.0.0.1:22"]);
    assert.match(
      lines.join("\n"),
      /Reconciled firewall: 1 live grant\(s\) kept, 1 expired removed/,
    );
    assert.match(lines.join("\n"), /Firewall backend: nftables \(configured\)/);
    assert.equal(lc.noNat, null);
    assert.ok(await lc.open(granted([grant("198.18.0.2", 22, NOW + 30)]), "198.18.0.2"));
    assert.match(
      lines.join("\n"),
      /info grant_added: Added access for user 'alice' \(stanza #1\) from 198\.18\.0\.2 to tcp\/22 via nftables, expires at 1800000030 \(30 s\)/,
    );
    assert.deepEqual(
      lc.list().map((g) => g.address),
      ["198.18.0.2", "10.0.0.2"],
    );
    await lc.stop(true);
    assert.deepEqual(fw.calls.slice(-2), ["flush", "close"]);
    // Each live grant the flush removed has its line, soonest expiry first.
    assert.deepEqual(
      lines.filter((l) => l.includes("grant_revoked")),
      [
        "info grant_revoked: Removed access for 198.18.0.2 tcp/22 (stanza #1, user 'alice') with expire time of 1800000030: flushed at exit",
        "info grant_revoked: Removed access for 10.0.0.2 tcp/22 (stanza #1, user 'alice') with expire time of 1800000060: flushed at exit",
      ],
    );
  });

  it("takes the firewall's NAT refusal, and warns when NAT is switched on", async () => {
    const lines: string[] = [];
    const lc = new GrantLifecycle(new FakeFirewall([], "rich rules"), {
      nowSecs: () => NOW,
      log: (l) => lines.push(l),
      event: (_l, _e, _f, text) => lines.push(text),
    });
    await lc.start({ ...startCfg, flushAtInit: true });
    assert.equal(lc.noNat, "rich rules");
    assert.match(lines.join("\n"), /NAT requests cannot be honoured: rich rules/);
    assert.match(lines.join("\n"), /\(flushed at init\)/);
    await lc.stop(false);
  });

  it("resolves NAT host names off the packet path; an unknown name opens nothing", async () => {
    const nat = {
      kind: "forward",
      toAddress: "inner.example",
      toPort: 22,
      dnat: true,
      forwardAll: false,
      snat: null,
    } as const;
    const lines: string[] = [];
    const lookup = (host: string): Promise<{ address: string }> =>
      host === "inner.example"
        ? Promise.resolve({ address: "10.0.0.5" })
        : Promise.reject(new Error("ENOTFOUND"));
    const ok = await resolveNatNames(
      [grant("198.18.0.2", 2222, NOW, { nat })],
      "198.18.0.2",
      (l) => lines.push(l),
      lookup,
    );
    const first = ok?.[0];
    assert.ok(first !== undefined);
    assert.equal(first.nat?.toAddress, "10.0.0.5");
    assert.equal(describeNat(first), " (DNAT to 10.0.0.5:22)");
    const bad = await resolveNatNames(
      [grant("198.18.0.2", 2222, NOW, { nat: { ...nat, toAddress: "nowhere.example" } })],
      "198.18.0.2",
      (l) => lines.push(l),
      lookup,
    );
    assert.equal(bad, null);
    assert.match(lines.join("\n"), /Resolved NAT IP in SPA message: inner\.example -> 10\.0\.0\.5/);
    assert.match(
      lines.join("\n"),
      /Unable to resolve Hostname in NAT SPA message: nowhere\.example/,
    );
  });
});

describe("actions", () => {
  const stanzas: ServedStanza[] = [
    pipelineStanza(1, { mode: "cbc", key: Buffer.alloc(16, 1), hmac: null }),
  ];
  const make = (lines: string[], sudoExe = "/usr/bin/sudo"): Actions =>
    new Actions(join(dir, "cycles.json"), {
      nowSecs: () => Math.floor(Date.now() / 1000),
      log: (l, level) => lines.push(`${level}: ${l}`),
      config: () => ({ stanzas, commands: { timeoutMs: 2000, sudoExe } }),
    });

  it("runs a command message without a shell and logs its exit status", async () => {
    const lines: string[] = [];
    const out = join(dir, "touched");
    const d: CommandDecision = {
      kind: "command",
      stanza: 1,
      user: "alice",
      digest: "d",
      innerDigest: null,
      spaTime: NOW,
      command: `/usr/bin/touch '${out}'`,
      ruleIp: "198.18.0.2",
    };
    await make(lines).run(d);
    assert.match(
      lines.join("\n"),
      /info: SPA command for user 'alice' \(stanza #1\): \/usr\/bin\/touch .*touched -> exit status 0/,
    );
    assert.equal(readFileSync(out, "utf8"), "");
  });

  it("a cycle runs its open with the variables substituted and schedules its close", async () => {
    const lines: string[] = [];
    const a = make(lines);
    const d: CycleDecision = {
      kind: "cycle",
      stanza: 1,
      user: "alice",
      digest: "d",
      innerDigest: null,
      spaTime: NOW,
      open: "/bin/sh -c 'exit 3' $IP",
      close: "/bin/true $PORT",
      closeAfter: 0,
      vars: cycleVars,
    };
    await a.run(d);
    assert.match(
      lines.join("\n"),
      /warning: CMD_CYCLE_OPEN for user 'alice' \(stanza #1\): \/bin\/sh -c exit 3 198\.18\.0\.2 -> exit status 3/,
    );
    await sleep(300);
    assert.match(
      lines.join("\n"),
      /info: CMD_CYCLE_CLOSE for user 'alice' \(stanza #1\): \/bin\/true 22 -> exit status 0/,
    );
    a.stop();
  });

  it("refuses unbalanced text and unknown stanzas, and a pending close survives a restart", () => {
    const lines: string[] = [];
    writeFileSync(
      join(dir, "cycles.json"),
      JSON.stringify([{ at: 0, stanza: 1, user: "bob", argv: ["/bin/true"] }]),
    );
    const a = make(lines);
    assert.equal(a.load(), 1);
    a.stop();
    void a.run({
      kind: "command",
      stanza: 1,
      user: "alice",
      digest: "d",
      innerDigest: null,
      spaTime: NOW,
      command: "echo 'oops",
      ruleIp: "1.2.3.4",
    });
    assert.match(
      lines.join("\n"),
      /err: \(stanza #1\) cannot run 'echo 'oops': unbalanced quotes or more than 30 arguments/,
    );
  });

  it("runCommand: timeouts kill, a missing program says why (src/exec.ts)", async () => {
    const slow = await runCommand(["/bin/sleep", "5"], { timeoutMs: 100, runAs: null });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.code, null);
    assert.equal(slow.signal, "SIGKILL");
    const missing = await runCommand(["/nonexistent/prog"], { timeoutMs: 1000, runAs: null });
    assert.equal(missing.code, null);
    assert.match(missing.stderr, /ENOENT/);
    const asRoot = await runCommand(["/usr/bin/id", "-u"], {
      timeoutMs: 1000,
      runAs: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
    });
    assert.equal(asRoot.code, 0);
  });
});

describe("the background child's node flags", () => {
  it("adds the daemon's flags unless the command line or NODE_OPTIONS set them", () => {
    assert.deepEqual(DAEMON_NODE_FLAGS, ["--max-semi-space-size=1"]);
    assert.deepEqual(daemonExecArgv([]), ["--max-semi-space-size=1"]);
    assert.deepEqual(daemonExecArgv(["--import", "tsx"], ""), [
      "--import",
      "tsx",
      "--max-semi-space-size=1",
    ]);
    assert.deepEqual(daemonExecArgv(["--max_semi_space_size=4"]), ["--max_semi_space_size=4"]);
    assert.deepEqual(daemonExecArgv([], "--jitless --max-semi-space-size=8"), []);
  });
});
