/**
 * --connect HOST:PORT (ours): once the SPA packet is sent, a TCP connection to HOST:PORT, tried
 * again until the grant lets it through or --connect-timeout has passed, then stdin relayed to it
 * and what it sends to stdout, as ssh's ProxyCommand expects:
 *   Host *.example.net
 *     ProxyCommand fwknop -n %h --connect %h:%p
 * Knock and connect are one step: the port is taken the moment it opens, leaving no window between
 * a separate `fwknop` and `ssh` for anyone else behind the same address to race into.
 *
 * Retries: a SYN dropped by a default-drop firewall before the grant lands is sent again by the
 * kernel only a second later (the initial RTO), so an attempt is abandoned early and a fresh one
 * made. Its time grows from FIRST_ATTEMPT_MS, so a long round trip still gets through; a refusal
 * (a REJECT rule, or nothing listening yet) is retried after RETRY_PAUSE_MS.
 * Half-close: the end of stdin ends our side of the connection (the server may still answer); the
 * server's end of the connection ends the relay, exit 0 once stdout has it all. A reset, or a port
 * that never opened, is a ConnectError that says what to check.
 */
import type { Socket } from "node:net";
import type { Readable, Writable } from "node:stream";
import { FwknopTsError, messageOf } from "../errors.js";
import { connectToken, type MadePacket } from "../spa/index.js";
import type { BuiltRequest } from "./build-packet.js";
import type { ClientConfig, ConnectTarget } from "./config.js";
import { formatHostPort } from "./options/connect.js";
import { resolveServer } from "./transport.js";

const FIRST_ATTEMPT_MS = 150;
const MAX_ATTEMPT_MS = 2000;
const RETRY_PAUSE_MS = 75;

