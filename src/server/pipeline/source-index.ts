/**
 * The stanzas a packet is tried against: those whose SOURCE (and DESTINATION) take its addresses,
 * in file order, because the first stanza that passes wins (server/incoming_spa.c:incoming_spa,
 * which walks every stanza and compares the source of each). With thousands of stanzas that walk
 * costs a BlockList check per stanza per packet, so the SOURCE lists are put into tables once per
 * stanza array: the ANY stanzas, and per prefix length a map from network to stanzas. A lookup
 * costs one map probe per prefix length in use.
 *
 * The tables only narrow: every stanza they name is still checked with its own BlockList, so the
 * answer is the linear filter's by construction as long as the tables name a superset. Node's
 * BlockList lets an IPv4 rule take an IPv4-mapped IPv6 address and an IPv6 rule inside
 * ::ffff:0:0/96 take an IPv4 address, so both families are looked up for such addresses. An
 * address the tables cannot read (a scoped IPv6 address, say) gets the linear filter.
 *
 * Built lazily, kept in a WeakMap keyed by the stanza array: the array is made once per
 * configuration (and once more in the privsep parser, where class instances do not survive the
 * pipe, see privsep/wire-config.ts), so the tables go when the configuration goes.
 */
import { isIPv4 } from "node:net";
import { addressEntries, type AddressList } from "../../config/access-values.js";
import type { ServedStanza } from "./served-stanza.js";

/** Per prefix length, network (host bits cleared) -> indexes of the stanzas naming it, ascending. */
type Tables = Map<number, Map<bigint, number[]>>;

/** The stanzas a packet is tried against, and where each is in the configuration's array. */
export interface Candidates {
  stanzas: readonly ServedStanza[];
  at: readonly number[];
}

interface SourceIndex {
  stanzas: readonly ServedStanza[];
  /** Indexes of SOURCE ANY stanzas, ascending. */
  any: number[];
  /** The ANY stanzas: the whole answer when no table names the source. */
  anyOnly: Candidates;
  v4: Tables;
  v6: Tables;
  /** Some stanza has a DESTINATION other than ANY. */
  destinations: boolean;
  /** The last answer: a flood mostly comes from one address. */
  lastSrc: string;
  lastDst: string;
  last: Candidates;
}

const indexes = new WeakMap<readonly ServedStanza[], SourceIndex>();

/** The stanzas that take a packet from srcIp to dstIp, in file order. */
export function candidateStanzas(
  stanzas: readonly ServedStanza[],
  srcIp: string,
  dstIp: string,
): Candidates {
  let ix = indexes.get(stanzas);
  if (ix === undefined) {
    ix = buildIndex(stanzas);
    indexes.set(stanzas, ix);
  }
  if (srcIp === ix.lastSrc && dstIp === ix.lastDst) return ix.last;
  const found = lookUp(ix, srcIp, dstIp);
  ix.lastSrc = srcIp;
  ix.lastDst = dstIp;
  ix.last = found;
  return found;
}

/** What the index stands for: every stanza checked in turn. */
export function linearCandidates(
  stanzas: readonly ServedStanza[],
  srcIp: string,
  dstIp: string,
): ServedStanza[] {
  return stanzas.filter((s) => takes(s, srcIp, dstIp));
}

function takes(s: ServedStanza, srcIp: string, dstIp: string): boolean {
  return matches(s.source, srcIp) && (s.destination === null || matches(s.destination, dstIp));
}

function matches(m: AddressList, ip: string): boolean {
  return m.any || m.list.check(ip, isIPv4(ip) ? "ipv4" : "ipv6");
}

function buildIndex(stanzas: readonly ServedStanza[]): SourceIndex {
  const any: number[] = [];
  const v4: Tables = new Map();
  const v6: Tables = new Map();
  stanzas.forEach((s, i) => {
    const unreadable = (): never => {
      throw new Error(`stanza #${s.number}: SOURCE was checked at load`);
    };
    let isAny = false;
    for (const e of addressEntries(s.source.text, unreadable)) {
      if (e === "any") isAny = true;
      else {
        const bits =
          (e.family === "ipv4" ? ipv4Bits(e.address) : ipv6Bits(e.address)) ?? unreadable();
        const width = e.family === "ipv4" ? 32 : 128;
        addTo(e.family === "ipv4" ? v4 : v6, e.bits, masked(bits, e.bits, width), i);
      }
    }
    if (isAny) any.push(i);
  });
  const anyOnly = at(stanzas, any);
  const destinations = stanzas.some((s) => s.destination !== null && !s.destination.any);
  const last = { stanzas: [], at: [] };
  return { stanzas, any, anyOnly, v4, v6, destinations, lastSrc: "", lastDst: "", last };
}

