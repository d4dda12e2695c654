/**
 * Privilege separation (PRIVSEP, ours, on by default; issue 15). The process that reads packets
 * runs as nobody with no capabilities (read from /proc/<pid>/status); the root broker grants
 * only what a checked request asks. To act as an attacker who has taken the parser over, the
 * test preloads a module into it (node --require, which fwknopd passes on to the parser) that
 * sends forged requests down the parser's own pipe on SIGUSR2: each is refused, logged, and
 * leaves no trace in the firewall. A parser killed is started again with the grants kept; a
 * broker killed takes the parser with it.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const PORT = 1234;
const keys = { key: randomBytes(32), hmac: randomBytes(64) };
const ACCESS = [
  "SOURCE ANY",
  `OPEN_PORTS tcp/${PORT}`,
  "FW_ACCESS_TIMEOUT 20",
  `KEY_BASE64 ${keys.key.toString("base64")}`,
  `HMAC_KEY_BASE64 ${keys.hmac.toString("base64")}`,
  "",
].join("\n");
const wire = (): string =>
  freshSpaWire(
    { mode: "cbc", key: keys.key, hmac: { type: "sha256", key: keys.hmac } },
    { messageType: 1, message: `${CLIENT_IP},tcp/${PORT}` },
  );

/** What a taken-over parser might ask for; each entry: the request and the refusal expected. */
function forgeries(): Array<{ req: Record<string, unknown>; refused: RegExp }> {
  const now = Math.floor(Date.now() / 1000);
  const base = () => ({
    t: "grant",
    digest: randomBytes(32).toString("base64").slice(0, 43).replace(/=/g, "A"),
    innerDigest: null,
    spaTime: now,
    meta: { proto: 17, srcIp: CLIENT_IP, srcPort: 40000, dstIp: SERVER_IP, dstPort: 62201 },
    stanza: 1,
    user: "mallory",
    address: CLIENT_IP,
    ports: [{ proto: "tcp", port: PORT }],
    timeout: 10,
  });
  return [
    {
      req: { ...base(), address: "198.18.0.66", ports: [{ proto: "tcp", port: 22 }] },
      refused: /tcp\/22 not allowed by stanza #1's OPEN_PORTS/,
    },
    { req: { ...base(), address: "198.18.0.2; rm -rf /" }, refused: /not an IP address literal/ },
    { req: { ...base(), address: "999.18.0.67" }, refused: /not an IP address literal/ },
    {
      req: { ...base(), address: "198.18.0.68", timeout: 86_400 },
      refused: /timeout 86400 is over stanza #1's limit of 300 s/,
    },
    {
      req: { t: "command", stanza: 1, data: "id; cat /etc/shadow", meta: base().meta },
      refused: /does not open as a command message/,
    },
    {
      req: {
        ...base(),
        t: "cycle",
        address: "198.18.0.69",
        port: { proto: "tcp", port: PORT },
        seconds: 5,
      },
      refused: /no CMD_CYCLE_OPEN/,
    },
    { req: { t: "exec", argv: ["/bin/sh", "-c", "id"] }, refused: /unknown request 'exec'/ },
  ];
}

