/**
 * fwknopd's gpg runs, bounded. Each run is a gpg process (tens of ms, more on a busy host), and
 * without an HMAC anyone can make the daemon try one, so at most `concurrent` run at once and at
 * most `queued` wait; past that a packet is dropped at once (the pipeline logs the refusal)
 * instead of forking without limit. One GpgBinary per (gpg, keyring) pair.
 */
import { GpgBinary } from "../gpg/gpg-binary.js";
import { openGpgSpa, type GpgOpened } from "../gpg/open.js";
import type { GpgEngine, Result } from "../spa/index.js";
import type { ResolvedGpg } from "./pipeline/served-stanza.js";
import type { GpgOpener } from "./pipeline/types.js";

export interface GpgRunnerOptions {
  concurrent: number;
  queued: number;
  timeoutMs: number;
  /** Builds the engine for a stanza's gpg and keyring (tests pass a fake). */
  engine?: (exe: string, homeDir: string) => GpgEngine;
}

export class GpgRunner {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly engines = new Map<string, GpgEngine>();

  constructor(private readonly opts: GpgRunnerOptions) {}

  /** Runs now or soon; null when the bound is reached. */
  readonly open: GpgOpener = (g, candidates) => {
    if (this.active + this.waiting.length >= this.opts.concurrent + this.opts.queued) return null;
    return this.run(g, candidates);
  };

  get inUse(): number {
    return this.active + this.waiting.length;
  }

  private async run(g: ResolvedGpg, candidates: readonly string[]): Promise<Result<GpgOpened>> {
    if (this.active >= this.opts.concurrent)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await openGpgSpa(candidates, this.engineFor(g), g.decryptPw);
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.active--;
    }
  }

  private engineFor(g: ResolvedGpg): GpgEngine {
    const key = `${g.exe}\0${g.homeDir}`;
    let e = this.engines.get(key);
    if (e === undefined) {
      e =
        this.opts.engine?.(g.exe, g.homeDir) ??
        new GpgBinary({ exe: g.exe, homeDir: g.homeDir, timeoutMs: this.opts.timeoutMs });
      this.engines.set(key, e);
    }
    return e;
  }
}