function at(stanzas: readonly ServedStanza[], indexes: number[]): Candidates {
  return { stanzas: indexes.map((i) => stanzas[i] as ServedStanza), at: indexes };
}

function addTo(t: Tables, prefix: number, net: bigint, i: number): void {
  let byNet = t.get(prefix);
  if (byNet === undefined) {
    byNet = new Map();
    t.set(prefix, byNet);
  }
  const list = byNet.get(net);
  if (list === undefined) byNet.set(net, [i]);
  else if (list[list.length - 1] !== i) list.push(i);
}

function lookUp(ix: SourceIndex, srcIp: string, dstIp: string): Candidates {
  const found = bySource(ix, srcIp);
  if (found === null) {
    const all = ix.stanzas.map((_, i) => i);
    return at(
      ix.stanzas,
      all.filter((i) => takes(ix.stanzas[i] as ServedStanza, srcIp, dstIp)),
    );
  }
  if (!ix.destinations) return found;
  const keep = found.at.filter((_, j) => {
    const d = found.stanzas[j]?.destination ?? null;
    return d === null || matches(d, dstIp);
  });
  return at(ix.stanzas, keep);
}

/** The stanzas whose SOURCE takes srcIp, in file order; null when the tables cannot say. */
function bySource(ix: SourceIndex, srcIp: string): Candidates | null {
  if (ix.v4.size === 0 && ix.v6.size === 0) return ix.anyOnly;
  const keys = addressKeys(srcIp);
  if (keys === null) return null;
  const hits: number[][] = [];
  if (keys.v4 !== null) probe(ix.v4, keys.v4, 32, hits);
  if (keys.v6 !== null) probe(ix.v6, keys.v6, 128, hits);
  if (hits.length === 0) return ix.anyOnly;
  const merged = [...new Set([...ix.any, ...hits.flat()])].sort((a, b) => a - b);
  // Only a superset so far: each is checked with its own list (see the header).
  return at(
    ix.stanzas,
    merged.filter((i) => matches((ix.stanzas[i] as ServedStanza).source, srcIp)),
  );
}

function probe(t: Tables, addr: bigint, width: number, hits: number[][]): void {
  for (const [prefix, byNet] of t) {
    const list = byNet.get(masked(addr, prefix, width));
    if (list !== undefined) hits.push(list);
  }
}

function masked(addr: bigint, prefix: number, width: number): bigint {
  const host = BigInt(width - prefix);
  return (addr >> host) << host;
}

const MAPPED = 0xffffn << 32n;

/** The source as an IPv4 and/or IPv6 number (both for IPv4 and IPv4-mapped), or null. */
function addressKeys(ip: string): { v4: bigint | null; v6: bigint | null } | null {
  const v4 = ipv4Bits(ip);
  if (v4 !== null) return { v4, v6: MAPPED | v4 };
  const v6 = ipv6Bits(ip);
  if (v6 === null) return null;
  return { v4: v6 >> 32n === 0xffffn ? v6 & 0xffffffffn : null, v6 };
}

function ipv4Bits(ip: string): bigint | null {
  const parts = ip.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return BigInt(n);
}

/** RFC 4291 section 2.2 text forms, with an IPv4 tail; null for anything else (zones too). */
function ipv6Bits(ip: string): bigint | null {
  const halves = ip.split("::");
  if (halves.length > 2) return null;
  const groups = (text: string): bigint[] | null => {
    if (text === "") return [];
    const out: bigint[] = [];
    const parts = text.split(":");
    for (const [k, p] of parts.entries()) {
      if (k === parts.length - 1 && p.includes(".")) {
        const v4 = ipv4Bits(p);
        if (v4 === null) return null;
        out.push(v4 >> 16n, v4 & 0xffffn);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(BigInt(`0x${p}`));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0] ?? "");
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : [];
  if (head === null || tail === null) return null;
  const gap = 8 - head.length - tail.length;
  if (halves.length === 2 ? gap < 1 : gap !== 0) return null;
  const all = [...head, ...Array<bigint>(gap).fill(0n), ...tail];
  return all.reduce((acc, g) => (acc << 16n) | g, 0n);
}
