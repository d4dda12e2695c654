/**
 * A co-tenant's flood (issue 14): B sends SPA-shaped junk (right shape and charset, wrong keys,
 * so each datagram that reaches the daemon costs it an HMAC) from the shared address to the SPA
 * port at `junkRate` a second for `seconds`, while A knocks `knocks` times, each for its own port
 * (so each grant is its own log line). Honoured = knocks whose grant the daemon logged. Also says
 * how many datagrams reached the server's UDP sockets (after any kernel meter), which tells what
 * the daemon had to absorb.
 */
import { randomBytes } from "node:crypto";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { knockFromA } from "./co-tenant.js";
import type { DaemonKeys } from "./co-tenant-modes.js";
import type { Client } from "./knock.js";
import type { NatRig } from "./nat-rig.js";
import { epochMs } from "./ns-agent-tenant.js";
import type { TsFwknopd } from "./ts-fwknopd.js";
import { waitFor } from "./rig.js";

export interface FloodOptions {
  nat: NatRig;
  daemon: TsFwknopd;
  keys: DaemonKeys;
  client: Client;
  home: string;
  /** A knocks for firstPort, firstPort + 1, ... */
  firstPort: number;
  knocks?: number;
  junkRate?: number;
  seconds?: number;
  spaPort?: number;
}

export interface FloodResult {
  knocks: number;
  honoured: number;
  junkSent: number;
  /** Datagrams delivered to the server namespace's UDP sockets during the run. */
  delivered: number;
  /** Of those, dropped because the daemon's socket buffer was full. */
  rcvbufDropped: number;
  /** A's knocks that failed to run (the client's own error). */
  knockErrors: number;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Junk shaped like an access request from the shared address, under random keys. */
export function junkSpa(nat: NatRig, count: number): string[] {
  return Array.from({ length: count }, () =>
    freshSpaWire(
      { mode: "cbc", key: randomBytes(32), hmac: { type: "sha256", key: randomBytes(64) } },
      { username: "root", message: `${nat.sharedIp},tcp/22` },
    ),
  );
}

export async function runFlood(o: FloodOptions): Promise<FloodResult> {
  const { nat, daemon } = o;
  const n = o.knocks ?? 10;
  const seconds = o.seconds ?? 3;
  const spaPort = o.spaPort ?? 62201;
  const junk = junkSpa(nat, 64);
  const udp0 = await nat.rig.udpCounters(nat.ns.server);
  const t0 = epochMs();
  const flood = nat.udpRate("b", spaPort, junk, o.junkRate ?? 10_000, seconds);
  // The knocks start once the flood runs and end before it does.
  const spacing = (seconds * 1000 - 600) / n;
  let knockErrors = 0;
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 300 + i * spacing - epochMs())));
    const knock = knockFromA(nat, o.client, o.keys.key, o.keys.hmacKey, o.firstPort + i, o.home);
    await knock().catch(() => knockErrors++);
  }
  const junkSent = await flood;
  const granted = (): number =>
    Array.from({ length: n }, (_, i) => o.firstPort + i).filter((p) =>
      new RegExp(
        `Added access for user '[^']*' \\(stanza #\\d+\\) from ${esc(nat.sharedIp)} to tcp/${p} `,
      ).test(daemon.logs()),
    ).length;
  await waitFor(() => granted() === n, 2000);
  const udp1 = await nat.rig.udpCounters(nat.ns.server);
  return {
    knocks: n,
    honoured: granted(),
    junkSent,
    delivered: udp1.inDatagrams - udp0.inDatagrams,
    rcvbufDropped: udp1.rcvbufErrors - udp0.rcvbufErrors,
    knockErrors,
  };
}
