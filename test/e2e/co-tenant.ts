/**
 * The co-tenant scenario (issue 14) on the NAT rig (nat-rig.ts): A and B share one address; A
 * knocks and connects; B, who has no key, tries the protected port every millisecond from before
 * A's knock until after the grant has ended. What a mode is judged on:
 *   aConnected        A got the service's banner within the retry window after its knock
 *   bReached          B's connections that got the banner while A's grant could be open
 *   bBefore / bAfter  B's connections before A's knock / after the grant's latest possible end
 *   aAliveAfterGrant  A's connection still carries a line both ways after the grant has ended
 *   aNewAfterGrant    a fresh connection from A got through after the grant (expected false)
 * The grant's latest possible end is A's handshake plus FW_ACCESS_TIMEOUT plus `slackMs`: the
 * grant existed before A's handshake, and the kernel ends a set element `timeout` after it was
 * added. A mode that ends grants earlier (counted grants) only makes bReached smaller.
 *
 * Used by test/e2e/co-tenant.test.ts (asserting today's facts) and bench/co-tenant.ts (a table
 * row per mode). Modes live in co-tenant-modes.ts.
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { clientArgv, clientEnv, keyArgs, type Client } from "./knock.js";
import type { NatRig } from "./nat-rig.js";
import { epochMs } from "./ns-agent-tenant.js";
import { waitFor } from "./rig.js";

/** A's connection to the protected service, however it was made. */
export interface AConnection {
  banner: string;
  /** When the connection was made (epoch ms): the TCP handshake, or the banner's arrival. */
  at: number;
  /** Does a line sent still come back? */
  echo(): Promise<boolean>;
  close(): Promise<void>;
}

/** How A knocks and connects: what a mode says, with the pieces the scenario knows. */
export interface ConnectContext {
  nat: NatRig;
  client: Client;
  port: number;
  /** The client's key options (--key-base64-rijndael ... --use-hmac). */
  keys: readonly string[];
  home: string;
  retryMs: number;
}

/**
 * "plain": A's knock (the scenario's `knock`), then plain TCP connects until one gets through.
 * "command": one program in A's namespace that knocks and connects itself and relays the
 * connection on its stdin/stdout (ssh's ProxyCommand shape, e.g. `fwknop --connect`); the
 * scenario's `knock` is not called.
 */
export type ConnectHow =
  { kind: "plain" } | { kind: "command"; argv: (c: ConnectContext) => string[] };

export interface CoTenantOptions {
  nat: NatRig;
  /** The protected service's TCP port on the server. */
  port: number;
  /** The stanza's FW_ACCESS_TIMEOUT, seconds. */
  accessTimeoutS: number;
  /** A's knock (for "plain"); must resolve once the SPA has been sent. */
  knock: () => Promise<void>;
  connect?: ConnectHow;
  /** Needed by "command" connects. */
  context?: Omit<ConnectContext, "nat" | "port" | "retryMs">;
  /** B polls this long before A knocks; default 500 ms. */
  preMs?: number;
  /** A's connect window after its knock; default 3000 ms. */
  connectRetryMs?: number;
  /** Added to the grant's nominal end; default 300 ms. */
  slackMs?: number;
  /** B polls this long after the grant's latest end; default 1000 ms. */
  postMs?: number;
  /** B's poller: attempt spacing and per-attempt time; default 1 ms and 100 ms. */
  poll?: { intervalMs?: number; timeoutMs?: number };
}

export interface CoTenantResult {
  aConnected: boolean;
  aBanner: string | null;
  aAliveAfterGrant: boolean;
  aNewAfterGrant: boolean;
  bReached: number;
  bBefore: number;
  bAfter: number;
  bAttempts: number;
  /** The peers the service named in B's banners (one: the shared address). */
  bPeers: string[];
  /** Milliseconds from the start of A's knock. */
  timings: {
    /** The knock's run; for a command connect, until its connection gave the banner. */
    knockMs: number;
    aConnectMs: number | null;
    bFirstMs: number | null;
    bLastMs: number | null;
    /** The grant's latest possible end. */
    grantEndMs: number;
    totalMs: number;
  };
}

const sleepUntil = (t: number): Promise<void> =>
  new Promise((r) => setTimeout(r, Math.max(0, t - epochMs())));

/** A's connection held by its namespace agent. */
async function plainConnect(nat: NatRig, port: number, retryMs: number, name: string) {
  const h = await nat.hold("a", name, port, retryMs);
  if (h === null) return null;
  const c: AConnection = {
    banner: h.banner,
    at: h.at,
    echo: () => nat.echo("a", name),
    close: () => nat.release("a", name),
  };
  return c;
}

