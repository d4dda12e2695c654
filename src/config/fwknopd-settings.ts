/**
 * The typed view of fwknopd.conf, derived from the variable table so each variable is still
 * declared once: ENABLE_UDP_SERVER becomes `enableUdpServer: boolean`, UDPSERV_PORT
 * `udpservPort: number`, IPT_INPUT_ACCESS `iptInputAccess: ChainSpec`. A variable with no default
 * is `| null` until set.
 */
import type { ChainSpec } from "./chain-spec.js";
import type { ListenAddress } from "./listen-address.js";
import type { FWKNOPD_VARS, VarKind } from "./fwknopd-vars.js";

interface KindValue {
  bool: boolean;
  int: number;
  string: string;
  path: string;
  absdir: string;
  chain: ChainSpec;
  facility: string;
  firewall: "auto" | "nftables" | "iptables" | "firewalld";
  nftname: string;
  nftfamily: "inet" | "ip" | "ip6";
  nftjump: string;
  nfqtable: "raw" | "mangle" | "filter" | "security";
  ifname: string;
  listen: ListenAddress;
  logformat: "text" | "json";
}

type Word<W extends string> = Capitalize<Lowercase<W>>;
type Tail<S extends string> = S extends `${infer H}_${infer T}` ? `${Word<H>}${Tail<T>}` : Word<S>;
export type CamelCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Lowercase<H>}${Tail<T>}`
  : Lowercase<S>;

type Entry = (typeof FWKNOPD_VARS)[number];
type ValueOf<E extends { kind: VarKind; def: unknown }> = E["def"] extends null
  ? KindValue[E["kind"]] | null
  : KindValue[E["kind"]];

/** The typed value of the variable named N (the same mapping as FwknopdSettings). */
export type SettingOf<N extends string> = ValueOf<Extract<Entry, { name: N }>>;

export type FwknopdSettings = {
  readonly [E in Entry as CamelCase<E["name"]>]: ValueOf<E>;
};

/** The runtime twin of CamelCase: "ENABLE_UDP_SERVER" -> "enableUdpServer". */
export function camelCase(name: string): string {
  return name
    .toLowerCase()
    .split("_")
    .map((w, n) => (n === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1)))
    .join("");
}
