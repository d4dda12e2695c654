/**
 * The status file `fwknopd --status` reads: the pid, when it was written and the live grants,
 * as JSON, written atomically (temporary file, then rename) and throttled.
 */
import { renameSync, writeFileSync } from "node:fs";
import type { Grant } from "../firewall/types.js";
import type { GrantConnections } from "../grants/attribution.js";

export const STATUS_FILE_NAME = "fwknopd.status.json";

export interface StatusGrant {
  user: string;
  address: string;
  proto: string;
  port: number;
  stanza: number;
  expiresAt: number;
  /** The daemon's grant number (absent for grants found at start). */
  id?: number;
  /** MAX_CONNECTIONS of the grant, when counted. */
  maxConnections?: number;
  /** Connections the grant admitted (LOG_GRANT_CONNECTIONS), and the latest of them. */
  connections?: number;
  recent?: string[];
}

/** A live grant as --status shows it, with the connections it admitted when they are known. */
export function statusGrantOf(g: Grant, conns: GrantConnections | null): StatusGrant {
  return {
    user: g.user,
    address: g.address,
    proto: g.proto,
    port: g.port,
    stanza: g.stanza,
    expiresAt: g.expiresAt,
    ...(g.id !== undefined ? { id: g.id } : {}),
    ...(g.maxConnections !== undefined ? { maxConnections: g.maxConnections } : {}),
    ...(conns !== null ? { connections: conns.count, recent: conns.recent } : {}),
  };
}

const STATUS_MIN_INTERVAL_MS = 100;

export interface StatusFileDeps {
  /** Read at every write: a reload may name another run directory. */
  path: () => string;
  nowSecs: () => number;
  /** Milliseconds, for the throttle. */
  nowMs: () => number;
  grants: () => StatusGrant[];
}

export class StatusFile {
  private writtenMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: StatusFileDeps) {}

  /**
   * After a change: written at once when it was last written over 100 ms ago, else once when
   * those 100 ms are up (so at most ten writes a second). Rewriting every live grant on every
   * grant made a burst of grants cost quadratic time on the receive loop (bench/grants.ts).
   */
  changed(): void {
    if (this.timer !== null) return;
    const wait = this.writtenMs + STATUS_MIN_INTERVAL_MS - this.deps.nowMs();
    if (wait <= 0) {
      this.write();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.write();
    }, wait);
    this.timer.unref();
  }

  write(): void {
    this.writtenMs = this.deps.nowMs();
    const body = JSON.stringify({
      pid: process.pid,
      written: this.deps.nowSecs(),
      grants: this.deps.grants(),
    });
    const path = this.deps.path();
    const tmp = `${path}.tmp`;
    try {
      writeFileSync(tmp, body, { mode: 0o600 });
      renameSync(tmp, path);
    } catch {
      // status is a convenience; never let it stop the daemon
    }
  }

  /** A pending write is dropped. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
  }
}
