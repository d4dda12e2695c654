/**
 * One connection to Redis for the replay claims and the grant journal, straight to REDIS_URL's
 * host or through Sentinel. The `redis` package (node-redis) is loaded only here, only when
 * REPLAY_STORE is redis. Commands never queue while Redis is away (disableOfflineQueue): a claim
 * must fail fast so the failure policy decides, not wait behind a reconnect. Reconnects back off
 * from 100 ms to 5 s, for ever; the state changes are logged once each, not per error.
 */
import { EnvironmentError } from "../../errors.js";
import type { RedisSettings } from "./redis-config.js";

export interface RedisLinkDeps {
  log: (line: string, level: "info" | "warning" | "err") => void;
  /** Called each time Redis is (again) ready for commands. */
  onReady?: () => void;
}

/** What the replay store needs of a connection: a command, and whether one can go now. */
export interface RedisLink {
  readonly ready: boolean;
  send(args: string[]): Promise<unknown>;
  close(): Promise<void>;
}

interface Conn {
  readonly isReady: boolean;
  on(event: string, fn: (arg?: unknown) => void): unknown;
  connect(): Promise<unknown>;
  destroy(): unknown;
}

const backoff = (retries: number): number => Math.min(100 * 2 ** retries, 5000);

type RedisModule = typeof import("redis");

async function loadRedis(): Promise<RedisModule> {
  try {
    return await import("redis");
  } catch {
    throw new EnvironmentError("REPLAY_STORE redis needs the redis package (npm install redis@5)");
  }
}

function clientOptions(s: RedisSettings): {
  url: string;
  disableOfflineQueue: true;
  socket: { connectTimeout: number; reconnectStrategy: (n: number) => number };
} {
  return {
    url: s.url,
    disableOfflineQueue: true,
    socket: { connectTimeout: Math.max(s.timeoutMs, 1000), reconnectStrategy: backoff },
  };
}

/** Where the claims go, said in the log without the password. */
export function redisWhere(s: RedisSettings): string {
  if (s.sentinels !== null)
    return `master ${s.masterName ?? ""} via Sentinel ${s.sentinels.map((n) => `${n.host}:${n.port}`).join(",")}`;
  const u = new URL(s.url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** A client straight to REDIS_URL, or one that finds the master through the Sentinels. */
function makeConn(
  redis: RedisModule,
  s: RedisSettings,
): { conn: Conn; send: (args: string[]) => Promise<unknown> } {
  if (s.sentinels === null) {
    const c = redis.createClient(clientOptions(s));
    return { conn: c, send: (args) => c.sendCommand(args) };
  }
  const { url, ...rest } = clientOptions(s);
  const u = new URL(url);
  const c = redis.createSentinel({
    name: s.masterName ?? "",
    sentinelRootNodes: s.sentinels,
    nodeClientOptions: {
      ...rest,
      ...(u.username !== "" ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password !== "" ? { password: decodeURIComponent(u.password) } : {}),
      database: Number(u.pathname.slice(1) || "0"),
    },
    sentinelClientOptions: { socket: rest.socket },
    passthroughClientErrorEvents: true,
    scanInterval: 1000,
  });
  return { conn: c, send: (args) => c.sendCommand(false, args) };
}

/** Logs each change of state once, calls onReady on each return, and keeps connecting. */
function keepConnected(conn: Conn, s: RedisSettings, deps: RedisLinkDeps): () => void {
  let up: boolean | null = null;
  let closed = false;
  const where = redisWhere(s);
  const said = (now: boolean, why: string): void => {
    if (up === now || closed) return;
    up = now;
    if (now) deps.log(`Redis replay store ${where}: connected`, "info");
    else deps.log(`Redis replay store ${where}: unavailable (${why}); reconnecting`, "err");
  };
  const becameReady = (): void => {
    if (up === true) return;
    said(true, "");
    deps.onReady?.();
  };
  const why = (e: unknown): string => (e instanceof Error ? e.message : String(e));
  conn.on("ready", becameReady);
  conn.on("error", (e) => {
    said(false, why(e));
  });
  conn.on("end", () => {
    said(false, "connection closed");
  });
  // A plain client retries by itself (reconnectStrategy); node-redis's Sentinel client gives up
  // when no Sentinel answers its first connect, and emits no "ready" after a failover: so its
  // connect is retried here, and its state watched.
  const connect = (tries: number): void => {
    conn.connect().then(becameReady, (e: unknown) => {
      said(false, why(e));
      if (s.sentinels !== null && !closed)
        setTimeout(() => {
          if (!closed) connect(tries + 1);
        }, backoff(tries)).unref();
    });
  };
  connect(0);
  const watch = setInterval(() => {
    if (conn.isReady) becameReady();
    else if (up === true) said(false, "no master");
  }, 500);
  watch.unref();
  return () => {
    closed = true;
    clearInterval(watch);
  };
}

/** Connects in the background: the daemon starts (and refuses or falls back) while Redis is away. */
export async function openRedisLink(s: RedisSettings, deps: RedisLinkDeps): Promise<RedisLink> {
  const { conn, send } = makeConn(await loadRedis(), s);
  const stop = keepConnected(conn, s, deps);
  return {
    get ready() {
      return conn.isReady;
    },
    send,
    close: async () => {
      stop();
      await Promise.resolve(conn.destroy());
    },
  };
}