describe("privilege separation (PRIVSEP, the default)", () => {
  let rig: Rig;
  let d: TsFwknopd;
  const parserPids = (): number[] =>
    [...d.logs().matchAll(/Packet parser: pid (\d+) as nobody/g)].map((m) => Number(m[1]));
  const status = (pid: number): string => readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (st: string, name: string): string =>
    new RegExp(`^${name}:\\s*(.*)$`, "m").exec(st)?.[1]?.trim() ?? "";

  before(async () => {
    rig = await createRig({ protectedPort: PORT, deny: "debian-nftables" });
    await rig.startService(PORT);
    // The attacker's foothold: loaded into both processes, active only in the parser.
    const dir = rig.tempDir("privsep-forge-");
    chmodSync(dir, 0o755);
    const requests = join(dir, "requests.json");
    writeFileSync(requests, JSON.stringify(forgeries().map((f) => f.req)), { mode: 0o644 });
    const forge = join(dir, "forge.cjs");
    writeFileSync(
      forge,
      [
        "if (process.env.FWKNOPD_PARSER_RUN_AS !== undefined) {",
        "  process.on('SIGUSR2', () => {",
        // Not even objects: the broker must drop these and stay up (the tests after this use it).
        "    for (const junk of [null, 42, 'grant', [1, 2]]) process.send(junk);",
        `    for (const r of JSON.parse(require('node:fs').readFileSync(${JSON.stringify(requests)}, 'utf8'))) process.send(r);`,
        "  });",
        "}",
        "",
      ].join("\n"),
      { mode: 0o644 },
    );
    d = new TsFwknopd(rig, "ENABLE_UDP_SERVER Y;\n", ACCESS, null, ["--require", forge]);
    await d.start();
    assert.ok(await d.waitForLog(/Packet parser: pid \d+ as nobody/), d.logs());
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("reads packets as nobody with no capabilities; the broker stays root", () => {
    const [pid] = parserPids();
    assert.ok(pid !== undefined, d.logs());
    const st = status(pid);
    assert.equal(field(st, "CapEff"), "0000000000000000");
    assert.equal(field(st, "CapPrm"), "0000000000000000");
    assert.equal(field(st, "NoNewPrivs"), "1");
    const uids = field(st, "Uid").split(/\s+/).map(Number);
    assert.equal(uids.length, 4);
    assert.ok(
      uids.every((u) => u !== 0),
      field(st, "Uid"),
    );
    assert.equal(field(st, "PPid"), String(d.pid));
    assert.match(field(status(d.pid ?? 0), "Uid"), /^0\s/);
  });

  it("holds nothing of the broker's but stdout and stderr", () => {
    const [pid] = parserPids();
    assert.ok(pid !== undefined);
    const objects = (p: number): Map<string, string> => {
      const m = new Map<string, string>();
      for (const fd of readdirSync(`/proc/${p}/fd`)) {
        const target = readlinkSync(`/proc/${p}/fd/${fd}`);
        if (!target.startsWith("anon_inode:") && target !== "/dev/null") m.set(target, fd);
      }
      return m;
    };
    const broker = objects(d.pid ?? 0);
    const shared = [...objects(pid)].filter(([target, fd]) => broker.has(target) && Number(fd) > 2);
    assert.deepEqual(shared, [], "descriptors the parser shares with the broker");
  });

  it("grants through the broker", async () => {
    await rig.sendUdp(SERVER_IP, 62201, wire());
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, PORT, 200), 5000, 50), d.logs());
  });

  it("refuses and logs each forged request; the firewall never sees one", async () => {
    const [pid] = parserPids();
    assert.ok(pid !== undefined);
    process.kill(pid, "SIGUSR2");
    for (const f of forgeries())
      assert.ok(
        await d.waitForLog(
          new RegExp(
            `Refused a request \\(\\w+\\) from the packet parser \\(pid ${pid}\\): .*${f.refused.source}`,
          ),
        ),
        `${f.refused.source}\n${d.logs()}`,
      );
    const ruleset = await rig.must(rig.serverNs, ["nft", "list", "ruleset"]);
    for (const a of ["198.18.0.66", "198.18.0.67", "198.18.0.68", "198.18.0.69", "rm -rf"])
      assert.ok(!ruleset.includes(a), `${a} in the ruleset:\n${ruleset}`);
    assert.doesNotMatch(d.logs(), /Added access for user 'mallory'/);
  });

  it("a parser killed is started again; the grants stay", async () => {
    const [first] = parserPids();
    assert.ok(first !== undefined);
    process.kill(first, "SIGKILL");
    assert.ok(
      await d.waitForLog(new RegExp(`Packet parser \\(pid ${first}\\) ended: killed by SIGKILL`)),
      d.logs(),
    );
    assert.equal(await rig.tcpConnect(SERVER_IP, PORT, 500), true, "the grant survived the parser");
    assert.ok(await waitFor(() => parserPids().length === 2, 8000), d.logs());
    const second = parserPids()[1] ?? 0;
    assert.notEqual(second, first);
    assert.equal(field(status(second), "CapEff"), "0000000000000000");
    const grants = (): number => (d.logs().match(/Added access for user 'alice'/g) ?? []).length;
    const before = grants();
    await rig.sendUdp(SERVER_IP, 62201, wire());
    assert.ok(await waitFor(() => grants() > before, 5000), d.logs());
  });

  it("a broker killed takes its parser with it", async () => {
    const parser = parserPids().at(-1) ?? 0;
    assert.ok(existsSync(`/proc/${parser}`));
    await d.stop("SIGKILL");
    assert.ok(
      await waitFor(() => !existsSync(`/proc/${parser}`), 3000),
      "the parser outlived the broker",
    );
  });
});

describe("PRIVSEP N: one process, as C fwknopd", () => {
  let rig: Rig;
  let d: TsFwknopd;
  before(async () => {
    rig = await createRig({ protectedPort: PORT, deny: "debian-nftables" });
    await rig.startService(PORT);
    d = new TsFwknopd(rig, "ENABLE_UDP_SERVER Y;\nPRIVSEP N;\n", ACCESS);
    await d.start();
  });
  after(async () => {
    await d.stop();
    d.cleanup();
    await rig.teardown();
  });

  it("grants with no parser process", async () => {
    await rig.sendUdp(SERVER_IP, 62201, wire());
    assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, PORT, 200), 5000, 50), d.logs());
    assert.doesNotMatch(d.logs(), /Packet parser/);
    const pid = d.pid ?? 0;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
    for (const c of children.filter((x) => x !== ""))
      assert.doesNotMatch(readFileSync(`/proc/${c}/cmdline`, "latin1"), /parser-main/);
  });
});
