/**
 * fwknopd's logs as a machine reads them, through the real code path:
 * - syslog: in a private mount namespace (ns-holder.ts) /dev/log is a datagram socket of a test
 *   receiver (an overlay on /dev keeps the host's /dev untouched: this host has no /dev/log to
 *   bind over), and fwknopd -f --syslog-enable with SYSLOG_IDENTITY/SYSLOG_FACILITY runs there;
 *   each datagram's <PRI> must be the facility and C's level for its event, with our ident and PID;
 * - LOG_FORMAT json: every stderr line is an object; a grant has its fields, a bad HMAC its reason;
 * - nftables: the kernel ends the set element, and the daemon logs the expiry within 2 s of it;
 * - $JOURNAL_STREAM: stderr lines get sd-daemon's <N> only when stderr is that stream.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { keyArgs, knock } from "./knock.js";
import { NsHolder } from "./ns-holder.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const home = mkdtempSync(join(tmpdir(), "fwknopd-logs-home-"));
after(() => {
  rmSync(home, { recursive: true, force: true });
});
const b64 = (n: number): string => randomBytes(n).toString("base64");

/** Our nftables table protecting tcp/1234, the UDP server; `extra` lines appended. */
const conf = (extra: string): string =>
  `ENABLE_UDP_SERVER Y;\nFIREWALL_TYPE nftables;\nNFT_PROTECT_PORTS Y;\n${extra}\n`;
const access = (key: string, hmacKey: string, source = "198.18.0.2"): string =>
  [
    `SOURCE ${source}`,
    "OPEN_PORTS tcp/1234",
    "REQUIRE_USERNAME alice",
    "FW_ACCESS_TIMEOUT 3",
    `KEY_BASE64 ${key}`,
    `HMAC_KEY_BASE64 ${hmacKey}`,
    "",
  ].join("\n");
const clientArgs = (key: string, hmacKey: string): string[] => [
  ...["-A", "tcp/1234", "-a", CLIENT_IP, "-U", "alice", "-D", SERVER_IP],
  ...keyArgs(key, hmacKey),
];

/** Save a packet with our client (-T -B) and return its wire text. */
async function savedPacket(rig: Rig, args: string[]): Promise<string> {
  const pkt = join(home, `pkt-${b64(6).replace(/\W/g, "")}`);
  await knock(rig, "ts", [...args, "-T", "-B", pkt], home);
  return readFileSync(pkt, "latin1").trimEnd();
}

/** Binds /dev/log (in the holder's mount namespace), prints each datagram on a line. */
const RECEIVER = `
import os, socket, sys
p = "/dev/log"
try:
    os.unlink(p)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(p)
os.chmod(p, 0o666)
print("ready", flush=True)
while True:
    d = s.recv(65536)
    sys.stdout.write(d.decode("utf-8", "replace").replace("\\n", " ") + "\\n")
    sys.stdout.flush()
`;

/** logger(1) to a local socket: RFC 3164 without the host name. */
const DATAGRAM = /^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+)\[(\d+)\]: (.*)$/;

interface Datagram {
  pri: number;
  tag: string;
  pid: number;
  msg: string;
}

