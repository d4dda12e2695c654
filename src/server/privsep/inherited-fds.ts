/**
 * File descriptors the packet parser must not keep. libuv starts a child with every descriptor of
 * its parent that lacks close-on-exec, and native code (libnftables through koffi, a library's
 * netlink socket) or whoever started fwknopd may have left some. A netlink socket opened by root
 * keeps root's rights whoever holds it, so one leaked into the parser would give it the firewall.
 * The broker lists what it has open when it starts the parser; the parser, first thing, closes
 * each of those it still holds (same number, same object: a socket, pipe or file by inode),
 * except stdio and its pipe to the broker. Node's own descriptors in the child are new objects.
 */
import { closeSync, readdirSync, readlinkSync } from "node:fs";

/** "anon_inode:[eventpoll]" names no object of its own: such entries are never matched. */
const identifies = (target: string): boolean => !target.startsWith("anon_inode:");

function targetOf(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** What this process has open beyond stdio, as JSON [[fd, target], ...] (the parent's side). */
export function openDescriptors(): string {
  const out: Array<[number, string]> = [];
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    const target = targetOf(fd);
    if (fd > 2 && target !== null && identifies(target)) out.push([fd, target]);
  }
  return JSON.stringify(out);
}

/** Close what the parent listed and this process still holds; returns how many. */
export function closeInherited(listed: string, keep: readonly number[]): number {
  let entries: unknown;
  try {
    entries = JSON.parse(listed);
  } catch {
    return 0;
  }
  if (!Array.isArray(entries)) return 0;
  let closed = 0;
  for (const e of entries as unknown[]) {
    const [fd, target] = Array.isArray(e) ? (e as unknown[]) : [];
    if (typeof fd !== "number" || !Number.isInteger(fd) || fd <= 2 || keep.includes(fd)) continue;
    if (typeof target !== "string" || targetOf(fd) !== target) continue;
    closeSync(fd);
    closed++;
  }
  return closed;
}
