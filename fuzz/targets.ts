/**
 * What the fuzzer runs (engine.ts): every place attacker bytes or an admin's file meet our
 * parsers. Keys and clocks are fixed so a finding replays exactly.
 */
import { parseAccessConf } from "../src/config/access-conf.js";
import { parseFwknopdConf } from "../src/config/fwknopd-conf.js";
import { unwrapHttpSpa } from "../src/server/listen/http.js";
import { FrameStream } from "../src/server/listen/nfq-frames.js";
import { decodeMessages } from "../src/server/listen/nfq-netlink.js";
import { LINKTYPE_RAW, PcapStreamParser, decodeFrame } from "../src/server/listen/pcap-parse.js";
import { processSpa } from "../src/server/pipeline.js";
import { checkRequest, type CheckContext } from "../src/server/privsep/check-request.js";
import { parserCounts, parserLogLine } from "../src/server/privsep/parser-lines.js";
import { NO_METRICS } from "../src/server/metrics/daemon-metrics.js";
import {
  decodeSpaPlaintext,
  decryptSpaCiphertext,
  openSpaPacket,
  rijndaelEncrypt,
  type SpaKeys,
} from "../src/spa/index.js";
import { NOW, pipelineStanza } from "../test/fixtures/pipeline.js";
import type { FuzzTarget } from "./engine.js";

/** Fixed keys: the seed packets (make-seeds.ts) are made with them. */
export const FUZZ_KEYS: SpaKeys = {
  mode: "cbc",
  key: Buffer.from("fuzz-key-0123456789abcdef", "latin1"),
  hmac: { type: "sha256", key: Buffer.from("fuzz-hmac-key-0123456789abcdefghijklmnop", "latin1") },
};
const SALT = Buffer.from("12345678", "latin1");
const text = (b: Buffer): string => b.toString("latin1");
const stanzas = [pipelineStanza(1, FUZZ_KEYS)];
const CONF_WORDS = [
  "\n",
  ";",
  " ",
  "$FWKNOP_RUN_DIR",
  "%include ",
  "%include_keys ",
  "%include_folder ",
  "SOURCE ",
  "OPEN_PORTS ",
  "tcp/22",
  "udp/53,",
  "KEY_BASE64 ",
  "HMAC_KEY_BASE64 ",
  "FORCE_NAT ",
  "Y",
  "N",
  "0.0.0.0/0",
  "ANY",
  "IPT_INPUT_ACCESS ",
  "ACCEPT, filter, INPUT, 1, FWKNOP_INPUT, 1",
  "NFT_JUMP_CHAIN ",
  "inet filter input",
  "MAX_SPA_PACKET_AGE ",
  "METRICS_LISTEN ",
  "[::1]:9930",
];

/** The privsep broker's view: stanza 1 opens tcp/22 only, for at most 300 s. */
const BROKER: CheckContext = {
  cfg: {
    stanzas: [pipelineStanza(1, FUZZ_KEYS, { openPorts: [{ proto: "tcp", port: 22 }] })],
    packetAging: true,
    maxPacketAge: 120,
    testMode: false,
  },
  settings: {},
  nowSecs: NOW,
  replay: { isSeen: () => false, forgottenBefore: () => 0, isFull: () => false },
};
const META = {
  proto: 17,
  srcIp: "198.18.0.2",
  srcPort: 40000,
  dstIp: "198.18.0.1",
  dstPort: 62201,
};
/** Seeds of the broker-request target (make-seeds.ts writes them as JSON). */
export const BROKER_REQUESTS: Record<string, unknown> = {
  grant: {
    t: "grant",
    digest: "A".repeat(43),
    innerDigest: null,
    spaTime: NOW,
    meta: META,
    stanza: 1,
    user: "alice",
    address: "198.18.0.2",
    ports: [{ proto: "tcp", port: 22 }],
    timeout: 30,
  },
  burn: { t: "burn", reason: "port_denied", digest: "B".repeat(43), innerDigest: null, meta: META },
  cycle: {
    t: "cycle",
    digest: "C".repeat(43),
    innerDigest: null,
    spaTime: NOW,
    meta: META,
    stanza: 1,
    user: "alice",
    address: "198.18.0.2",
    port: { proto: "tcp", port: 22 },
    seconds: 10,
  },
  log: { t: "log", level: "info", event: "spa_rejected", fields: { src: "198.18.0.2" }, text: "x" },
  counts: { t: "counts", packets: 3, refused: { replay: 1, http: 2 } },
};

