/**
 * The client's raw modes (-P udpraw, tcpraw, icmp; -Q) on the namespace rig, as root:
 * - each mode's packet from our client opens the port on the C fwknopd and on ours, both reading
 *   by pcap with a PCAP_FILTER that admits TCP and ICMP (C's default, "udp port 62201", does not);
 * - a -Q packet reaches the server namespace with the forged source (198.19.0.0/16, inside the
 *   rig's 198.18.0.0/15), and still opens the port for the -a address;
 * - our packet and the C client's, captured in the server namespace, agree field by field;
 * - without CAP_NET_RAW our client, like C's, exits 1 and nothing reaches the wire.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openSpaPacket } from "../../src/spa/index.js";
import { PcapStreamParser } from "../../src/server/listen/pcap-parse.js";
import { CFwknopd, C_FWKNOPD } from "./c-fwknopd.js";
import { clientArgv, clientEnv, type Client } from "./knock.js";
import { CLIENT_IP, SERVER_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const MODES = ["udpraw", "tcpraw", "icmp"] as const;
const FILTER = "udp port 62201 or tcp port 62201 or icmp";
/** The captures' filter: packets to the server only (not its RSTs and unreachables). */
const TO_SERVER = ["dst", "host", SERVER_IP, "and", "(", ...FILTER.split(" "), ")"];
const FORGED = "198.19.44.7";
const b64 = (n: number): string => randomBytes(n).toString("base64");
const missing = ["/usr/bin/tcpdump", "/usr/bin/fwknop", C_FWKNOPD, "/usr/bin/setpriv"].filter(
  (f) => !existsSync(f),
);

interface Keys {
  key: string;
  hmacKey: string;
}
const newKeys = (): Keys => ({ key: b64(32), hmacKey: b64(64) });

const access = (k: Keys): string =>
  `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 2\nKEY_BASE64 ${k.key}\nHMAC_KEY_BASE64 ${k.hmacKey}\n`;

function knockArgs(k: Keys, extra: readonly string[]): string[] {
  return [
    ...["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, "-U", "alice"],
    ...["--key-base64-rijndael", k.key, "--key-base64-hmac", k.hmacKey, "--use-hmac"],
    ...extra,
  ];
}

async function knock(rig: Rig, client: Client, args: readonly string[]) {
  const home = rig.tempDir("raw-home-");
  return rig.run(rig.clientNs, clientArgv(client, args), { env: clientEnv(home) });
}

/** tcpdump in the server namespace, writing what is sent to the server to a file. */
async function capture(rig: Rig): Promise<{ stop: () => Promise<Buffer> }> {
  const file = join(rig.tempDir("raw-cap-"), "c.pcap");
  // --immediate-mode: else libpcap hands packets over by the block, up to a second late, and a
  // tcpdump stopped meanwhile never writes them.
  const argv = ["tcpdump", "-i", "veth0", "--immediate-mode", "-U", "-n", "-w", file];
  const p = rig.spawn(rig.serverNs, [...argv, ...TO_SERVER]);
  let err = "";
  p.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  assert.ok(await waitFor(() => /listening on/.test(err), 5000), `tcpdump: ${err}`);
  return {
    stop: async () => {
      await new Promise((r) => setTimeout(r, 300));
      p.kill("SIGTERM");
      await waitFor(() => p.exitCode !== null || p.signalCode !== null, 5000);
      return existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
    },
  };
}

/** Every field of an IPv4 packet with a UDP, TCP or ICMP header, from an Ethernet frame. */
interface Decoded {
  ip: Record<string, number | string | boolean>;
  l4: Record<string, number | boolean>;
  payload: string;
}

function sum16(b: Buffer): number {
  const even = b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.alloc(1)]);
  let s = 0;
  for (let i = 0; i < even.length; i += 2) s += even.readUInt16BE(i);
  while (s > 0xffff) s = (s >>> 16) + (s & 0xffff);
  return s;
}

