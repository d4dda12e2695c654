/**
 * Hosts shaped like real users' hosts, built inside the rig's server network namespace only (the
 * rig applies one with createRig({ deny: shape, servicePort, spaPort }) or rig.defaultDeny()). An
 * SPA grant is proven only by a real connect through one of these (style.md, "Lessons paid for").
 *
 * | shape            | what it is                                     | written with                |
 * | ---------------- | ---------------------------------------------- | --------------------------- |
 * | none             | nothing: every port open                       | -                           |
 * | nftables-open    | the same, named as a host whose ruleset is empty (`nft list ruleset` prints nothing) |
 * | iptables         | one REJECT for the protected port at the end of INPUT (the rig's oldest shape)       |
 * | nftables         | an admin table `inet admin`, input policy drop (the rig's hardened nft host)         |
 * | ufw-like         | ufw's INPUT path, condensed, policy DROP       | iptables-restore (nf_tables)|
 * | iptables-legacy  | the same ruleset on x_tables                   | iptables-legacy-restore     |
 * | debian-nftables  | Debian 12's /etc/nftables.conf, input policy drop | nft -f                   |
 * | ufw              | the real ufw, `ufw --force enable` + `ufw allow SPA/udp` (ufw.ts)             |
 *
 * Every dropping shape accepts loopback, established/related flows, ICMP (and the ICMPv6 that
 * neighbour discovery needs, or IPv6 would not work at all) and udp/SPA, and has nothing for the
 * protected TCP port, for IPv4 and IPv6. HostInfo tells a test which host it is on and shows its
 * ruleset with the tool that host's admin would use.
 *
 * Findings:
 * - iptables-legacy works in this kernel (6.18, ip_tables/ip6_tables built in): the legacy tables
 *   are created per network namespace on first use. Do not run iptables-legacy in the host's
 *   namespace even to list: that alone registers a legacy filter table there, and from then on the
 *   host's iptables-nft prints "# Warning: iptables-legacy tables present".
 * - On the iptables-legacy host a rule added with iptables-nft (Debian's /usr/sbin/iptables, which
 *   C fwknopd runs by default) lands in nft's `ip filter` table; the packet still meets x_tables'
 *   INPUT policy DROP, so such an ACCEPT opens nothing. The binary must match the host's variant.
 * - LOG rules of ufw's are left out of ufw-like (in a non-initial network namespace they log
 *   nothing unless net.netfilter.nf_log_all_netns=1, a host-wide switch); the real ufw has them.
 */
import type { Rig } from "./rig.js";
import { startUfw, type Ufw } from "./ufw.js";

export type HostShape =
  | "none"
  | "nftables-open"
  | "iptables"
  | "nftables"
  | "ufw-like"
  | "iptables-legacy"
  | "debian-nftables"
  | "ufw";

/** The shapes modelled on real hosts (the rest are the rig's older, minimal ones). */
export const REAL_HOST_SHAPES = [
  "ufw-like",
  "iptables-legacy",
  "debian-nftables",
  "nftables-open",
  "ufw",
] as const satisfies readonly HostShape[];

export interface HostPorts {
  /** The UDP port left open for SPA (fwknopd's UDPSERV_PORT / PCAP filter port). */
  spaPort: number;
  /** The TCP port the host keeps closed until a grant opens it. */
  protectedPort: number;
}

export interface HostInfo extends HostPorts {
  readonly name: HostShape;
  /** Does this host drop new connections to the protected port? (false: none, nftables-open) */
  readonly drops: boolean;
  /** Which tool holds the ruleset: what a grant must be written with to be final. */
  readonly tool: "iptables-nft" | "iptables-legacy" | "nft" | null;
  /** The real ufw's harness (exec/wrap/spawn in its mount + net namespace), for shape "ufw". */
  readonly ufw: Ufw | null;
  /** The ruleset as that host's admin would list it (`iptables -S`, `nft list ruleset`, ...). */
  ruleset(): Promise<string>;
}

/**
 * ufw's INPUT path as `ufw --force enable; ufw allow SPA/udp` writes it on Debian 12 (ufw 0.36.2;
 * /usr/share/ufw/iptables/before.rules, before6.rules, user.rules and ufw-init-functions'
 * built-in chain hooks), condensed to what decides a new packet's fate: INPUT -> ufw-before-input
 * (loopback, conntrack, INVALID, ICMP) -> ufw-user-input (the allow rule) -> INPUT policy DROP.
 * FORWARD DROP and OUTPUT ACCEPT are ufw's defaults (/etc/default/ufw).
 */
export function ufwLikeRules(family: 4 | 6, spaPort: number): string {
  const c = family === 4 ? "ufw" : "ufw6";
  const icmp =
    family === 4
      ? // before.rules: "ok icmp codes for INPUT"
        ["destination-unreachable", "time-exceeded", "parameter-problem", "echo-request"].map(
          (t) => `-A ${c}-before-input -p icmp -m icmp --icmp-type ${t} -j ACCEPT`,
        )
      : // before6.rules: errors and echo, then neighbour discovery only with hop limit 255
        [
          ...[1, 2, 3, 4, 128].map(
            (t) => `-A ${c}-before-input -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j ACCEPT`,
          ),
          ...[133, 134, 135, 136].map(
            (t) =>
              `-A ${c}-before-input -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -m hl --hl-eq 255 -j ACCEPT`,
          ),
        ];
  return [
    "*filter",
    ":INPUT DROP [0:0]",
    ":FORWARD DROP [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    `:${c}-before-input - [0:0]`,
    `:${c}-user-input - [0:0]`,
    `-A INPUT -j ${c}-before-input`,
    `-A ${c}-before-input -i lo -j ACCEPT`,
    `-A ${c}-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${c}-before-input -m conntrack --ctstate INVALID -j DROP`,
    ...icmp,
    `-A ${c}-before-input -j ${c}-user-input`,
    `-A ${c}-user-input -p udp -m udp --dport ${spaPort} -j ACCEPT`,
    "COMMIT",
    "",
  ].join("\n");
}