/**
 * A request from a parser that may have been taken over: never an exception, and whatever is
 * accepted is within the stanza (tcp/22, an IP literal, at most 300 s).
 */
function brokerRequest(b: Buffer): void {
  let m: unknown;
  try {
    m = JSON.parse(text(b));
  } catch {
    return;
  }
  parserLogLine(m);
  parserCounts(m, NO_METRICS);
  const r = checkRequest(m, BROKER);
  if (!r.ok || r.decision.kind !== "grant") return;
  for (const g of r.decision.grants)
    if (
      g.proto !== "tcp" ||
      g.port !== 22 ||
      g.expiresAt > NOW + 300 ||
      !/^[0-9a-f.:]+$/i.test(g.address)
    )
      throw new Error(`broker accepted ${JSON.stringify(g)}`);
}

export const TARGETS: readonly FuzzTarget[] = [
  {
    name: "spa-plaintext",
    // The decrypted fields: rand:user:time:version:type:message[:nat][:auth][:timeout]:digest.
    run: (b) => void decodeSpaPlaintext(text(b)),
    dictionary: [":", "1234567890123456", "3.0.0", "MC4wLjAuMCx0Y3AvMjI", "="],
    maxLen: 2048,
  },
  {
    name: "spa-decrypt",
    // Any plaintext, encrypted with the right key: padding, the magic and the decoder, past the
    // HMAC a mutated wire would never get through.
    run: (b) =>
      void decryptSpaCiphertext(
        rijndaelEncrypt(b, FUZZ_KEYS.key, "cbc", SALT).toString("base64"),
        "cbc",
        FUZZ_KEYS.key,
      ),
    dictionary: [":", "1234567890123456:", "3.0.0"],
    maxLen: 2048,
  },
  {
    name: "spa-wire",
    run: (b) => void openSpaPacket(text(b), FUZZ_KEYS),
    dictionary: ["U2FsdGVkX1", "hQ", "+", "/", "="],
    maxLen: 2048,
  },
  {
    name: "pipeline",
    run: (b) =>
      void processSpa(
        { data: text(b), srcIp: "198.18.0.2", srcPort: 40000, dstIp: "198.18.0.1", dstPort: 62201 },
        stanzas,
        { packetAging: true, maxPacketAge: 120, testMode: false },
        () => false,
        NOW,
        () => undefined,
      ),
    maxLen: 2048,
  },
  {
    name: "http",
    run: (b) => void unwrapHttpSpa(text(b), false),
    dictionary: [
      "GET /",
      " HTTP/1.1\r\n",
      "User-Agent: Fwknop/2.6.10\r\n",
      "\r\n\r\n",
      "Host: x\r\n",
    ],
  },
  {
    name: "fwknopd-conf",
    run: (b) => void parseFwknopdConf("fuzz-fwknopd.conf", [], () => text(b)),
    dictionary: CONF_WORDS,
  },
  {
    name: "access-conf",
    run: (b) =>
      void parseAccessConf({
        file: "fuzz-access.conf",
        readFile: (p) => {
          if (p === "fuzz-access.conf") return text(b);
          throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
        },
        listDir: () => [],
        isDirectory: () => false,
      }),
    dictionary: CONF_WORDS,
  },
  {
    name: "pcap",
    run: (b) => {
      const p = new PcapStreamParser((f) => void decodeFrame(f));
      // Fed in two pieces, as a pipe delivers it.
      const cut = b.length >> 1;
      p.feed(b.subarray(0, cut));
      p.feed(b.subarray(cut));
    },
    maxLen: 8192,
  },
  {
    // The NFQUEUE reader's netlink decoding, and the parser's reading of the reader's frames.
    name: "nfq",
    run: (b) => {
      void decodeMessages(b);
      const f = new FrameStream(
        (packet) => void decodeFrame({ linktype: LINKTYPE_RAW, data: packet }),
      );
      const cut = b.length >> 1;
      f.feed(b.subarray(0, cut));
      f.feed(b.subarray(cut));
    },
    maxLen: 8192,
  },
  {
    name: "broker-request",
    run: brokerRequest,
    dictionary: [
      '"t":"grant"',
      '"ports":',
      '"nat":',
      '{"proto":"tcp","port":',
      "null",
      "1e999",
      '"__proto__"',
      ",",
    ],
    maxLen: 2048,
  },
];

export function targetByName(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (t === undefined)
    throw new Error(`no fuzz target ${name} (${TARGETS.map((x) => x.name).join(", ")})`);
  return t;
}