/** The two ends of an open --connect connection. */
export interface Connected {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** What a preamble is made from: the packet just sent, its request (fields, keys), the connection. */
export interface PreambleContext {
  made: MadePacket;
  req: BuiltRequest;
  conn: Connected;
}

/**
 * Bytes written first on a --connect connection, before anything from stdin: the hook for a
 * server that wants proof on the connection itself (a one-time token). Empty: nothing is written.
 * Bytes the server sends meanwhile already go to stdout.
 */
export type Preamble = (ctx: PreambleContext) => Uint8Array | Promise<Uint8Array>;

/** What --connect takes from the client's dependencies (cli/fwknop.ts ClientDeps). */
export interface ConnectIo {
  /** What is relayed to and from the connection; process.stdin/stdout by default. */
  stdio?: () => { input: Readable; output: Writable };
  /** Bytes written first on the connection; none by default. */
  connectPreamble?: Preamble;
  err: (s: string) => void;
}

export interface RelayOptions {
  target: ConnectTarget;
  timeoutMs: number;
  /** Where the packet went ("198.18.0.1:62201/udp"), for the message when the port stays shut. */
  spaSentTo: string;
  /** The preamble, given the open connection; null: none. */
  preamble: ((conn: Connected) => Uint8Array | Promise<Uint8Array>) | null;
  input: Readable;
  output: Writable;
  /** Progress lines for -v (stderr); null: quiet. */
  log: ((line: string) => void) | null;
}

/** The port did not open in time, or the open connection failed: says what to check. */
export class ConnectError extends FwknopTsError {
  readonly blame = "peer";
  constructor(
    readonly code: "E_CONNECT_TIMEOUT" | "E_CONNECT_LOST",
    message: string,
  ) {
    super(message);
    this.name = "ConnectError";
  }
}

interface Attempt {
  sock: Socket | null;
  why: string;
  /** Failed at once (RST, ICMP): worth a pause before the next try. */
  refused: boolean;
}

function describe(e: NodeJS.ErrnoException): string {
  if (e.code === "ECONNREFUSED") return "connection refused";
  if (e.code === "ECONNRESET") return "connection reset by the server";
  if (e.code === "EHOSTUNREACH") return "host unreachable";
  if (e.code === "ENETUNREACH") return "network unreachable";
  return e.message;
}

function attempt(address: string, port: number, ms: number): Promise<Attempt> {
  // Required here, not imported, for the reasons in transport.ts:resolveServer.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { connect } = require("node:net") as typeof import("node:net");
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    let settled = false;
    const done = (a: Attempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.off("error", onError);
      if (a.sock === null) sock.destroy();
      resolve(a);
    };
    const onError = (e: NodeJS.ErrnoException): void => {
      done({ sock: null, why: describe(e), refused: true });
    };
    const timer = setTimeout(() => {
      done({ sock: null, why: "no answer", refused: false });
    }, ms);
    sock.once("connect", () => {
      done({ sock, why: "", refused: false });
    });
    sock.on("error", onError);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Attempts until one connects or `deadline` (performance.now()) passes. */
async function dial(
  address: string,
  port: number,
  deadline: number,
): Promise<{ sock: Socket | null; tries: number; last: string }> {
  let wait = FIRST_ATTEMPT_MS;
  let tries = 0;
  let last = "no attempt";
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return { sock: null, tries, last };
    tries++;
    const a = await attempt(address, port, Math.min(wait, left));
    if (a.sock !== null) return { sock: a.sock, tries, last };
    last = a.why;
    wait = Math.min(Math.round(wait * 1.5), MAX_ATTEMPT_MS);
    if (a.refused) await sleep(Math.min(RETRY_PAUSE_MS, Math.max(0, deadline - performance.now())));
  }
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`;

/** --connect after the packet went out: the port it opens, relayed to stdin/stdout. */
export function connectAfterKnock(
  cfg: ClientConfig,
  target: ConnectTarget,
  { req, made }: { req: BuiltRequest; made: MadePacket },
  io: ConnectIo,
): Promise<number> {
  const hmacKey = req.keys.hmac?.key;
  // --connect-token: the first bytes prove this connection is the knock's (spa/connect-token.ts).
  const hook: Preamble | undefined =
    io.connectPreamble ??
    (cfg.connectToken && hmacKey !== undefined
      ? ({ conn }) => connectToken(Buffer.from(hmacKey), made.wire, conn.remotePort)
      : undefined);
  const { input, output } = io.stdio?.() ?? { input: process.stdin, output: process.stdout };
  const proxy = cfg.httpProxy !== null ? ` through proxy ${cfg.httpProxy}` : "";
  return connectAndRelay({
    target,
    timeoutMs: cfg.connectTimeoutMs,
    spaSentTo: `${formatHostPort(cfg.destination ?? "", req.serverPort)}/${cfg.serverProto}${proxy}`,
    preamble: hook === undefined ? null : (conn) => hook({ made, req, conn }),
    input,
    output,
    log:
      cfg.verbose > 0
        ? (l) => {
            io.err(`${l}\n`);
          }
        : null,
  });
}

/** Connect (retrying), write the preamble, relay until the server closes: the exit status. */
export async function connectAndRelay(o: RelayOptions): Promise<number> {
  const { address } = await resolveServer(o.target.host, "--connect host");
  const shown =
    formatHostPort(o.target.host, o.target.port) +
    (address !== o.target.host ? ` (${address})` : "");
  const start = performance.now();
  const { sock, tries, last } = await dial(address, o.target.port, start + o.timeoutMs);
  if (sock === null)
    throw new ConnectError(
      "E_CONNECT_TIMEOUT",
      `--connect ${shown}: port did not open within ${seconds(o.timeoutMs)} ` +
        `(${tries} tries, last: ${last}); the SPA packet was sent to ${o.spaSentTo}: check that ` +
        `fwknopd there logged it, that the keys match, and that its access.conf stanza opens ` +
        `this port to this client's address`,
    );
  o.log?.(
    `--connect ${shown}: connected from ${sock.localAddress ?? "?"}:${sock.localPort ?? 0} ` +
      `after ${tries} ${tries === 1 ? "try" : "tries"}, ${Math.round(performance.now() - start)} ms`,
  );
  sock.setNoDelay(true);
  const conn: Connected = {
    localAddress: sock.localAddress ?? "",
    localPort: sock.localPort ?? 0,
    remoteAddress: sock.remoteAddress ?? address,
    remotePort: sock.remotePort ?? o.target.port,
  };
  const first =
    o.preamble === null
      ? Promise.resolve(new Uint8Array(0))
      : Promise.resolve().then(() => o.preamble?.(conn) ?? new Uint8Array(0));
  return relay(sock, o, shown, first);
}

/**
 * The server's bytes to `output` from the start; `first` then `input` to the server once `first`
 * is made. Settles once: 0 when the server ends the connection (or the reader of `output` went
 * away), a ConnectError when the connection fails.
 */
function relay(
  sock: Socket,
  o: RelayOptions,
  shown: string,
  first: Promise<Uint8Array>,
): Promise<number> {
  const { input, output } = o;
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      input.unpipe(sock);
      // Our stdin must not keep the process alive once the connection is over.
      input.destroy();
      sock.destroy();
      if (err === null) resolve(0);
      else reject(err);
    };
    sock.on("data", (chunk: Buffer) => {
      if (!output.write(chunk)) {
        sock.pause();
        output.once("drain", () => sock.resume());
      }
    });
    let ended = false;
    sock.once("end", () => {
      // Our side is ended for us (allowHalfOpen is off): stdin must not write to it any more.
      ended = true;
      input.unpipe(sock);
      output.write(Buffer.alloc(0), () => {
        finish(null);
      });
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (!ended) finish(new ConnectError("E_CONNECT_LOST", `--connect ${shown}: ${describe(e)}`));
    });
    // The reader of stdout went away (ssh has ended): nothing left to deliver or to report.
    output.once("error", () => {
      finish(null);
    });
    // An unreadable stdin counts as its end.
    input.once("error", () => sock.end());
    first.then(
      (bytes) => {
        if (settled || ended) return;
        if (bytes.length > 0) sock.write(bytes);
        input.pipe(sock);
      },
      (e: unknown) => {
        finish(e instanceof Error ? e : new Error(messageOf(e)));
      },
    );
  });
}
