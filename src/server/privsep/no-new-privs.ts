/**
 * PR_SET_NO_NEW_PRIVS for the packet parser (prctl(2)): once set, no exec can raise its
 * privileges again (a setuid binary runs with the parser's user, file capabilities are ignored),
 * for it and every process it starts (gpg, tcpdump after it dropped to its own user). systemd's
 * NoNewPrivileges=yes does the same for the whole unit; this covers fwknopd started any other
 * way. Through koffi (libc's prctl); without koffi the parser runs without it and says so.
 */
import { messageOf } from "../../errors.js";
import { loadKoffi } from "../native/koffi.js";

const PR_SET_NO_NEW_PRIVS = 38;

/** True once set; else why not. */
export function setNoNewPrivs(): true | string {
  const k = loadKoffi();
  if (typeof k === "string") return k;
  try {
    const prctl = k
      .load("libc.so.6")
      .func("int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)");
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) === 0
      ? true
      : "prctl(PR_SET_NO_NEW_PRIVS) failed";
  } catch (e) {
    return messageOf(e);
  }
}
