/**
 * Many clients behind one address (issue 14): the e2e rig (rig.ts) with its client namespace
 * turned into a NAT router, and two client hosts, A and B, on a LAN behind it.
 *
 *     A 198.18.2.2 ─┐                 NAT ("client" ns)              server ns
 *                   ├─ br0 198.18.2.1 ── masquerade ── veth0 198.18.0.2 ─── 198.18.0.1 fwknopd,
 *     B 198.18.2.3 ─┘                                                       echo service
 *
 * The server has no route to 198.18.2.0/24: everything A and B send reaches it from the one
 * shared address, 198.18.0.2 (the banner of the echo service names the peer it saw, which shows
 * it). Each of A and B runs the namespace agent (ns-agent.ts with ns-agent-tenant.ts) for held
 * connections, the millisecond poller and paced UDP; `run`/`spawn` start real programs there
 * (the C `fwknop`, our bin/fwknop). Teardown is the rig's: it kills what it started by PID and
 * deletes all four namespaces, also when a test fails or is interrupted.
 *
 *   const nat = await createNatRig({ servicePort: 1234 });   // nftables default-drop server
 *   try {
 *     const d = new TsFwknopd(nat.rig, conf, access);        // runs in nat.rig.serverNs
 *     await nat.pollStart("b", "p", 1234);                   // B tries 1234 every millisecond
 *     await knock(nat.rig, "c", [...], home, nat.ns.a);      // A knocks
 *     const a = await nat.hold("a", "conn", 1234, 3000);     // A connects and stays connected
 *     await nat.echo("a", "conn");                           // true while A's connection carries data
 *     const seen = await nat.pollStop("b", "p");             // seen.reached: B's connections
 *   } finally {
 *     await nat.teardown();
 *   }
 */
import type { PollResult } from "./ns-agent-tenant.js";
import { CLIENT_IP, SERVER_IP, createRig, type Rig, type RunResult } from "./rig.js";
import type { HostShape } from "./host-shapes.js";
import type { ChildProcess } from "node:child_process";

/** The NAT router's outside address: the one address the server sees for A and for B. */
export const SHARED_IP = CLIENT_IP;
export const LAN_GATEWAY_IP = "198.18.2.1";
export const LAN_IPS = { a: "198.18.2.2", b: "198.18.2.3" } as const;

export type Tenant = keyof typeof LAN_IPS;

export interface NatRigOptions {
  /** The echo service (banner, then echo; connections stay open) on this TCP port of the server. */
  servicePort: number;
  /** The server's host shape (host-shapes.ts), keeping servicePort closed; default "nftables". */
  deny?: HostShape;
  /** The UDP port the shape leaves open for SPA; default 62201. */
  spaPort?: number;
}

export interface Held {
  /** The service's banner line ("SSH-2.0-fwknop-ts-test peer=198.18.0.2"). */
  banner: string;
  /** When the TCP handshake completed, epoch ms. */
  at: number;
  attempts: number;
}

export class NatRig {
  readonly serverIp = SERVER_IP;
  readonly sharedIp = SHARED_IP;
  /** The namespaces by role ("nat" is the base rig's client namespace). */
  readonly ns: Record<Tenant | "nat" | "server", string>;

  constructor(
    readonly rig: Rig,
    a: string,
    b: string,
  ) {
    this.ns = { a, b, nat: rig.clientNs, server: rig.serverNs };
  }

  ip(t: Tenant): string {
    return LAN_IPS[t];
  }

  /** Run a program in A's or B's namespace (argv, no shell); failures come back as `code`. */
  run(
    t: Tenant,
    argv: readonly string[],
    opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {},
  ): Promise<RunResult> {
    return this.rig.run(this.ns[t], argv, opts);
  }

  /** A long-running program in A's or B's namespace, killed by PID at teardown. */
  spawn(t: Tenant, argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    return this.rig.spawn(this.ns[t], argv, env);
  }

  /** Another echo service on the server (createNatRig starts one on servicePort). */
  async echoService(port: number): Promise<void> {
    const r = await this.rig.ask(this.ns.server, { op: "listen", port, echo: true });
    if (!r.ok) throw new Error(`echo service on ${port}: ${r.error ?? "?"}`);
  }

  /**
   * Connect from A or B to the server's `port` until a connection gets the banner (a new attempt
   * every 5 ms, for up to `retryMs`) and keep it open as `name`; null if none got through.
   */
  async hold(t: Tenant, name: string, port: number, retryMs: number): Promise<Held | null> {
    const req = { op: "hold", name, host: SERVER_IP, port, retryMs };
    const r = await this.rig.ask(this.ns[t], req, retryMs + 10_000);
    if (!r.ok) return null;
    return { banner: r.data ?? "", at: r.at ?? NaN, attempts: r.attempts ?? 0 };
  }

