/**
 * The parser's share of the configuration, as it crosses the pipe (Node's JSON IPC: Buffers
 * arrive as {type, data} and class instances not at all). The parser process cannot read
 * access.conf (root's, mode 0600), so the broker sends what it loaded, on start and on every
 * reload. Address lists travel as their text and are parsed again on arrival; keys are made
 * Buffers again.
 */
import type { AddressList } from "../../config/access-values.js";
import { parseAddressList } from "../../config/access-values.js";
import type { HmacSpec } from "../../spa/packet.js";
import type { ReceiverConfig } from "../daemon/receiver.js";
import type { ServedStanza } from "../pipeline/served-stanza.js";
import type { PipelineSettings } from "../pipeline/types.js";

type WireList = Pick<AddressList, "text" | "any">;

export type WireStanza = Omit<ServedStanza, "source" | "destination"> & {
  source: WireList;
  destination: WireList | null;
};

export interface WireConfig extends Omit<ReceiverConfig, "stanzas"> {
  stanzas: WireStanza[];
  /** Without the replay state, which travels on its own (protocol.ts ReplayView). */
  settings: Omit<PipelineSettings, "replay">;
}

const listOut = (l: AddressList): WireList => ({ text: l.text, any: l.any });

function listIn(l: WireList): AddressList {
  return parseAddressList(l.text, (why) => {
    // The broker parsed this very text; failing here means the pipe carried something else.
    throw new Error(`address list from the broker: ${why}`);
  });
}

export function toWire(cfg: ReceiverConfig, settings: PipelineSettings): WireConfig {
  const rest = {
    packetAging: settings.packetAging,
    maxPacketAge: settings.maxPacketAge,
    testMode: settings.testMode,
    ...(settings.nat !== undefined ? { nat: settings.nat } : {}),
  };
  return {
    udp: cfg.udp,
    tcp: cfg.tcp,
    http: cfg.http,
    ipv6: cfg.ipv6,
    pcap: cfg.pcap,
    pcapFile: cfg.pcapFile,
    nfq: cfg.nfq,
    packetLimit: cfg.packetLimit,
    gpg: cfg.gpg,
    settings: rest,
    stanzas: cfg.stanzas.map((s) => ({
      ...s,
      source: listOut(s.source),
      destination: s.destination === null ? null : listOut(s.destination),
    })),
  };
}

/** JSON carries a Buffer as {type: "Buffer", data: [bytes]} (Buffer.prototype.toJSON). */
type WireBytes = Uint8Array | { type: "Buffer"; data: number[] };

function buf(b: WireBytes | null): Buffer | null {
  if (b === null) return null;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return Buffer.from(b.data);
}

function hmacIn(h: HmacSpec | null): HmacSpec | null {
  return h === null ? null : { ...h, key: buf(h.key) ?? Buffer.alloc(0) };
}

export function fromWire(w: WireConfig): ReceiverConfig {
  return {
    ...w,
    stanzas: w.stanzas.map((s): ServedStanza => ({
      ...s,
      source: listIn(s.source),
      destination: s.destination === null ? null : listIn(s.destination),
      key: buf(s.key),
      hmacKey: buf(s.hmacKey),
      hmac: hmacIn(s.hmac),
    })),
  };
}
