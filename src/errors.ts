/**
 * Errors by blame, each with a stable code (style.md; after undici's one-base-class-per-failure and
 * the MongoDB driver's split by who is at fault). Callers switch on `code`; the message is what an
 * operator reads; `blame` decides the exit status:
 *   user         the command line or a configuration file is wrong (names the flag, or file:line) 1
 *   environment  the machine lacks or refused something: a program, a permission, the firewall   2
 *   peer         the other side said no or sent nonsense (logged on the packet path, not thrown) 1
 *   internal     a bug of ours: exit 70 (EX_SOFTWARE) with the stack
 * C fwknop exits 1 for every failure. fwknopd's distinct statuses are ours (2 and 70), so a
 * service manager can tell "fix the config" from "fix the machine" from "report a bug"; the client
 * keeps C's 1 for everything but a bug (70), since scripts test for it.
 * This module imports nothing: every layer, spa/ included, may build on it.
 */
export type Blame = "user" | "environment" | "peer" | "internal";

export const EXIT_STATUS: Readonly<Record<Blame, number>> = {
  user: 1,
  environment: 2,
  peer: 1,
  internal: 70,
};

export abstract class FwknopTsError extends Error {
  abstract readonly code: string;
  abstract readonly blame: Blame;
}

/** The caller misused a command: unknown flag, bad value. Names the flag. */
export class UsageError extends FwknopTsError {
  readonly code = "E_USAGE";
  readonly blame = "user";
  constructor(
    message: string,
    readonly flag?: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** A configuration file says something we cannot accept. Names file, line and value. */
export class ConfigError extends FwknopTsError {
  readonly code = "E_CONFIG";
  readonly blame = "user";
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    // Line 0 stands for the whole file (cannot read it, not a regular file): no ":0".
    super(line > 0 ? `${file}:${line}: ${detail}` : `${file}: ${detail}`);
    this.name = "ConfigError";
  }
}

/** The machine lacks something or refused an operation (file, socket, missing program). */
export class EnvironmentError extends FwknopTsError {
  readonly code: string = "E_ENV";
  readonly blame = "environment";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EnvironmentError";
  }
}

/** The other side refused or sent something we cannot use (a D-Bus peer, a resolver). */
export class PeerError extends FwknopTsError {
  readonly code = "E_PEER";
  readonly blame = "peer";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PeerError";
  }
}

/** Something that cannot happen did: a bug of ours. */
export class InternalError extends FwknopTsError {
  readonly code = "E_INTERNAL";
  readonly blame = "internal";
  constructor(message: string, options?: { cause?: unknown }) {
    super(`internal: ${message}`, options);
    this.name = "InternalError";
  }
}

/** The exit status for an error that reached main(): by blame; anything not ours is a bug. */
export function exitStatusOf(e: unknown): number {
  return e instanceof FwknopTsError ? EXIT_STATUS[e.blame] : EXIT_STATUS.internal;
}

/** The text of anything thrown, without assuming it is an Error. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
