/**
 * firewalld's direct passthrough called over the system bus, the same D-Bus method that
 * `firewall-cmd --direct --passthrough` calls (org.fedoraproject.FirewallD1.direct.passthrough,
 * "sas" -> "s"), without starting firewall-cmd: that is a Python program whose start-up was
 * nearly all of a grant's ~0.3 s here (bench/firewalld.ts). firewalld runs the same iptables
 * command either way, so the rules, their order and their errors are the same.
 *
 * One connection, authenticated as our uid (SASL EXTERNAL, as every local D-Bus client does),
 * calls answered by serial; a broken connection fails what is in flight and the next call
 * reconnects. D-Bus Specification: "Authentication Protocol", "Message Bus Specification".
 */
import { connect, type Socket } from "node:net";
import type { ExecResult } from "../../exec.js";
import { EnvironmentError } from "../../errors.js";
import { decodeMessage, messageLength, type Value } from "./dbus-decode.js";
import { encodeCall, type Arg } from "./dbus-encode.js";
import { MessageType } from "./dbus-wire.js";

/** firewalld's bus name, object path and main interface (firewall/config/dbus.py). */
export const FIREWALLD = "org.fedoraproject.FirewallD1";
export const FIREWALLD_PATH = "/org/fedoraproject/FirewallD1";
const DEFAULT_SYSTEM_BUS = "unix:path=/var/run/dbus/system_bus_socket";
const CALL_TIMEOUT_MS = 30_000;
const AUTH_TIMEOUT_MS = 5_000;

/** A method call: destination, object path, interface, member, arguments. */
type Method = [
  destination: string,
  path: string,
  iface: string,
  member: string,
  args: readonly Arg[],
];

/** A reply: the error name (null on success), the body's first string (if any), every value. */
export interface Answer {
  error: string | null;
  text: string;
  values: Value[];
}

