/**
 * Source addresses of datagrams read with recvmmsg (udp-batch.ts), as text. Written the way Node
 * writes dgram's rinfo.address (libuv src/inet.c:inet_ntop6, then plainAddress), so the pipeline
 * sees the same source text whichever UDP listener took the datagram in.
 * Layouts: <netinet/in.h> sockaddr_in (16 bytes) and sockaddr_in6 (28 bytes); ports and addresses
 * in network byte order, the family in host order (little-endian on the ABIs recvmmsg.ts allows).
 */

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;

const SIN6_ADDR = 8;
const SIN6_SCOPE_ID = 24;
const SIN_ADDR = 4;

export function sockaddrPort(v: DataView, off: number): number {
  return v.getUint16(off + 2);
}

function dotted(v: DataView, off: number): string {
  return `${v.getUint8(off)}.${v.getUint8(off + 1)}.${v.getUint8(off + 2)}.${v.getUint8(off + 3)}`;
}

/**
 * The IPv4 address of a sockaddr_in, or of a sockaddr_in6 holding an IPv4-mapped address
 * (::ffff:a.b.c.d), as a number; -1 for any other IPv6 address.
 */
export function sockaddrIpv4(v: DataView, off: number): number {
  if (v.getUint16(off, true) === AF_INET) return v.getUint32(off + SIN_ADDR);
  return in6Ipv4(v, off + SIN6_ADDR);
}

/** The IPv4 address of the IPv4-mapped struct in6_addr at `a` as a number; -1 if not mapped. */
export function in6Ipv4(v: DataView, a: number): number {
  return v.getUint32(a) === 0 && v.getUint32(a + 4) === 0 && v.getUint32(a + 8) === 0xffff
    ? v.getUint32(a + 12)
    : -1;
}

/** 0xc6120002 -> "198.18.0.2" */
export function ipv4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/**
 * The address of a sockaddr_in or sockaddr_in6 at `off`. An IPv4-mapped IPv6 address comes out as
 * plain IPv4 (listen/types.ts:plainAddress). A link-local address gets "%" and the name of its
 * interface, as Node's AddressToJS appends it; `interfaceName` is only asked then.
 */
export function sockaddrAddress(
  v: DataView,
  off: number,
  interfaceName: (index: number) => string,
): string {
  if (v.getUint16(off, true) === AF_INET) return dotted(v, off + SIN_ADDR);
  return in6Address(v, off + SIN6_ADDR, v.getUint32(off + SIN6_SCOPE_ID, true), interfaceName);
}

/**
 * The struct in6_addr at `a` as text, written as sockaddrAddress writes it; `scope` is the
 * interface index a link-local address is qualified with (0: none).
 */
export function in6Address(
  v: DataView,
  a: number,
  scope: number,
  interfaceName: (index: number) => string,
): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(v.getUint16(a + 2 * i));
  // The first longest run of two or more zero words becomes "::" (ties: the first one).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  // libuv prints an IPv4 tail for ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible) only.
  if (best === 0 && bestLen === 5 && words[5] === 0xffff) return dotted(v, a + 12);
  if (best === 0 && bestLen === 6) return `::${dotted(v, a + 12)}`;
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      text += "::";
      i += bestLen - 1;
      continue;
    }
    if (text !== "" && !text.endsWith(":")) text += ":";
    text += (words[i] ?? 0).toString(16);
  }
  // IN6_IS_ADDR_LINKLOCAL: fe80::/10
  if (((words[0] ?? 0) & 0xffc0) === 0xfe80 && scope > 0) text += `%${interfaceName(scope)}`;
  return text;
}