/** A's connection through a program's stdin/stdout; the program is killed (by PID) at close. */
async function commandConnect(nat: NatRig, argv: readonly string[], env: NodeJS.ProcessEnv) {
  const p: ChildProcess = nat.spawn("a", argv, env);
  const lines: string[] = [];
  let at = NaN;
  if (p.stdout !== null)
    createInterface({ input: p.stdout }).on("line", (l) => {
      if (lines.length === 0) at = epochMs();
      if (lines.length < 1000) lines.push(l.trim());
    });
  const stop = async (): Promise<void> => {
    p.kill("SIGTERM");
    await waitFor(() => p.exitCode !== null || p.signalCode !== null, 2000);
  };
  const gone = (): boolean => p.exitCode !== null || p.signalCode !== null;
  if (!(await waitFor(() => lines.length > 0 || gone(), 10_000, 2)) || lines.length === 0) {
    await stop();
    return null;
  }
  let n = 0;
  const c: AConnection = {
    banner: lines[0] ?? "",
    at,
    echo: async () => {
      const token = `ping-${process.pid}-${++n}`;
      p.stdin?.write(`${token}\n`);
      return waitFor(() => lines.includes(token), 1000, 5);
    },
    close: stop,
  };
  return c;
}

/** Run the scenario once (see the header). B's poller and A's connection end before it returns. */
export async function runCoTenant(o: CoTenantOptions): Promise<CoTenantResult> {
  const { nat, port } = o;
  const how = o.connect ?? { kind: "plain" };
  const retryMs = o.connectRetryMs ?? 3000;
  const slackMs = o.slackMs ?? 300;
  const poller = `b-${port}-${Math.round(epochMs())}`;
  await nat.pollStart("b", poller, port, {
    ...o.poll,
    maxMs: (o.preMs ?? 500) + retryMs + o.accessTimeoutS * 1000 + slackMs + 30_000,
  });
  let a: AConnection | null = null;
  try {
    await sleepUntil(epochMs() + (o.preMs ?? 500));
    const t0 = epochMs();
    let knocked = t0;
    if (how.kind === "plain") {
      await o.knock();
      knocked = epochMs();
      a = await plainConnect(nat, port, retryMs, "a");
    } else {
      if (o.context === undefined) throw new Error("a command connect needs `context`");
      const ctx: ConnectContext = { ...o.context, nat, port, retryMs };
      a = await commandConnect(nat, how.argv(ctx), clientEnv(ctx.home));
      knocked = epochMs();
    }
    const grantEnd = (a !== null ? a.at : knocked) + o.accessTimeoutS * 1000 + slackMs;
    await sleepUntil(grantEnd);
    const aAlive = a !== null && (await a.echo());
    const fresh = await plainConnect(nat, port, 300, "a-after");
    await fresh?.close();
    await sleepUntil(grantEnd + (o.postMs ?? 1000));
    const seen = await nat.pollStop("b", poller);
    const during = seen.reached.filter((t) => t >= t0 && t <= grantEnd).sort((x, y) => x - y);
    const rel = (t: number | undefined): number | null => (t === undefined ? null : t - t0);
    return {
      aConnected: a !== null,
      aBanner: a?.banner ?? null,
      aAliveAfterGrant: aAlive,
      aNewAfterGrant: fresh !== null,
      bReached: during.length,
      bBefore: seen.reached.filter((t) => t < t0).length,
      bAfter: seen.reached.filter((t) => t > grantEnd).length,
      bAttempts: seen.attempts,
      bPeers: seen.peers,
      timings: {
        knockMs: knocked - t0,
        aConnectMs: a !== null ? a.at - t0 : null,
        bFirstMs: rel(during[0]),
        bLastMs: rel(during[during.length - 1]),
        grantEndMs: grantEnd - t0,
        totalMs: epochMs() - t0,
      },
    };
  } finally {
    await a?.close();
    await nat.pollStop("b", poller).catch(() => undefined);
  }
}

/** A knock from A's namespace with the C client or ours, for `port`, granting the shared address. */
export function knockFromA(
  nat: NatRig,
  client: Client,
  key: string,
  hmacKey: string,
  port: number,
  home: string,
): () => Promise<void> {
  return async () => {
    const args = ["-A", `tcp/${port}`, "-D", nat.serverIp, "-a", nat.sharedIp];
    const r = await nat.run("a", clientArgv(client, [...args, ...keyArgs(key, hmacKey)]), {
      env: clientEnv(home),
    });
    if (r.code !== 0) throw new Error(`${client} client in A failed: ${r.stderr}`);
  };
}