  /** Does the held connection `name` still carry data both ways (a line sent comes back)? */
  async echo(t: Tenant, name: string, timeoutMs = 1000): Promise<boolean> {
    return (await this.rig.ask(this.ns[t], { op: "echo", name, timeoutMs }, timeoutMs + 10_000)).ok;
  }

  async release(t: Tenant, name: string): Promise<void> {
    await this.rig.ask(this.ns[t], { op: "release", name });
  }

  /**
   * Start trying the server's `port` from A or B every `intervalMs` (each attempt given
   * `timeoutMs` to get the banner), for at most `maxMs`; resolves with the start (epoch ms).
   */
  async pollStart(
    t: Tenant,
    name: string,
    port: number,
    opts: { intervalMs?: number; timeoutMs?: number; maxMs?: number } = {},
  ): Promise<number> {
    const r = await this.rig.ask(this.ns[t], {
      op: "poll",
      name,
      host: SERVER_IP,
      port,
      intervalMs: opts.intervalMs ?? 1,
      timeoutMs: opts.timeoutMs ?? 100,
      maxMs: opts.maxMs ?? 60_000,
    });
    if (!r.ok) throw new Error(`poller ${name}: ${r.error ?? "?"}`);
    return r.at ?? NaN;
  }

  /** Stop a poller; what it saw, once its attempts in flight have ended. */
  async pollStop(t: Tenant, name: string): Promise<PollResult> {
    const r = await this.rig.ask(this.ns[t], { op: "pollStop", name }, 15_000);
    if (!r.ok || r.poll === undefined) throw new Error(`poller ${name}: ${r.error ?? "?"}`);
    return r.poll;
  }

  /** One datagram from A or B to the server. */
  async sendUdp(t: Tenant, port: number, payload: string | Buffer): Promise<void> {
    const data = (typeof payload === "string" ? Buffer.from(payload, "latin1") : payload).toString(
      "base64",
    );
    const r = await this.rig.ask(this.ns[t], { op: "udp", host: SERVER_IP, port, data });
    if (!r.ok) throw new Error(`udp from ${t}: ${r.error ?? "?"}`);
  }

  /**
   * `payloads` in turn from A or B to the server's UDP `port`, `rate` a second for `seconds`
   * (bounded by the agent: <= 1,000,000/s, <= 60 s; as fast as it goes beyond ~150,000/s); resolves with the number sent.
   */
  udpRate(
    t: Tenant,
    port: number,
    payloads: readonly (string | Buffer)[],
    rate: number,
    seconds: number,
  ): Promise<number> {
    return this.rig.sendUdpRate(SERVER_IP, port, payloads, { rate, seconds }, this.ns[t]);
  }

  teardown(): Promise<void> {
    return this.rig.teardown();
  }
}

/** The masquerading router: forwarding on, LAN -> outside translated to the shared address. */
const NAT_RULES = [
  "table ip natrig {",
  "  chain postrouting {",
  "    type nat hook postrouting priority srcnat; policy accept;",
  `    ip saddr ${LAN_GATEWAY_IP}/24 oifname "veth0" masquerade`,
  "  }",
  "}",
  "",
].join("\n");

/** The base rig, the echo service and the server's shape, then the NAT router and A and B. */
export async function createNatRig(opts: NatRigOptions): Promise<NatRig> {
  const rig = await createRig();
  try {
    const nat = rig.clientNs;
    const r = await rig.ask(rig.serverNs, { op: "listen", port: opts.servicePort, echo: true });
    if (!r.ok) throw new Error(`echo service on ${opts.servicePort}: ${r.error ?? "?"}`);
    await rig.defaultDeny(opts.deny ?? "nftables", opts.servicePort, opts.spaPort);
    await rig.must(nat, ["ip", "link", "add", "br0", "type", "bridge"]);
    await rig.must(nat, ["ip", "addr", "add", `${LAN_GATEWAY_IP}/24`, "dev", "br0"]);
    await rig.must(nat, ["ip", "link", "set", "br0", "up"]);
    await rig.must(nat, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    const nft = await rig.run(nat, ["nft", "-f", "-"], { input: NAT_RULES });
    if (nft.code !== 0) throw new Error(`NAT rules: ${nft.stderr}`);
    const tenants: string[] = [];
    for (const t of ["a", "b"] as const) {
      const ns = await rig.addNamespace(t);
      tenants.push(ns);
      rig.veth(nat, `lan-${t}`, ns);
      await rig.must(nat, ["ip", "link", "set", `lan-${t}`, "master", "br0", "up"]);
      await rig.must(ns, ["ip", "addr", "add", `${LAN_IPS[t]}/24`, "dev", "veth0"]);
      await rig.must(ns, ["ip", "link", "set", "veth0", "up"]);
      await rig.must(ns, ["ip", "route", "add", "default", "via", LAN_GATEWAY_IP]);
    }
    const [a, b] = tenants as [string, string];
    await Promise.all([rig.startAgentIn(a), rig.startAgentIn(b)]);
    return new NatRig(rig, a, b);
  } catch (e) {
    await rig.teardown();
    throw e;
  }
}