interface Pending {
  resolve: (r: Answer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The socket path of a D-Bus address (D-Bus Specification "Server Addresses"): the first
 * `unix:path=` or `unix:abstract=` entry, %-escapes undone. Null when there is none.
 */
export function unixSocketOf(address: string): string | null {
  for (const entry of address.split(";")) {
    if (!entry.startsWith("unix:")) continue;
    for (const kv of entry.slice(5).split(",")) {
      const eq = kv.indexOf("=");
      const key = kv.slice(0, eq);
      const value = decodeURIComponent(kv.slice(eq + 1));
      if (key === "path") return value;
      if (key === "abstract") return `\0${value}`;
    }
  }
  return null;
}

export class FirewalldBus {
  private sock: Socket | null = null;
  private ready: Promise<void> | null = null;
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private inbox: Buffer = Buffer.alloc(0);

  constructor(private readonly address: string) {}

  /** The system bus as the environment names it (DBUS_SYSTEM_BUS_ADDRESS), else the default. */
  static system(): FirewalldBus {
    return new FirewalldBus(process.env.DBUS_SYSTEM_BUS_ADDRESS ?? DEFAULT_SYSTEM_BUS);
  }

  /** Connect and say Hello (the bus requires it before any other call). */
  open(): Promise<void> {
    this.ready ??= this.connect().catch((e: unknown) => {
      this.drop(e instanceof Error ? e : new Error(String(e)));
      throw e;
    });
    return this.ready;
  }

  private async connect(): Promise<void> {
    const path = unixSocketOf(this.address);
    if (path === null) throw new EnvironmentError(`D-Bus: no unix socket in '${this.address}'`);
    const sock = connect({ path });
    this.sock = sock;
    // Events of a connection that has since been replaced concern nobody.
    sock.on("error", (e) => {
      if (this.sock === sock) this.drop(new EnvironmentError(`D-Bus: ${path}: ${e.message}`));
    });
    sock.on("close", () => {
      if (this.sock === sock) this.drop(new Error("D-Bus connection closed"));
    });
    await new Promise<void>((resolve, reject) => {
      let line = "";
      const done = (e: Error | null): void => {
        clearTimeout(timer);
        sock.off("data", onData);
        sock.off("close", onClose);
        sock.off("error", onError);
        if (e === null) resolve();
        else reject(e);
      };
      const timer = setTimeout(() => {
        done(new EnvironmentError(`D-Bus: ${path}: no answer to authentication`));
      }, AUTH_TIMEOUT_MS);
      const onClose = (): void => {
        done(new EnvironmentError(`D-Bus: ${path}: connection refused or closed`));
      };
      const onData = (d: Buffer): void => {
        line += d.toString("latin1");
        if (!line.includes("\r\n")) return;
        if (line.startsWith("OK ")) done(null);
        else done(new EnvironmentError(`D-Bus: ${path}: authentication refused (${line.trim()})`));
      };
      const onError = (e: Error): void => {
        done(new EnvironmentError(`D-Bus: ${path}: ${e.message}`));
      };
      sock.on("data", onData);
      sock.on("close", onClose);
      sock.on("error", onError);
      const uid = String(process.getuid?.() ?? 0);
      sock.write(`\0AUTH EXTERNAL ${Buffer.from(uid, "latin1").toString("hex")}\r\n`);
    });
    sock.on("data", (d: Buffer) => {
      this.onData(d);
    });
    sock.write("BEGIN\r\n");
    const hello = await this.send(
      "org.freedesktop.DBus",
      "/org/freedesktop/DBus",
      "org.freedesktop.DBus",
      "Hello",
      [],
    );
    if (hello.error !== null)
      throw new EnvironmentError(`D-Bus: Hello refused: ${hello.error}: ${hello.text}`);
  }

  /** A method of firewalld's main object (`iface` after "org.fedoraproject.FirewallD1", e.g. ".zone"). */
  firewalld(
    iface: "" | ".zone" | ".direct",
    member: string,
    args: readonly Arg[],
  ): Promise<Answer> {
    return this.call(FIREWALLD, FIREWALLD_PATH, `${FIREWALLD}${iface}`, member, args);
  }

  /** org.freedesktop.DBus.Properties.Get of a firewalld object; the variant's content. */
  property(path: string, iface: string, name: string): Promise<Answer> {
    return this.call(FIREWALLD, path, "org.freedesktop.DBus.Properties", "Get", [iface, name]);
  }

  /** One method call; the reply's error name (null on success) and its first string, if any. */
  async call(...method: Method): Promise<Answer> {
    await this.open();
    return this.send(...method);
  }

  private send(...[destination, path, iface, member, args]: Method): Promise<Answer> {
    const sock = this.sock;
    if (sock === null) return Promise.reject(new Error("D-Bus: not connected"));
    this.serial = (this.serial % 0x7fffffff) + 1;
    const serial = this.serial;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        reject(new Error(`D-Bus: no reply to ${member} within ${CALL_TIMEOUT_MS / 1000} s`));
      }, CALL_TIMEOUT_MS);
      this.pending.set(serial, { resolve, reject, timer });
      sock.write(encodeCall({ serial, destination, path, iface, member, args }));
    });
  }

  private onData(d: Buffer): void {
    this.inbox = this.inbox.length === 0 ? d : Buffer.concat([this.inbox, d]);
    try {
      for (;;) {
        const n = messageLength(this.inbox);
        if (n === null || this.inbox.length < n) return;
        const msg = decodeMessage(this.inbox.subarray(0, n));
        this.inbox = this.inbox.subarray(n);
        if (msg.type !== MessageType.METHOD_RETURN && msg.type !== MessageType.ERROR) continue;
        const p = msg.replySerial === null ? undefined : this.pending.get(msg.replySerial);
        if (p === undefined || msg.replySerial === null) continue;
        this.pending.delete(msg.replySerial);
        clearTimeout(p.timer);
        p.resolve({
          error: msg.type === MessageType.ERROR ? (msg.errorName ?? "unknown error") : null,
          text: msg.text ?? "",
          values: msg.values,
        });
      }
    } catch (e) {
      this.drop(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Fail everything in flight; the next call connects again. */
  private drop(e: Error): void {
    const sock = this.sock;
    this.sock = null;
    this.ready = null;
    this.inbox = Buffer.alloc(0);
    sock?.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }

  /**
   * One passthrough, reported as firewall-cmd would report it: exit 0 with the returned text
   * ("success" when empty), or exit 13 with "Error: COMMAND_FAILED: ..." for firewalld's errors.
   */
  async passthrough(ipv: "ipv4" | "ipv6", args: readonly string[]): Promise<ExecResult> {
    const r = await this.call(FIREWALLD, FIREWALLD_PATH, `${FIREWALLD}.direct`, "passthrough", [
      ipv,
      args,
    ]);
    if (r.error === null)
      return { code: 0, stdout: r.text !== "" ? `${r.text}\n` : "success\n", stderr: "" };
    if (r.error.startsWith(FIREWALLD))
      return { code: 13, stdout: "", stderr: `Error: ${r.text}\n` };
    return { code: 1, stdout: "", stderr: `D-Bus ${r.error}: ${r.text}\n` };
  }

  close(): void {
    this.drop(new Error("D-Bus connection closed"));
  }
}