/**
 * Debian 12's /etc/nftables.conf (package nftables 1.0.6: `flush ruleset`, `table inet filter`
 * with input, forward and output base chains at priority filter, all accepting) turned into a
 * default-drop host the way the package's own examples/workstation.nft does it: loopback,
 * established/related, the ICMPv6 of RFC 4890 4.4.1, plus ICMP and the SPA port.
 */
export function debianNftablesRules(spaPort: number): string {
  return [
    "flush ruleset",
    "",
    "table inet filter {",
    "\tchain input {",
    "\t\ttype filter hook input priority filter; policy drop;",
    "\t\tiif lo accept",
    "\t\tct state established,related accept",
    "\t\tmeta nfproto ipv6 icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-reply, echo-request, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, 148, 149 } accept",
    "\t\tip6 saddr fe80::/10 icmpv6 type { 130, 131, 132, 143, 151, 152, 153 } accept",
    "\t\tip protocol icmp accept",
    `\t\tudp dport ${spaPort} accept`,
    "\t}",
    "\tchain forward {",
    "\t\ttype filter hook forward priority filter;",
    "\t}",
    "\tchain output {",
    "\t\ttype filter hook output priority filter;",
    "\t}",
    "}",
    "",
  ].join("\n");
}

/** The rig's hardened nft host: an admin table of its own that drops by policy. */
function adminTableRules(spaPort: number): string {
  return [
    "table inet admin {",
    "  chain input {",
    "    type filter hook input priority 0; policy drop;",
    '    iif "lo" accept',
    "    ct state established,related accept",
    "    meta l4proto { icmp, ipv6-icmp } accept",
    `    udp dport ${spaPort} accept`,
    "  }",
    "}",
  ].join("\n");
}

const IPTABLES_NFT = { v4: "iptables", v6: "ip6tables" } as const;
const IPTABLES_LEGACY = { v4: "iptables-legacy", v6: "ip6tables-legacy" } as const;

async function restore(rig: Rig, bins: { v4: string; v6: string }, spaPort: number) {
  for (const [bin, family] of [
    [bins.v4, 4],
    [bins.v6, 6],
  ] as const) {
    const r = await rig.run(rig.serverNs, [`${bin}-restore`], {
      input: ufwLikeRules(family, spaPort),
    });
    if (r.code !== 0) throw new Error(`${bin}-restore failed: ${r.stderr}`);
  }
}

async function nftLoad(rig: Rig, rules: string): Promise<void> {
  const r = await rig.run(rig.serverNs, ["nft", "-f", "-"], { input: rules });
  if (r.code !== 0) throw new Error(`nft -f failed: ${r.stderr}`);
}

/** Apply `shape` in rig.serverNs and describe the host it makes. */
export async function applyHostShape(
  rig: Rig,
  shape: HostShape,
  ports: HostPorts,
): Promise<HostInfo> {
  const { spaPort, protectedPort } = ports;
  const listing = (argvs: readonly (readonly string[])[]) => async (): Promise<string> => {
    const out: string[] = [];
    for (const argv of argvs) out.push(`# ${argv.join(" ")}`, await rig.must(rig.serverNs, argv));
    return out.join("\n");
  };
  const iptList = (b: { v4: string; v6: string }) =>
    listing([
      [b.v4, "-S"],
      [b.v6, "-S"],
    ]);
  const nftList = listing([["nft", "list", "ruleset"]]);
  const host = (
    tool: HostInfo["tool"],
    ruleset: () => Promise<string>,
    ufw: Ufw | null = null,
  ) => ({
    name: shape,
    spaPort,
    protectedPort,
    drops: tool !== null,
    tool,
    ufw,
    ruleset,
  });
  switch (shape) {
    case "none":
    case "nftables-open":
      return host(null, nftList);
    case "iptables":
      for (const bin of ["iptables", "ip6tables"]) {
        const reject = ["-j", "REJECT", "--reject-with", "tcp-reset"];
        const match = ["-p", "tcp", "--dport", String(protectedPort)];
        await rig.must(rig.serverNs, [bin, "-A", "INPUT", ...match, ...reject]);
      }
      return host("iptables-nft", iptList(IPTABLES_NFT));
    case "nftables":
      await nftLoad(rig, adminTableRules(spaPort));
      return host("nft", nftList);
    case "ufw-like":
      await restore(rig, IPTABLES_NFT, spaPort);
      return host("iptables-nft", iptList(IPTABLES_NFT));
    case "iptables-legacy":
      await restore(rig, IPTABLES_LEGACY, spaPort);
      return host("iptables-legacy", iptList(IPTABLES_LEGACY));
    case "debian-nftables":
      await nftLoad(rig, debianNftablesRules(spaPort));
      return host("nft", nftList);
    case "ufw": {
      const ufw = await startUfw(rig, { allow: [`${spaPort}/udp`] });
      rig.own(ufw);
      return host("iptables-nft", iptList(IPTABLES_NFT), ufw);
    }
  }
}
