/**
 * What a row of the client's option table is, and the setters rows are made of: each setter can
 * only write a config field of the right type (KeysOf<T>), so a row cannot set the wrong kind of
 * value.
 */
import { MAX_PORT, parseDigestName, type DigestName } from "../../spa/index.js";
import type { OptSpec } from "../../argv/getopt.js";
import type { ClientConfig } from "../config.js";

/** Raises the error that fits where the value came from (flag or rc file line). */
export type Bad = (message: string) => never;
export type Setter = (cfg: ClientConfig, value: string, bad: Bad) => void;

export interface ClientOption extends OptSpec {
  /** The ~/.fwknoprc variable, if any. */
  rc?: string;
  metavar?: string;
  group: "access" | "transport" | "crypto" | "gpg" | "rc" | "output";
  help: string;
  set: Setter;
  /** Flags read before the rc file (client/config_init.c first pass). */
  early?: boolean;
  /** On the command line (not in the rc file) this also turns GPG on, as in C. */
  impliesGpg?: boolean;
  /** A fwknop-ts extension: C fwknop has no such option. */
  ours?: boolean;
}

/** rc booleans: only the first character counts, Y or y means yes (client/config_init.c). */
export function rcBool(value: string): boolean {
  return value.charAt(0).toUpperCase() === "Y";
}

export function int(value: string, min: number, max: number, what: string, bad: Bad): number {
  if (!/^[0-9]+$/.test(value)) bad(`${what} must be a number, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) bad(`${what} ${value} out of range [${min}-${max}]`);
  return n;
}

export function digest(value: string, bad: Bad): DigestName {
  const d = parseDigestName(value);
  if (d === undefined)
    bad(`Invalid digest type: ${value}, use {md5,sha1,sha256,sha384,sha512,sha3_256,sha3_512}`);
  return d;
}

/** client/fwknop.c:parse_time_offset: up to 8 digits, at most 65536, then an optional m/h/d. */
export function timeOffset(value: string, bad: Bad): number {
  const m = /^([0-9]{1,8})([mhdMHD]?)$/.exec(value);
  if (m === null) bad(`Invalid time offset: '${value}' (use N, Nm, Nh or Nd)`);
  const n = Number(m[1]);
  if (n > 65536) bad(`Invalid time offset: '${value}' (at most 65536 before the unit)`);
  const unit = (m[2] ?? "").toLowerCase();
  return n * (unit === "m" ? 60 : unit === "h" ? 3600 : unit === "d" ? 86400 : 1);
}

/** The settings whose type is exactly T. */
type KeysOf<T> = {
  [K in keyof ClientConfig]: [ClientConfig[K]] extends [T]
    ? [T] extends [ClientConfig[K]]
      ? K
      : never
    : never;
}[keyof ClientConfig];

/** A text setting. */
export const text =
  (key: KeysOf<string | null>): Setter =>
  (cfg, v) => {
    cfg[key] = v;
  };

/** A yes/no setting: a bare flag on the command line, Y/N in the rc file. */
export const onOff =
  (key: KeysOf<boolean>): Setter =>
  (cfg, v) => {
    cfg[key] = v === "" ? true : rcBool(v);
  };

/** A port number 1..65535. */
export const portNum =
  (key: KeysOf<number | null> | KeysOf<number>, what: string): Setter =>
  (cfg, v, bad) => {
    cfg[key] = int(v, 1, MAX_PORT, what, bad);
  };
