/**
 * fwknopd as a service (issue 13): a broken configuration in daemon mode fails at once with the
 * same file:line message as -f and leaves no process; --status, -K, -R and --fw-list work with
 * only the pid file when access.conf (or fwknopd.conf) is broken; SIGTERM in the middle of a burst
 * of grants loses no digest, so no granted packet can be replayed after a restart.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CLIENT_IP, REPO, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");
const key = b64(32);
const hmacKey = b64(64);
const goodAccess = `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 60\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`;
const goodConf = "ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE nftables;\n";

/** Processes whose command line mentions `needle` (our temporary directory): none may remain. */
function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "latin1").includes(needle))
        found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** End (by pid file) a daemon a test left running in the background. */
function killByPidFile(pidFile: string): void {
  const pid = Number(readFileSync(pidFile, { encoding: "utf8", flag: "a+" }).trim());
  if (pid > 0)
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
}

const BROKEN: readonly {
  name: string;
  conf?: string;
  access?: string;
  args?: (dir: string) => string[];
  error: RegExp;
}[] = [
  {
    name: "a placeholder key",
    access: "SOURCE ANY\nKEY_BASE64 __CHANGEME__\nHMAC_KEY_BASE64 __CHANGEME__\n",
    error: /access\.conf:2: KEY_BASE64 '<hidden>': replace __CHANGEME__ with a real key/,
  },
  {
    name: "a bad OPEN_PORTS",
    access: `SOURCE ANY\nOPEN_PORTS tcp/99999\nKEY_BASE64 ${key}\n`,
    error: /access\.conf:2: OPEN_PORTS/,
  },
  {
    name: "a stanza with no key",
    access: "SOURCE ANY\nOPEN_PORTS tcp/22\n",
    error: /access\.conf:1: /,
  },
  {
    name: "a missing access.conf",
    args: (dir) => ["-a", join(dir, "no-such-access.conf")],
    error: /no-such-access\.conf: cannot read .*ENOENT/,
  },
  {
    name: "a missing fwknopd.conf",
    args: (dir) => ["-c", join(dir, "no-such-fwknopd.conf")],
    error: /no-such-fwknopd\.conf: cannot read: ENOENT/,
  },
  {
    name: "a bad fwknopd.conf value",
    conf: `${goodConf}UDPSERV_PORT 99999999;\n`,
    error: /fwknopd\.conf:3: UDPSERV_PORT/,
  },
];

describe("fwknopd in daemon mode with a broken configuration", () => {
  let rig: Rig;
  before(async () => {
    rig = await createRig();
  });
  after(async () => {
    await rig.teardown();
  });

  for (const c of BROKEN)
    it(`${c.name}: exits non-zero in under 2 s with -f's file:line message, leaving no process`, async () => {
      const d = new TsFwknopd(rig, c.conf ?? goodConf, c.access ?? goodAccess);
      try {
        const extra = c.args?.(d.dir) ?? [];
        const fg = await rig.run(rig.serverNs, d.argv([...extra, "-f"]));
        const started = Date.now();
        const bg = await rig.run(rig.serverNs, d.argv(extra));
        const took = Date.now() - started;
        assert.notEqual(bg.code, 0, bg.stderr);
        assert.equal(bg.code, fg.code, "the same exit status as in the foreground");
        assert.ok(took < 2000, `took ${took} ms`);
        assert.match(bg.stderr, c.error);
        // The very line -f prints last (the error) is what the daemonising parent prints.
        const fgError = fg.stderr.trim().split("\n").pop() ?? "";
        assert.match(fgError, c.error);
        assert.equal(bg.stderr.trim(), fgError);
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(processesWith(d.dir), [], "a process of this start remains");
      } finally {
        d.cleanup();
      }
    });
});

