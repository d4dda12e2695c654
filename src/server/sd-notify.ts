/**
 * systemd's notification protocol (sd_notify(3)), for contrib/systemd/fwknopd.service's
 * Type=notify: the service is "started" when fwknopd says READY=1, not when the process exists, so
 * `systemctl start` waits for the listeners and the firewall and fails if they fail.
 *
 * A notification is one datagram of `NAME=value` lines on the AF_UNIX socket named by
 * $NOTIFY_SOCKET: a path, or an abstract name when it starts with '@'. Node has no unix datagram
 * sockets, so it goes through libc (socket, sendto, close) called with koffi, the optional FFI the
 * daemon already uses (native/koffi.ts). Without koffi, `systemd-notify` sends it as a child
 * process; systemd only takes that from a process other than the main one with NotifyAccess=all,
 * which is why the unit sets it. With neither, or without $NOTIFY_SOCKET (not under systemd), the
 * call does nothing and says why. Nothing here throws or rejects: a notification that fails is for
 * the log, and the service manager's start timeout is what acts on it.
 *
 * Order (systemd.service(5)): READY=1 once serving; RELOADING=1 with MONOTONIC_USEC when a reload
 * starts, then READY=1 again when it is done; STOPPING=1 when shutdown begins.
 */
import { existsSync } from "node:fs";
import { arch, endianness } from "node:os";
import type { KoffiFunc } from "koffi";
import { messageOf } from "../errors.js";
import { runExec } from "../exec.js";
import { loadKoffi, type Koffi } from "./native/koffi.js";

// <sys/socket.h> on Linux; MIPS alone numbers SOCK_DGRAM 1.
const AF_UNIX = 1;
const SOCK_DGRAM = arch().startsWith("mips") ? 1 : 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** struct sockaddr_un: a 2-byte sa_family_t, then sun_path[108]. */
const SUN_PATH_OFFSET = 2;
const SUN_PATH_BYTES = 108;

export const SYSTEMD_NOTIFY = "/usr/bin/systemd-notify";

export interface NotifyDeps {
  env: NodeJS.ProcessEnv;
  koffi: () => Koffi | string;
  /** The systemd-notify program, used when koffi is not available. */
  systemdNotify: string;
}

export interface NotifyOutcome {
  sent: boolean;
  /** How it was sent, or why it was not: a line for the log. */
  how: string;
}

const defaults = (): NotifyDeps => ({
  env: process.env,
  koffi: loadKoffi,
  systemdNotify: SYSTEMD_NOTIFY,
});

/**
 * The struct sockaddr_un for $NOTIFY_SOCKET, or why there is none: a path is NUL-terminated, an
 * abstract name ('@' read as a leading NUL byte) is not, and its length says where it ends.
 */
export function notifyAddress(name: string): Buffer | string {
  if (!name.startsWith("/") && !name.startsWith("@"))
    return `NOTIFY_SOCKET '${name}' is neither a path nor an abstract name ('@...')`;
  const path = Buffer.from(name.startsWith("@") ? `\0${name.slice(1)}` : `${name}\0`);
  if (path.length > SUN_PATH_BYTES) return `NOTIFY_SOCKET '${name}' is too long for sockaddr_un`;
  const addr = Buffer.alloc(SUN_PATH_OFFSET + path.length);
  if (endianness() === "LE") addr.writeUInt16LE(AF_UNIX, 0);
  else addr.writeUInt16BE(AF_UNIX, 0);
  path.copy(addr, SUN_PATH_OFFSET);
  return addr;
}

interface UnixLibc {
  koffi: Koffi;
  socket: KoffiFunc<(domain: number, type: number, protocol: number) => number>;
  sendto: KoffiFunc<
    (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number) => number
  >;
  close: KoffiFunc<(fd: number) => number>;
}

let libc: UnixLibc | string | undefined;