describe("syslog: each line's severity, SYSLOG_IDENTITY and SYSLOG_FACILITY", () => {
  let rig: Rig;
  let holder: NsHolder;
  let d: TsFwknopd;
  let received = "";
  const key = b64(32);
  const hmacKey = b64(64);

  before(async () => {
    rig = await createRig();
    await rig.startService(1234);
    holder = await NsHolder.start(rig.serverNs);
    await holder.mountRunTmpfs();
    mkdirSync(`${holder.root}/run/fwkts-dev/up`, { recursive: true });
    mkdirSync(`${holder.root}/run/fwkts-dev/work`, { recursive: true });
    await holder.must([
      "mount",
      "-t",
      "overlay",
      "fwkts-dev",
      "-o",
      "lowerdir=/dev,upperdir=/run/fwkts-dev/up,workdir=/run/fwkts-dev/work",
      "/dev",
    ]);
    const recv = holder.spawn(["/usr/bin/python3", "-c", RECEIVER]);
    recv.stdout?.on("data", (c: Buffer) => (received += c.toString("utf8")));
    assert.ok(await waitFor(() => received.startsWith("ready"), 5000), "receiver not ready");
    d = new TsFwknopd(
      rig,
      // LOG_LOCAL3 = 19: info <158>, warning <156>, err <155>.
      conf(
        "SYSLOG_IDENTITY spa-gw;\nSYSLOG_FACILITY LOG_LOCAL3;\nENABLE_PCAP_ANY_DIRECTION Y;\nNO_SUCH_VARIABLE 1;",
      ),
      access(key, hmacKey),
      (argv) => [...holder.prefix(), ...argv],
    );
    await d.start(["--syslog-enable"]);
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await holder.stop();
    await rig.teardown();
  });

  const datagrams = (): Datagram[] =>
    received
      .split("\n")
      .slice(1)
      .filter((l) => l !== "")
      .map((l) => {
        const m = DATAGRAM.exec(l);
        assert.ok(m !== null, `not a logger(1) datagram: ${l}`);
        return { pri: Number(m[1]), tag: m[2] ?? "", pid: Number(m[3]), msg: m[4] ?? "" };
      });
  const priOf = async (re: RegExp): Promise<number | null> => {
    await waitFor(() => datagrams().some((g) => re.test(g.msg)), 5000);
    return datagrams().find((g) => re.test(g.msg))?.pri ?? null;
  };

  it("start, configuration warnings, a grant, refusals: C's levels, our ident and PID", async () => {
    assert.equal(await priOf(/^Starting fwknopd/), 158);
    // config_init.c: an unknown variable at LOG_ERR; ours (a variable C never reads) at warning.
    assert.equal(await priOf(/Ignoring unknown configuration parameter: 'NO_SUCH_VARIABLE'/), 155);
    assert.equal(await priOf(/ENABLE_PCAP_ANY_DIRECTION is accepted but has no effect/), 156);

    const wire = await savedPacket(rig, clientArgs(key, hmacKey));
    await rig.sendUdp(SERVER_IP, 62201, wire);
    assert.equal(await priOf(/Added access for user 'alice' \(stanza #1\)/), 158);
    // replay_cache.c: LOG_WARNING.
    await rig.sendUdp(SERVER_IP, 62201, wire);
    assert.equal(await priOf(/Replay detected from source IP: 198\.18\.0\.2/), 156);
    // incoming_spa.c: "Non-corresponding HMAC for this stanza" at LOG_INFO.
    await rig.sendUdp(SERVER_IP, 62201, await savedPacket(rig, clientArgs(key, b64(64))));
    assert.equal(await priOf(/Non-corresponding HMAC for this stanza/), 158);

    const all = datagrams();
    assert.ok(all.length >= 6, received);
    assert.deepEqual([...new Set(all.map((g) => g.tag))], ["spa-gw"]);
    // C's openlog(LOG_PID): the daemon's PID, not the logger program's.
    const pids = [...new Set(all.map((g) => g.pid))];
    assert.equal(pids.length, 1);
    assert.match(readFileSync(`/proc/${String(pids[0])}/cmdline`, "latin1"), /fwknopd/);
    // Still on stderr too (-f), as text.
    assert.match(d.logs(), /^Added access for user 'alice'/m);
  });

  it("the stop line reaches syslog before the daemon exits", async () => {
    await d.stop();
    assert.equal(await priOf(/^Shutting Down fwknopd \(SIGTERM\)\.$/), 158);
  });
});

describe("LOG_FORMAT json, and the expiry line on nftables", () => {
  let rig: Rig;
  let d: TsFwknopd;
  const key = b64(32);
  const hmacKey = b64(64);

  before(async () => {
    rig = await createRig();
    await rig.startService(1234);
    d = new TsFwknopd(rig, conf("LOG_FORMAT json;"), access(key, hmacKey));
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  type Line = Record<string, unknown>;
  const lines = (): Line[] =>
    d
      .logs()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => {
        try {
          return JSON.parse(l) as Line;
        } catch {
          assert.fail(`not a JSON line: ${l}`);
        }
      });
  const find = async (pred: (l: Line) => boolean, ms = 5000): Promise<Line> => {
    await waitFor(() => lines().some(pred), ms);
    const l = lines().find(pred);
    assert.ok(l !== undefined, d.logs());
    return l;
  };

  it("a grant with its fields; a bad HMAC with its reason; the kernel's expiry logged on time", async () => {
    await knock(rig, "ts", clientArgs(key, hmacKey), home);
    const grant = await find((l) => l.event === "grant_added");
    assert.equal(grant.level, "info");
    assert.equal(grant.user, "alice");
    assert.equal(grant.src, CLIENT_IP);
    assert.equal(grant.proto, "tcp");
    assert.equal(grant.port, 1234);
    assert.equal(grant.stanza, 1);
    assert.equal(typeof grant.expires, "number");
    assert.match(String(grant.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(
      String(grant.msg),
      /^Added access for user 'alice' \(stanza #1\) from 198\.18\.0\.2/,
    );
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 3000, 20), "not opened");

    await knock(rig, "ts", clientArgs(key, b64(64)), home);
    const bad = await find((l) => l.event === "spa_rejected");
    assert.equal(bad.reason, "hmac_mismatch");
    assert.equal(bad.level, "info");
    assert.equal(bad.src, CLIENT_IP);
    assert.match(String(bad.msg), /Non-corresponding HMAC for this stanza/);

    // FW_ACCESS_TIMEOUT 3: the set element's timeout ends it; the daemon's timer logs it.
    const expired = await find((l) => l.event === "grant_expired", 8000);
    const expires = Number(grant.expires);
    assert.equal(expired.expires, expires);
    assert.equal(expired.src, CLIENT_IP);
    const late = Date.parse(String(expired.ts)) - expires * 1000;
    assert.ok(late >= 0 && late < 2000, `logged ${String(late)} ms after the expiry time`);
    assert.match(
      String(expired.msg),
      /^Removed expired access for 198\.18\.0\.2 tcp\/1234 \(stanza #1, user 'alice'\) with expire time of \d+ \(removed by nftables itself\)$/,
    );
    assert.equal(await rig.tcpConnect(SERVER_IP, 1234, 300), false, "still open after expiry");
  });

  it("every line is one JSON object, from the start to the stop", async () => {
    await d.stop();
    const all = lines();
    assert.ok(all.length >= 5, d.logs());
    for (const l of all) {
      assert.equal(typeof l.ts, "string");
      assert.match(String(l.level), /^(err|warning|notice|info|debug)$/);
      assert.equal(typeof l.event, "string");
      assert.equal(typeof l.msg, "string");
    }
    assert.deepEqual(
      ["start", "listening", "grant_added", "stop"].filter((e) => !all.some((l) => l.event === e)),
      [],
    );
    assert.equal(all.find((l) => l.event === "stop")?.reason, "SIGTERM");
    // FLUSH_IPT_AT_EXIT (Y): after the stop line, the flush.
    assert.equal(all.at(-1)?.event, "firewall_flushed");
  });
});

describe("$JOURNAL_STREAM: sd-daemon priority prefixes on stderr", () => {
  let rig: Rig;
  const dir = mkdtempSync(join(tmpdir(), "fwknopd-journal-"));
  before(async () => {
    rig = await createRig();
  });
  after(async () => {
    await rig.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  /** fwknopd -f -t with stderr on a file, JOURNAL_STREAM naming that file or another inode. */
  async function run(matching: boolean): Promise<string> {
    const d = new TsFwknopd(
      rig,
      conf("UDPSERV_PORT 62299;"),
      access(b64(32), b64(64), "198.18.0.99"),
    );
    const out = join(dir, matching ? "matching" : "other");
    const fd = openSync(out, "w");
    const st = fstatSync(fd, { bigint: true });
    const ino = matching ? st.ino : st.ino + 1n;
    const child = spawn("ip", ["netns", "exec", rig.serverNs, ...d.argv(["-f", "-t"])], {
      stdio: ["ignore", "ignore", fd],
      env: { ...process.env, JOURNAL_STREAM: `${String(st.dev)}:${String(ino)}` },
    });
    rig.track(child);
    closeSync(fd);
    try {
      const text = (): string => readFileSync(out, "utf8");
      assert.ok(await waitFor(() => text().includes("Listening: UDP server"), 10_000), text());
      // SPA-sized base64 from an address no stanza serves: C's LOG_WARNING.
      await rig.sendUdp(SERVER_IP, 62299, "A".repeat(200));
      assert.ok(await waitFor(() => text().includes("No access data found"), 5000), text());
      child.kill("SIGTERM");
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, 8000);
      return text();
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      d.cleanup();
    }
  }

  it("stderr is the journal's stream: every line starts with its severity", async () => {
    const text = await run(true);
    const all = text.split("\n").filter((l) => l !== "");
    for (const l of all) assert.match(l, /^<[3-7]>/);
    assert.match(text, /^<6>Starting fwknopd/m);
    assert.match(text, /^<4>No access data found for source IP: 198\.18\.0\.2$/m);
    assert.match(text, /^<6>Shutting Down fwknopd \(SIGTERM\)\.$/m);
  });

  it("JOURNAL_STREAM names another stream: no prefixes", async () => {
    const text = await run(false);
    assert.match(text, /^Starting fwknopd/m);
    assert.match(text, /^No access data found for source IP: 198\.18\.0\.2$/m);
    assert.doesNotMatch(text, /^</m);
  });
});

describe("fwknopd -v: junk refused before any stanza names its source", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig();
    // -t: no firewall is touched; the stanza is for another network, so nothing here matches it.
    d = new TsFwknopd(
      rig,
      "ENABLE_UDP_SERVER Y;\nENABLE_SPA_OVER_HTTP Y;\nLOG_FORMAT json;",
      `SOURCE 10.0.0.0/8\nKEY_BASE64 ${b64(32)}\nHMAC_KEY_BASE64 ${b64(64)}\n`,
    );
    await d.start(["-t", "-v"]);
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("too small, too large, salted, not base64, HTTP, no stanza: each line says [198.18.0.2]", async () => {
    const http = `GET /${"A".repeat(150)} HTTP/1.1\r\nUser-Agent: curl\r\n\r\n`;
    const sends: Array<[string, string, RegExp]> = [
      ["x".repeat(18), "debug", /^\[198\.18\.0\.2\] payload of 18 bytes$/],
      ["A".repeat(1600), "debug", /^\[198\.18\.0\.2\] payload of 1\d{3} bytes$/],
      [`U2FsdGVkX1${"A".repeat(200)}`, "debug", /^\[198\.18\.0\.2\] data starts with the Rijndael/],
      ["!".repeat(200), "debug", /^\[198\.18\.0\.2\] Data is not a valid SPA message format$/],
      // C: a preprocess error (LOG_DEBUG); it was an info line for every such packet.
      [http, "debug", /^\[198\.18\.0\.2\] HTTP request without a 'User-Agent: Fwknop' header$/],
      ["A".repeat(200), "warning", /^No access data found for source IP: 198\.18\.0\.2$/],
    ];
    const lines = (): Array<Record<string, unknown>> =>
      d
        .logs()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const [payload, level, re] of sends) {
      await rig.sendUdp(SERVER_IP, 62201, payload);
      const seen = await waitFor(() => lines().some((l) => re.test(String(l.msg))), 5000);
      assert.ok(seen, `${String(re)} not in:\n${d.logs()}`);
      const l = lines().find((x) => re.test(String(x.msg)));
      assert.equal(l?.level, level, JSON.stringify(l));
    }
  });
});