describe("control commands need only the pid file", () => {
  let rig: Rig;
  let d: TsFwknopd;
  const home = mkdtempSync(join(tmpdir(), "fwknopd-svc-home-"));
  before(async () => {
    rig = await createRig({ servicePort: 1234 });
    await rig.defaultDeny("nftables", 1234);
    d = new TsFwknopd(rig, `${goodConf}NFT_JUMP_CHAIN inet admin input;\n`, goodAccess);
    const start = await rig.run(rig.serverNs, d.argv([]));
    assert.equal(start.code, 0, start.stderr);
    // The access.conf of a stock install: fwknopd started with a good one, then it was broken.
    writeFileSync(d.access, "SOURCE ANY\nKEY_BASE64 __CHANGEME__\n", { mode: 0o600 });
  });
  after(async () => {
    killByPidFile(join(d.run, "fwknopd.pid"));
    d.cleanup();
    await rig.teardown();
    rmSync(home, { recursive: true, force: true });
  });

  it("--status finds the daemon although access.conf no longer parses", async () => {
    const st = await d.command(["--status"]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /Detected fwknopd is running \(pid=\d+\)\./);
  });

  it("--fw-list lists with a warning naming access.conf's line", async () => {
    const r = await d.command(["--fw-list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /access\.conf:2: KEY_BASE64 .* \(going on without the access stanzas\)/);
  });

  it("-R says the reload will not take and the daemon goes on with its configuration", async () => {
    const r = await d.command(["-R"]);
    assert.match(r.stdout, /Sent restart signal to fwknopd \(pid=\d+\)/);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /access\.conf:2: KEY_BASE64.*\n.*keeps its configuration/);
    await new Promise((res) => setTimeout(res, 500));
    assert.equal((await d.command(["--status"])).code, 0, "the daemon died on a bad reload");
    // The keys it started with still open the port.
    const sent = await rig.run(
      rig.clientNs,
      [
        process.execPath,
        join(REPO, "bin", "fwknop"),
        "--no-save-args",
        ...["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP],
        ...["--key-base64-rijndael", key, "--key-base64-hmac", hmacKey, "--use-hmac"],
      ],
      { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home } },
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234), 3000), "not opened");
  });

  it("--status and -K still work when fwknopd.conf itself no longer parses", async () => {
    appendFileSync(d.conf, "UDPSERV_PORT not-a-port;\n");
    const st = await d.command(["--status"]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(
      st.stderr,
      /fwknopd\.conf:\d+: UDPSERV_PORT.*looking for fwknopd through .*fwknopd\.pid/,
    );
    const k = await d.command(["-K"]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /Killed fwknopd \(pid=\d+\)/);
    const st2 = await d.command(["--status"]);
    assert.equal(st2.code, 1);
    assert.match(st2.stdout, /No running fwknopd detected\./);
  });
});

describe("SIGTERM in the middle of a burst of grants", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig();
    d = new TsFwknopd(rig, goodConf, goodAccess);
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("loses no digest: no packet granted before the stop is granted again after a restart", async () => {
    const keys = {
      mode: "cbc" as const,
      key: Buffer.from(key, "base64"),
      hmac: { type: "sha256" as const, key: Buffer.from(hmacKey, "base64") },
    };
    const packets = Array.from({ length: 800 }, (_, i) =>
      freshSpaWire(keys, {
        username: `u${i}`,
        messageType: 1,
        message: `${CLIENT_IP},tcp/1234`,
      }),
    );
    const granted = (): string[] =>
      [...d.logs().matchAll(/Added access for user '(u\d+)'/g)].map((m) => m[1] ?? "");
    await d.start();
    // Paced over two seconds, so the stop lands in the middle of the burst.
    const sending = rig.sendUdpRate(SERVER_IP, 62201, packets, { rate: 400, seconds: 2 });
    assert.ok(await waitFor(() => granted().length >= 20, 10_000), d.logs());
    await d.stop("SIGTERM");
    await sending;
    const before = new Set(granted());
    assert.ok(before.size >= 20 && before.size < packets.length, `${before.size} granted`);

    await d.start();
    await rig.sendUdpMany(SERVER_IP, 62201, packets);
    // Each packet is answered once in the log: a grant or a refusal (replays among them).
    assert.ok(
      await waitFor(() => (d.logs().match(/Replay detected/g) ?? []).length >= before.size, 15_000),
      `${(d.logs().match(/Replay detected/g) ?? []).length} replays of ${before.size}`,
    );
    const again = granted().filter((u) => before.has(u));
    assert.deepEqual(again, [], "granted twice across a SIGTERM");
  });
});

describe("fwknopd killed with SIGKILL", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig();
    d = new TsFwknopd(rig, goodConf, goodAccess);
  });
  after(async () => {
    await d.stop("SIGKILL");
    d.cleanup();
    await rig.teardown();
  });

  it("takes its conntrack watcher (connection attribution) with it", async () => {
    await d.start();
    const pid = Number(readFileSync(join(d.run, "fwknopd.pid"), "utf8").trim());
    const watchers = (): number[] =>
      processesWith("0x40000000/0x40000000").filter((p) => {
        try {
          return (
            readFileSync(`/proc/${p}/stat`, "latin1").split(") ")[1]?.split(" ")[1] === String(pid)
          );
        } catch {
          return false;
        }
      });
    assert.ok(await waitFor(() => watchers().length === 1, 3000), `no conntrack child of ${pid}`);
    const [watcher] = watchers();
    await d.stop("SIGKILL");
    assert.ok(
      await waitFor(() => !existsSync(`/proc/${String(watcher)}`), 2000),
      `conntrack ${String(watcher)} outlived the daemon`,
    );
  });
});