function loadLibc(koffi: () => Koffi | string): UnixLibc | string {
  if (libc !== undefined && koffi === loadKoffi) return libc;
  const k = koffi();
  if (typeof k === "string") return k;
  let bound: UnixLibc | string;
  try {
    const lib = k.load("libc.so.6");
    bound = {
      koffi: k,
      socket: lib.func("int socket(int, int, int)"),
      sendto: lib.func("long sendto(int, const void *, size_t, int, const void *, uint32_t)"),
      close: lib.func("int close(int)"),
    };
  } catch (e) {
    bound = `libc could not be loaded through koffi (${messageOf(e).split("\n")[0] ?? ""})`;
  }
  if (koffi === loadKoffi) libc = bound;
  return bound;
}

/** One datagram, never blocking: systemd reads its socket at once, so a full queue is a failure. */
function sendDatagram(c: UnixLibc, addr: Buffer, message: Buffer): string | null {
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return `socket: errno ${c.koffi.errno()}`;
  try {
    const n = c.sendto(fd, message, message.length, MSG_DONTWAIT | MSG_NOSIGNAL, addr, addr.length);
    if (n < 0) return `sendto: errno ${c.koffi.errno()}`;
    return n === message.length ? null : `sendto: ${n} of ${message.length} bytes`;
  } finally {
    c.close(fd);
  }
}

/** Send `NAME=value` lines to the service manager. */
export async function sdNotify(
  lines: readonly string[],
  deps: Partial<NotifyDeps> = {},
): Promise<NotifyOutcome> {
  const d = { ...defaults(), ...deps };
  const name = d.env.NOTIFY_SOCKET;
  if (name === undefined || name === "")
    return { sent: false, how: "NOTIFY_SOCKET is not set (not started by systemd)" };
  const addr = notifyAddress(name);
  if (typeof addr === "string") return { sent: false, how: addr };
  const c = loadLibc(d.koffi);
  if (typeof c !== "string") {
    try {
      const failed = sendDatagram(c, addr, Buffer.from(lines.join("\n")));
      if (failed === null) return { sent: true, how: `datagram to ${name}` };
      return { sent: false, how: `notifying ${name}: ${failed}` };
    } catch (e) {
      return { sent: false, how: `notifying ${name}: ${messageOf(e)}` };
    }
  }
  if (!existsSync(d.systemdNotify))
    return { sent: false, how: `${c}, and there is no ${d.systemdNotify}` };
  const r = await runExec(d.systemdNotify, lines, { timeoutMs: 5000, env: d.env });
  if (r.code === 0) return { sent: true, how: `${d.systemdNotify} (${c})` };
  return {
    sent: false,
    how: `${d.systemdNotify}: ${r.failure ?? `exit ${String(r.code)}`} ${r.stderr.trim()}`.trim(),
  };
}

/** Serving: the listeners are up and the firewall is ready (also the end of a reload). */
export function notifyReady(deps?: Partial<NotifyDeps>): Promise<NotifyOutcome> {
  return sdNotify(["READY=1"], deps);
}

/** A reload (SIGHUP) has begun; send notifyReady() when it is done. */
export function notifyReloading(deps?: Partial<NotifyDeps>): Promise<NotifyOutcome> {
  // CLOCK_MONOTONIC, which libuv's hrtime reads, in microseconds.
  const usec = process.hrtime.bigint() / 1000n;
  return sdNotify(["RELOADING=1", `MONOTONIC_USEC=${usec.toString()}`], deps);
}

/** Shutdown has begun. */
export function notifyStopping(deps?: Partial<NotifyDeps>): Promise<NotifyOutcome> {
  return sdNotify(["STOPPING=1"], deps);
}

/** A one-line status for `systemctl status` (no new lines). */
export function notifyStatus(text: string, deps?: Partial<NotifyDeps>): Promise<NotifyOutcome> {
  return sdNotify([`STATUS=${text.replace(/\n/g, " ")}`], deps);
}
