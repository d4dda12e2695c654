/**
 * pcap capture (PCAP_INTF, PCAP_FILTER, ENABLE_PCAP_PROMISC, --pcap-any-direction) through a capture
 * child: `tcpdump -U -w -` applies the BPF filter and streams a pcap savefile that we parse, so no
 * native module is needed and nothing need listen on the SPA port. --pcap-file reads a savefile.
 * Like C (process_packet.c), payloads outside 140..1500 bytes are not SPA and are dropped here.
 */
import { existsSync, readFileSync } from "node:fs";
import { EnvironmentError, messageOf } from "../../errors.js";
import { spawnReader, stopChild } from "../../exec.js";
import { MIN_SPA_DATA_SIZE } from "../../spa/constants.js";
import { childReady } from "./child-ready.js";
import { PcapStreamParser, decodeFrame, type CapturedFrame } from "./pcap-parse.js";
import type { Listener, OnPayload } from "./types.js";

export interface PcapOptions {
  tcpdump: string;
  intf: string;
  filter: string;
  promisc: boolean;
  anyDirection: boolean;
  snaplen: number;
}

/** A captured frame to the pipeline, if it holds an SPA-sized payload (140..1500 bytes). */
export function handFrame(f: CapturedFrame, onPayload: OnPayload): boolean {
  const d = decodeFrame(f);
  if (d === null || d.payload.length < MIN_SPA_DATA_SIZE || d.payload.length > 1500) return false;
  onPayload({
    data: d.payload.toString("latin1"),
    srcIp: d.srcIp,
    srcPort: d.srcPort,
    dstIp: d.dstIp,
    dstPort: d.dstPort,
    transport: d.proto,
  });
  return true;
}

export async function listenPcap(o: PcapOptions, onPayload: OnPayload): Promise<Listener> {
  if (!existsSync(o.tcpdump))
    throw new EnvironmentError(
      `pcap capture needs ${o.tcpdump} (apt-get install tcpdump), or set ENABLE_UDP_SERVER Y`,
    );
  const argv = ["-i", o.intf, "-U", "-w", "-", "-n", "-s", String(o.snaplen)];
  if (!o.promisc) argv.push("-p");
  if (!o.anyDirection) argv.push("-Q", "in");
  argv.push(o.filter);
  const child = spawnReader(o.tcpdump, argv);
  const parser = new PcapStreamParser((f) => {
    handFrame(f, onPayload);
  });
  child.stdout.on("data", (c: Buffer) => {
    parser.feed(c);
  });
  await childReady(child, /listening on/, `tcpdump (capture on ${o.intf})`);
  return {
    description: `pcap capture on ${o.intf} (filter '${o.filter}', via ${o.tcpdump})`,
    close: () => stopChild(child, { signal: "SIGTERM" }),
  };
}

/** --pcap-file: every SPA-sized payload in the savefile, in order. Returns how many were handed on. */
export function readPcapFile(path: string, onPayload: OnPayload): number {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new EnvironmentError(`cannot read pcap file ${path}: ${messageOf(e)}`);
  }
  let n = 0;
  const parser = new PcapStreamParser((f) => {
    if (handFrame(f, onPayload)) n++;
  });
  parser.feed(data);
  if (parser.failed !== null) throw new EnvironmentError(`${path}: ${parser.failed}`);
  return n;
}
