/**
 * The token gate (REQUIRE_CONNECT_TOKEN, ours). nftables redirects the new connections of such a
 * stanza's grants here (firewall/nft-gate.ts). A connection must open with the 38-byte connect
 * token of the packet that made its grant (spa/connect-token.ts), within a few seconds; the token
 * is then spent and the connection is spliced to the service's port on this host. Anything else
 * (no token, a wrong or spent one, too slow) is closed without a byte sent, and logged. Unproven
 * connections are bounded in number and time, so the gate cannot be held open by a crowd.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { connectTokenMac, readTokenFrame, TOKEN_BYTES } from "../../spa/index.js";
import { EnvironmentError, messageOf } from "../../errors.js";
import type { Grant } from "../firewall/types.js";
import type { EventFields } from "../log-format.js";
import { LogBudget } from "../log-limit.js";

export interface GateDeps {
  nowSecs: () => number;
  /** A line about one connection (admitted or refused), with its fields. */
  log: (level: "info" | "warning", fields: EventFields, text: string) => void;
  /** Milliseconds a connection has to present its token. */
  deadlineMs?: number;
  /** Connections without a token yet, at most; more are closed at once. */
  maxPending?: number;
}

interface Ticket {
  grant: Grant;
  expiresAt: number;
}

const plain = (a: string | undefined): string => (a ?? "?").replace(/^::ffff:/, "");
const hostPort = (a: string, p: number | undefined): string =>
  a.includes(":") ? `[${a}]:${String(p)}` : `${a}:${String(p)}`;

export class ConnectGate {
  /** Unspent tokens by MAC (hex). */
  private readonly tickets = new Map<string, Ticket>();
  private readonly sockets = new Set<Socket>();
  /** Spliced connections by grant number, for REVOKE_CONNECTIONS_ON_EXPIRY. */
  private readonly byGrant = new Map<number, Set<Socket>>();
  private server: Server | null = null;
  private pending = 0;
  /** Refusal lines: 200 a second, bursts of 1,000 (as the daemon's per-packet lines). */
  private readonly budget = new LogBudget(200, 1000);
  private readonly deadlineMs: number;
  private readonly maxPending: number;

  constructor(private readonly deps: GateDeps) {
    this.deadlineMs = deps.deadlineMs ?? 3000;
    this.maxPending = deps.maxPending ?? 256;
  }

  /** Listen on every address (IPv6 and IPv4 when `ipv6`) at `port`. */
  listen(port: number, ipv6: boolean): Promise<void> {
    const server = createServer((c) => {
      this.onConnection(c);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", (e) => {
        reject(new EnvironmentError(`CONNECT_GATE_PORT ${port}: ${messageOf(e)}`));
      });
      server.listen({ port, host: ipv6 ? "::" : "0.0.0.0", exclusive: true }, () => {
        resolve();
      });
    });
  }

  /** A grant of a REQUIRE_CONNECT_TOKEN stanza: its token can be spent once while it lasts. */
  admit(grant: Grant, hmacKey: Buffer, digestB64: string): void {
    const mac = connectTokenMac(hmacKey, Buffer.from(digestB64, "base64"), grant.port);
    this.tickets.set(mac.toString("hex"), { grant, expiresAt: grant.expiresAt });
    if (this.tickets.size > 1024) this.prune();
  }

  private prune(): void {
    const now = this.deps.nowSecs();
    for (const [k, t] of this.tickets) if (t.expiresAt <= now) this.tickets.delete(k);
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => undefined);
  }

  private onConnection(c: Socket): void {
    this.track(c);
    const src = plain(c.remoteAddress);
    const fields: EventFields = { src, sport: c.remotePort ?? 0, proto: "tcp" };
    const refuse = (why: string): void => {
      c.destroy();
      // A co-tenant polling the port makes a line per try: within a budget, the rest counted.
      const take = this.budget.take();
      if (take.note !== null) this.deps.log("warning", {}, `Token gate: ${take.note}`);
      if (take.ok)
        this.deps.log(
          "warning",
          { ...fields, reason: why },
          `Connection tcp ${hostPort(src, c.remotePort)} to the token gate closed: ${why}`,
        );
    };
    if (this.pending >= this.maxPending) {
      c.destroy();
      return;
    }
    this.pending++;
    let got = Buffer.alloc(0);
    let decided = false;
    const decide = (): void => {
      decided = true;
      this.pending--;
      clearTimeout(timer);
      c.removeListener("data", onData);
    };
    const timer = setTimeout(() => {
      if (decided) return;
      decide();
      refuse(`no connect token within ${this.deadlineMs} ms`);
    }, this.deadlineMs);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length < TOKEN_BYTES) return;
      decide();
      c.pause();
      const why = this.spend(c, src, got.subarray(0, TOKEN_BYTES), got.subarray(TOKEN_BYTES));
      if (why !== null) refuse(why);
    };
    c.on("data", onData);
    c.on("close", () => {
      if (decided) return;
      decide();
      refuse("it ended before sending a connect token");
    });
  }

  /** The token checked and spent, and the splice begun; or why not. */
  private spend(c: Socket, src: string, frame: Buffer, rest: Buffer): string | null {
    const t = readTokenFrame(frame);
    if (t === null) return "it did not start with a connect token";
    const key = t.mac.toString("hex");
    const ticket = this.tickets.get(key);
    if (ticket === undefined) return "unknown or spent connect token";
    const g = ticket.grant;
    if (ticket.expiresAt <= this.deps.nowSecs()) return "the token's grant has ended";
    if (g.address !== src || g.port !== t.port)
      return `the token is for ${hostPort(g.address, g.port)}`;
    this.tickets.delete(key);
    const service = plain(c.localAddress);
    this.deps.log(
      "info",
      {
        src,
        sport: c.remotePort ?? 0,
        proto: "tcp",
        port: t.port,
        user: g.user,
        stanza: g.stanza,
        ...(g.id !== undefined ? { grant: g.id } : {}),
      },
      `Connection tcp ${hostPort(src, c.remotePort)} -> ${hostPort(service, t.port)} admitted by grant #${String(g.id ?? 0)} for user '${g.user}' (stanza #${g.stanza}, SPA from ${g.spaSource ?? g.address}) with its connect token`,
    );
    this.splice(c, service, t.port, rest);
    if (g.id !== undefined) {
      const id = g.id;
      const set = this.byGrant.get(id) ?? new Set<Socket>();
      set.add(c);
      this.byGrant.set(id, set);
      c.once("close", () => {
        set.delete(c);
        if (set.size === 0) this.byGrant.delete(id);
      });
    }
    return null;
  }

  /** Both ways between the client and the service, each end closing the other. */
  private splice(c: Socket, host: string, port: number, rest: Buffer): void {
    const up = connect({ host, port });
    this.track(up);
    up.once("connect", () => {
      if (rest.length > 0) up.write(rest);
      c.pipe(up);
      up.pipe(c);
      c.resume();
    });
    up.once("error", () => c.destroy());
    up.once("close", () => c.destroy());
    c.once("close", () => up.destroy());
  }

  /** A grant ended with REVOKE_CONNECTIONS_ON_EXPIRY: its spliced connections are closed. */
  closeGrant(id: number): number {
    const set = this.byGrant.get(id);
    if (set === undefined) return 0;
    this.byGrant.delete(id);
    for (const s of set) s.destroy();
    return set.size;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server !== null)
      await new Promise<void>((r) => {
        server.close(() => {
          r();
        });
      });
  }
}
