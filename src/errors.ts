/**
 * Errors by blame, each with a stable code (style.md). Callers switch on `code`; the message is what
 * an operator reads.
 */
export abstract class FwknopTsError extends Error {
  abstract readonly code: string;
}

/** The caller misused a command: unknown flag, bad value. Names the flag. */
export class UsageError extends FwknopTsError {
  readonly code = "E_USAGE";
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
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = "ConfigError";
  }
}

/** The machine lacks something or refused an operation (file, socket, missing program). */
export class EnvironmentError extends FwknopTsError {
  readonly code = "E_ENV";
  constructor(message: string) {
    super(message);
    this.name = "EnvironmentError";
  }
}
