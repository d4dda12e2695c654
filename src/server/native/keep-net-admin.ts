/**
 * The NFQUEUE reader's privilege drop (listen/nfq-reader-main.ts): to the packet parser's user
 * and group, keeping CAP_NET_ADMIN alone, which every verdict needs (the kernel checks the
 * sending process's capability on each nfnetlink message). prctl(PR_SET_KEEPCAPS) keeps the
 * permitted set across setuid, capset(2) then leaves just that one capability, and
 * PR_SET_NO_NEW_PRIVS stops any exec from gaining more. Checked in /proc/self/status afterwards.
 */
import { errnoText } from "../../errno.js";
import { EnvironmentError, messageOf } from "../../errors.js";
import { ownCredentials } from "../privsep/credentials.js";
import { loadKoffi } from "./koffi.js";

const PR_SET_KEEPCAPS = 8;
const PR_SET_NO_NEW_PRIVS = 38;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const CAP_NET_ADMIN = 12;
/** CapEff with CAP_NET_ADMIN alone, as /proc/self/status prints it. */
const NET_ADMIN_ONLY = (1 << CAP_NET_ADMIN).toString(16).padStart(16, "0");

/** Become uid:gid with CAP_NET_ADMIN and nothing else; throws an EnvironmentError if not so. */
export function keepOnlyNetAdmin(uid: number, gid: number): void {
  const k = loadKoffi();
  if (typeof k === "string") throw new EnvironmentError(k);
  const { setgroups, setgid, setuid } = process;
  if (setgroups === undefined || setgid === undefined || setuid === undefined)
    throw new EnvironmentError("this platform cannot change a process's user");
  try {
    const libc = k.load("libc.so.6");
    const prctl = libc.func(
      "int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)",
    );
    const capset = libc.func("int capset(void *, void *)");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) !== 0) throw new Error("prctl(PR_SET_KEEPCAPS) failed");
    setgroups([gid]);
    setgid(gid);
    setuid(uid);
    // struct __user_cap_header_struct { u32 version; int pid; } and two
    // struct __user_cap_data_struct { u32 effective, permitted, inheritable; } (capabilities 0-63).
    const header = Buffer.alloc(8);
    header.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
    const data = Buffer.alloc(24);
    data.writeUInt32LE(1 << CAP_NET_ADMIN, 0);
    data.writeUInt32LE(1 << CAP_NET_ADMIN, 4);
    if (capset(header, data) !== 0) throw new Error(`capset failed: ${errnoText(k.errno())}`);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) !== 0)
      throw new Error("prctl(PR_SET_NO_NEW_PRIVS) failed");
  } catch (e) {
    throw new EnvironmentError(`NFQUEUE reader: dropping to ${uid}:${gid} failed: ${messageOf(e)}`);
  }
  const c = ownCredentials();
  if (c.uid.includes(0) || c.gid.includes(0) || c.capEff !== NET_ADMIN_ONLY)
    throw new EnvironmentError(
      `NFQUEUE reader: privileges not dropped: Uid ${c.uid.join(" ")}, Gid ${c.gid.join(" ")}, CapEff ${c.capEff}`,
    );
}
