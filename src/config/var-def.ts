/** The shape of a fwknopd.conf variable's declaration, and the helpers that declare one. */
export type VarKind =
  | "bool"
  | "int"
  | "string"
  | "path"
  | "absdir"
  | "chain"
  | "facility"
  | "firewall"
  | "nftname"
  | "nftfamily"
  | "nftjump"
  | "nfqtable"
  | "ifname"
  | "listen"
  | "logformat";

/** A default may depend on other variables (ENABLE_SPA_PACKET_AGING on PCAP_FILE). */
export type DefaultFn = (isSet: (name: string) => boolean) => string;

export interface VarDef {
  readonly name: string;
  readonly kind: VarKind;
  /** Default as text; a leading "$NAME" refers to another variable; null = unset. */
  readonly def: string | null | DefaultFn;
  readonly min?: number;
  readonly max?: number;
  readonly doc: string;
  readonly dead?: boolean;
  readonly ours?: boolean;
  readonly secret?: boolean;
}

interface Extra {
  readonly dead?: boolean;
  readonly ours?: boolean;
  readonly secret?: boolean;
}

type Def<N extends string, K extends VarKind, D> = Extra & {
  readonly name: N;
  readonly kind: K;
  readonly def: D;
  readonly doc: string;
  readonly min?: number;
  readonly max?: number;
};

export const b = <const N extends string, const D extends "Y" | "N" | null | DefaultFn>(
  name: N,
  def: D,
  doc: string,
  extra: Extra = {},
): Def<N, "bool", D> => ({ name, kind: "bool", def, doc, ...extra });

export const i = <const N extends string, const D extends number | null>(
  name: N,
  def: D,
  min: number,
  max: number,
  doc: string,
  extra: Extra = {},
): Def<N, "int", D extends null ? null : string> => ({
  name,
  kind: "int",
  def: (def === null ? null : String(def)) as D extends null ? null : string,
  min,
  max,
  doc,
  ...extra,
});

export const s = <const N extends string, const D extends string | null>(
  name: N,
  def: D,
  doc: string,
  extra: Extra = {},
): Def<N, "string", D> => ({ name, kind: "string", def, doc, ...extra });

export const p = <const N extends string, const D extends string | null>(
  name: N,
  def: D,
  doc: string,
  extra: Extra = {},
): Def<N, "path", D> => ({ name, kind: "path", def, doc, ...extra });

export const k = <const N extends string, const K extends VarKind, const D extends string | null>(
  name: N,
  kind: K,
  def: D,
  doc: string,
  extra: Extra = {},
): Def<N, K, D> => ({ name, kind, def, doc, ...extra });

export const chain = <const N extends string>(
  name: N,
  def: string,
  doc: string,
): Def<N, "chain", string> => k(name, "chain", def, doc);
