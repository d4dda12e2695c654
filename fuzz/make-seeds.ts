/**
 * Writes the seed corpus (fuzz/corpus/<target>/), made with the fuzz keys and fixed randomness so
 * it is the same every time: real packets of each message type, the tutorial's config files, a
 * small pcap capture. Run again after changing a target's input format:
 *   node --import tsx fuzz/make-seeds.ts
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeSpaPacket, type SpaFields } from "../src/spa/index.js";
import { ipUdp, queuedPacket } from "../test/fixtures/nfq.js";
import { spaFields } from "../test/fixtures/pipeline.js";
import { encodeFrames } from "../src/server/listen/nfq-frames.js";
import { BROKER_REQUESTS, FUZZ_KEYS } from "./targets.js";

const ROOT = join(__dirname, "corpus");
let counter = 0;
/** Fixed "random" bytes: a counter, so seeds do not change between runs. */
const random = (n: number): Buffer => Buffer.alloc(n, ++counter % 251);

const PACKETS: Array<Partial<SpaFields>> = [
  {},
  { username: "root", message: "198.18.0.2,tcp/22,udp/53" },
  { messageType: 0, message: "198.18.0.2,uname -a" },
  { messageType: 2, message: "198.18.0.2,tcp/22", natAccess: "198.18.1.2,22" },
  { messageType: 3, message: "0.0.0.0,tcp/22", clientTimeout: 60 },
  { messageType: 5, message: "198.18.0.2,tcp/2222", natAccess: "127.0.0.1,22", clientTimeout: 30 },
  { serverAuth: "crypt,secret" },
];

const made = PACKETS.map((p) => makeSpaPacket(spaFields(p), "sha256", FUZZ_KEYS, random));

function write(target: string, name: string, data: string | Buffer): void {
  const dir = join(ROOT, target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), data);
}

/** A pcap savefile (Ethernet) with one IPv4/UDP datagram to 62201 carrying `payload`. */
function pcap(payload: Buffer): Buffer {
  const eth = Buffer.concat([Buffer.alloc(12, 0x02), Buffer.from([0x08, 0x00])]);
  const frame = Buffer.concat([eth, ipUdp(payload)]);
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const rec = Buffer.alloc(16);
  rec.writeUInt32LE(1_800_000_000, 0);
  rec.writeUInt32LE(frame.length, 8);
  rec.writeUInt32LE(frame.length, 12);
  return Buffer.concat([head, rec, frame]);
}

const FWKNOPD_CONF = `PCAP_INTF                   ens37;
ENABLE_UDP_SERVER           Y;
UDPSERV_PORT                62201;
PCAP_FILTER                 udp port 62201;
ENABLE_SPA_PACKET_AGING     Y;
MAX_SPA_PACKET_AGE          60;
FLUSH_FIREWD_AT_INIT        Y;
ENABLE_FIREWD_FORWARDING    Y;
FIREWD_INPUT_ACCESS         ACCEPT, filter, INPUT, 1, FWKNOP_INPUT, 1;
FIREWALL_EXE                /usr/bin/firewall-cmd;
DIGEST_FILE                 $FWKNOP_RUN_DIR/digest.cache;
NFT_JUMP_CHAIN              inet filter input;
`;
const ACCESS_CONF = `SOURCE                     ANY
OPEN_PORTS                 tcp/1234, udp/53
REQUIRE_SOURCE_ADDRESS     Y
REQUIRE_USERNAME           root
FW_ACCESS_TIMEOUT          30
KEY_BASE64                 ZnV6ei1rZXktMDEyMzQ1Njc4OWFiY2RlZg==
HMAC_KEY_BASE64            ZnV6ei1obWFjLWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hpamtsbW5vcA==

SOURCE                     198.18.0.0/24, 2001:db8::/32
ENCRYPTION_MODE            legacy
KEY                        passphrase
FORCE_NAT                  198.18.1.2 22
FORCE_MASQUERADE           Y
MAX_CONNECTIONS            3
`;

rmSync(ROOT, { recursive: true, force: true });
made.forEach((m, i) => {
  const plaintext = `${m.encoded.encoded}:${m.encoded.digest}`;
  write("spa-plaintext", `packet-${i}`, plaintext);
  write("spa-decrypt", `packet-${i}`, plaintext);
  write("spa-wire", `packet-${i}`, m.wire);
  write("pipeline", `packet-${i}`, m.wire);
  write(
    "http",
    `get-${i}`,
    `GET /${m.wire} HTTP/1.1\r\nUser-Agent: Fwknop/2.6.10\r\nAccept: */*\r\n\r\n`,
  );
  write("pcap", `capture-${i}`, pcap(Buffer.from(m.wire, "latin1")));
  const packet = ipUdp(Buffer.from(m.wire, "latin1"));
  write("nfq", `queued-${i}`, queuedPacket({ id: i + 1 }, packet));
  write("nfq", `frames-${i}`, encodeFrames([packet, packet.subarray(0, 40)]));
});
write("fwknopd-conf", "tutorial", FWKNOPD_CONF);
write("access-conf", "tutorial", ACCESS_CONF);
for (const [name, req] of Object.entries(BROKER_REQUESTS))
  write("broker-request", name, JSON.stringify(req));
console.log(`seeds written under ${ROOT}`);