function decode(frame: Buffer): Decoded {
  assert.equal(frame.readUInt16BE(12), 0x0800, "an IPv4 frame");
  const d = frame.subarray(14);
  const total = d.readUInt16BE(2);
  const ip = {
    versionIhl: d[0] ?? -1,
    tos: d[1] ?? -1,
    totalLength: total,
    id: d.readUInt16BE(4),
    flagsFragment: d.readUInt16BE(6),
    ttl: d[8] ?? -1,
    protocol: d[9] ?? -1,
    headerChecksumValid: sum16(d.subarray(0, 20)) === 0xffff,
    source: [...d.subarray(12, 16)].join("."),
    destination: [...d.subarray(16, 20)].join("."),
  };
  const t = d.subarray(20, total);
  let l4: Record<string, number | boolean>;
  let hlen = 8;
  if (ip.protocol === 17)
    l4 = {
      sourcePort: t.readUInt16BE(0),
      destinationPort: t.readUInt16BE(2),
      length: t.readUInt16BE(4),
      checksum: t.readUInt16BE(6),
    };
  else if (ip.protocol === 6) {
    hlen = ((t[12] ?? 0) >> 4) * 4;
    l4 = {
      sourcePort: t.readUInt16BE(0),
      destinationPort: t.readUInt16BE(2),
      seq: t.readUInt32BE(4),
      ack: t.readUInt32BE(8),
      dataOffsetReserved: t[12] ?? -1,
      flags: t[13] ?? -1,
      window: t.readUInt16BE(14),
      checksum: t.readUInt16BE(16),
      urgent: t.readUInt16BE(18),
    };
  } else
    l4 = {
      type: t[0] ?? -1,
      code: t[1] ?? -1,
      checksumValid: sum16(t) === 0xffff,
      id: t.readUInt16BE(4),
      seq: t.readUInt16BE(6),
    };
  return { ip, l4, payload: t.subarray(hlen).toString("latin1") };
}

function frames(pcap: Buffer): Decoded[] {
  const out: Decoded[] = [];
  const parser = new PcapStreamParser((f) => out.push(decode(f.data)));
  parser.feed(pcap);
  assert.equal(parser.failed, null);
  return out;
}

/** The payload is an SPA packet these keys open, from alice, for tcp/1234 to the client. */
function assertSpa(wire: string, k: Keys): void {
  const opened = openSpaPacket(wire, {
    mode: "cbc",
    key: Buffer.from(k.key, "base64"),
    hmac: { type: "sha256", key: Buffer.from(k.hmacKey, "base64") },
  });
  assert.ok(opened.ok, `payload is not SPA with these keys: ${wire.slice(0, 40)}`);
  assert.equal(opened.value.username, "alice");
  assert.equal(opened.value.message, `${CLIENT_IP},tcp/1234`);
}

const isOpen = (rig: Rig) => rig.tcpConnect(SERVER_IP, 1234, 200);

/** For each mode: closed, our client's knock, open; closed again once the 2 s grant expires. */
async function grantEachMode(rig: Rig, k: Keys, logs: () => string): Promise<void> {
  for (const mode of MODES) {
    assert.ok(
      await waitFor(async () => !(await isOpen(rig)), 10_000, 200),
      `closed before ${mode}`,
    );
    const r = await knock(rig, "ts", knockArgs(k, ["-P", mode]));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await waitFor(() => isOpen(rig), 8000, 50), `-P ${mode} opened nothing:\n${logs()}`);
  }
}

