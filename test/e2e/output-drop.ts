/**
 * A Debian-style /etc/nftables.conf whose input and output chains both default-drop (loopback,
 * inbound established and the ICMPv6 neighbour discovery needs allowed; no established output,
 * which is what makes OUTPUT rules necessary), with udp/`spaPort` open when given.
 */
export const nftOutputDropHost = (spaPort: number | null): string => `flush ruleset
table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    meta l4proto ipv6-icmp accept
${spaPort === null ? "" : `    udp dport ${spaPort} accept\n`}  }
  chain forward {
    type filter hook forward priority filter; policy drop;
  }
  chain output {
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    meta l4proto ipv6-icmp accept
  }
}
`;
