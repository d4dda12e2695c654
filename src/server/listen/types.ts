/** What every listener hands to the daemon: the payload and where it came from. */
export interface Datagram {
  data: string;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  transport: "udp" | "tcp" | "icmp";
}

export type OnPayload = (d: Datagram) => void;

export interface Listener {
  readonly description: string;
  close(): Promise<void>;
}

/** "::ffff:198.18.0.2" -> "198.18.0.2", so IPv4 clients of a dual-stack socket look like IPv4. */
export function plainAddress(a: string): string {
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}