describe(
  "the client's raw modes",
  { skip: missing.length > 0 && `missing: ${missing.join(", ")}` },
  () => {
    it("C fwknopd (pcap) grants a packet of each raw mode from our client", async () => {
      const rig = await createRig({ servicePort: 1234, deny: "iptables" });
      const k = newKeys();
      const d = new CFwknopd(rig, { access: access(k), pcapFilter: FILTER });
      try {
        await d.start();
        await grantEachMode(rig, k, () => d.logs());
        assert.match(d.logs(), /Added access rule to FWKNOP_INPUT for 198\.18\.0\.2 .*tcp\/1234/);
      } finally {
        await d.stop();
        await rig.teardown();
      }
    });

    it("our fwknopd (pcap) grants each raw mode; -Q arrives with the forged source", async () => {
      const rig = await createRig({ servicePort: 1234 });
      const k = newKeys();
      const d = new TsFwknopd(
        rig,
        `PCAP_INTF veth0;\nPCAP_FILTER ${FILTER};\nFIREWALL_TYPE nftables;\nNFT_PROTECT_PORTS Y;\n`,
        access(k),
      );
      try {
        await d.start();
        await grantEachMode(rig, k, () => d.logs());
        assert.ok(await waitFor(async () => !(await isOpen(rig)), 10_000, 200), "closed before -Q");
        const cap = await capture(rig);
        const r = await knock(rig, "ts", knockArgs(k, ["-P", "udpraw", "-Q", FORGED]));
        assert.equal(r.code, 0, r.stderr);
        assert.ok(await waitFor(() => isOpen(rig), 8000, 50), `-Q opened nothing:\n${d.logs()}`);
        const got = frames(await cap.stop());
        const [only] = got;
        assert.ok(got.length === 1 && only !== undefined, `${got.length} packets, not 1`);
        assert.equal(only.ip.source, FORGED, "the forged source on the server's wire");
        assertSpa(only.payload, k);
      } finally {
        await d.stop();
        d.cleanup();
        await rig.teardown();
      }
    });

    /**
     * Field by field, C's packet and ours in the same mode with the same arguments. Equal: every
     * field C sets to a constant or from the arguments (version/IHL, TOS, total length, flags and
     * fragment, TTL, protocol, addresses, destination port, UDP length and checksum 0, TCP seq, ack,
     * offset, flags, window, checksum 0, urgent, ICMP type and code and sequence); checksums C
     * computes are valid in both. Random in C, so only present and in C's range in both: the IP ID
     * (random() & 0xffff), the source port (get_rand_port: 10000-65534) and the ICMP echo ID.
     * The payloads differ (random salt and IV) but both open with the keys and carry the same
     * message, and are the same length.
     */
    it("our packets and the C client's agree field by field in every mode", async () => {
      const rig = await createRig();
      const k = newKeys();
      const cases: [string, string[]][] = [
        ["udpraw", ["-P", "udpraw"]],
        ["tcpraw", ["-P", "tcpraw"]],
        ["icmp (echo reply, -Q)", ["-P", "icmp", "-Q", FORGED]],
        ["icmp echo request", ["-P", "icmp", "--icmp-type", "8", "-Q", FORGED]],
      ];
      try {
        for (const [name, extra] of cases) {
          const cap = await capture(rig);
          for (const client of ["c", "ts"] as const) {
            const r = await knock(rig, client, knockArgs(k, extra));
            assert.equal(r.code, 0, `${client} ${name}: ${r.stderr}`);
            await new Promise((res) => setTimeout(res, 100));
          }
          const got = frames(await cap.stop());
          const [c, ours] = got;
          assert.ok(
            got.length === 2 && c !== undefined && ours !== undefined,
            `${name}: ${got.length} packets captured, not 2: ${JSON.stringify(got)}`,
          );
          compare(name, c, ours, k);
        }
      } finally {
        await rig.teardown();
      }
    });

    it("without CAP_NET_RAW: exit 1 with what needs root and what to use, nothing sent (C: 1)", async () => {
      const rig = await createRig();
      const k = newKeys();
      try {
        const cap = await capture(rig);
        for (const client of ["ts", "c"] as const) {
          const argv = clientArgv(client, knockArgs(k, ["-P", "tcpraw"]));
          const r = await rig.run(
            rig.clientNs,
            ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--", ...argv],
            { env: clientEnv(rig.tempDir("raw-home-")) },
          );
          assert.equal(r.code, 1, `${client}: ${r.stderr}`);
          if (client === "ts")
            assert.match(
              r.stderr,
              /^fwknop: -P tcpraw builds its packet on a raw socket, which needs root \(CAP_NET_RAW\): socket: EPERM: operation not permitted\. Run as root, or use -P udp, tcp or http; nothing was sent\.\n$/,
            );
        }
        assert.equal(frames(await cap.stop()).length, 0, "nothing reached the server");
      } finally {
        await rig.teardown();
      }
    });
  },
);

function compare(name: string, c: Decoded, ours: Decoded, k: Keys): void {
  const randomIp = ["id"];
  for (const [field, value] of Object.entries(c.ip))
    if (!randomIp.includes(field))
      assert.equal(ours.ip[field], value, `${name}: IP ${field} (C ${String(value)})`);
  for (const d of [c, ours]) {
    assert.equal(typeof d.ip.id, "number");
    assert.ok((d.ip.id as number) >= 0 && (d.ip.id as number) <= 0xffff);
    assert.equal(d.ip.headerChecksumValid, true);
    assert.equal(d.ip.ttl, 255);
  }
  const randomL4 = ["sourcePort", ...(c.l4.type === 8 ? ["id"] : [])];
  for (const [field, value] of Object.entries(c.l4))
    if (!randomL4.includes(field))
      assert.equal(ours.l4[field], value, `${name}: ${field} (C ${String(value)})`);
  for (const d of [c, ours]) {
    if ("sourcePort" in d.l4) {
      const port = d.l4.sourcePort as number;
      assert.ok(port >= 10000 && port <= 65534, `${name}: source port ${port}`);
    }
    if (d.l4.type === 8) assert.equal(d.l4.seq, 1);
  }
  assert.equal(ours.payload.length, c.payload.length, `${name}: payload length`);
  assertSpa(c.payload, k);
  assertSpa(ours.payload, k);
}
