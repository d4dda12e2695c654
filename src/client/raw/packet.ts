/**
 * The raw modes' packets, built whole: an IPv4 header, then a UDP, TCP or ICMP header, then the
 * SPA wire text (client/spa_comm.c: send_spa_packet_udp_raw, send_spa_packet_tcp_raw,
 * send_spa_packet_icmp). Pure: the random IP ID and ICMP echo ID come from the injected RNG.
 *
 * Field by field as C 2.6 builds them (RFC 791, 768, 793, 792 for the layouts):
 *   IPv4  version 4, IHL 5, TOS 0, total length, ID random, flags/fragment 0, TTL 255
 *         (common.h:RAW_SPA_TTL), protocol, header checksum, source (-Q, else 0.0.0.0: the
 *         kernel fills in its own), destination.
 *   UDP   source port, destination port, length, checksum 0 (C computes none; "no checksum" is
 *         legal for UDP over IPv4).
 *   TCP   source port, destination port, seq 1, ack 0, data offset 5, flags SYN only, window
 *         32767, checksum 0 (C computes none: fwknopd reads the segment by pcap, and a
 *         receiving TCP stack that checks it drops the segment unanswered), urgent 0.
 *   ICMP  type, code (--icmp-type/--icmp-code, default 0/0), checksum over header and payload;
 *         for an echo request (8/0) ID random and sequence 1, else both 0.
 * Two of C's writes the kernel overrides on an IP_HDRINCL socket (raw(7)): it always fills in
 * the total length and the header checksum, so C's host-order length and its checksum over the
 * whole packet never reach the wire; we write the values the kernel writes.
 */
import type { RandomBytes } from "../../spa/index.js";
import type { RawProto } from "../config.js";

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
/** common/common.h:RAW_SPA_TTL. */
export const RAW_SPA_TTL = 255;
export const IP_HEADER_LEN = 20;
export const ICMP_ECHO = 8;
export const TCP_WINDOW = 32767;
const TCP_FLAG_SYN = 0x02;

const HEADER_LEN: Record<RawProto, number> = { udpraw: 8, tcpraw: 20, icmp: 8 };
const PROTOCOL: Record<RawProto, number> = {
  udpraw: IPPROTO_UDP,
  tcpraw: IPPROTO_TCP,
  icmp: IPPROTO_ICMP,
};

export interface RawPacketSpec {
  mode: RawProto;
  /** Dotted IPv4; "0.0.0.0" lets the kernel put in the outgoing interface's address. */
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  icmpType: number;
  icmpCode: number;
  payload: Buffer;
}

/** The largest payload that fits one IPv4 packet with our headers. */
export const MAX_RAW_PAYLOAD = 65535 - IP_HEADER_LEN - 20;

/** RFC 1071 Internet checksum: the ones' complement of the ones' complement sum of 16-bit words. */
export function internetChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < data.length; i += 2) sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  // An odd last byte is the high half of a word whose low half is zero.
  if (data.length % 2 === 1) sum += (data[data.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function writeIpv4(buf: Buffer, off: number, dotted: string): void {
  const parts = dotted.split(".");
  for (let i = 0; i < 4; i++) buf[off + i] = Number(parts[i] ?? 0) & 0xff;
}

/** The whole packet, headers and payload, ready for sendto() on an IP_HDRINCL socket. */
export function buildRawPacket(spec: RawPacketSpec, random: RandomBytes): Buffer {
  const hlen = HEADER_LEN[spec.mode];
  const total = IP_HEADER_LEN + hlen + spec.payload.length;
  if (spec.payload.length > MAX_RAW_PAYLOAD) throw new RangeError(`payload of ${total} bytes`);
  const pkt = Buffer.alloc(total);
  pkt[0] = 0x45;
  pkt[1] = 0;
  pkt.writeUInt16BE(total, 2);
  pkt.writeUInt16BE(Buffer.from(random(2)).readUInt16BE(0), 4);
  pkt.writeUInt16BE(0, 6);
  pkt[8] = RAW_SPA_TTL;
  pkt[9] = PROTOCOL[spec.mode];
  writeIpv4(pkt, 12, spec.source);
  writeIpv4(pkt, 16, spec.destination);
  pkt.writeUInt16BE(internetChecksum(pkt.subarray(0, IP_HEADER_LEN)), 10);

  const t = IP_HEADER_LEN;
  spec.payload.copy(pkt, t + hlen);
  switch (spec.mode) {
    case "udpraw":
      pkt.writeUInt16BE(spec.sourcePort, t);
      pkt.writeUInt16BE(spec.destinationPort, t + 2);
      pkt.writeUInt16BE(hlen + spec.payload.length, t + 4);
      break;
    case "tcpraw":
      pkt.writeUInt16BE(spec.sourcePort, t);
      pkt.writeUInt16BE(spec.destinationPort, t + 2);
      pkt.writeUInt32BE(1, t + 4);
      pkt[t + 12] = 5 << 4;
      pkt[t + 13] = TCP_FLAG_SYN;
      pkt.writeUInt16BE(TCP_WINDOW, t + 14);
      break;
    case "icmp":
      pkt[t] = spec.icmpType;
      pkt[t + 1] = spec.icmpCode;
      if (spec.icmpType === ICMP_ECHO && spec.icmpCode === 0) {
        pkt.writeUInt16BE(Buffer.from(random(2)).readUInt16BE(0), t + 4);
        pkt.writeUInt16BE(1, t + 6);
      }
      pkt.writeUInt16BE(internetChecksum(pkt.subarray(t)), t + 2);
      break;
  }
  return pkt;
}
