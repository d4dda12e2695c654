/**
 * fwknopd's NFQUEUE reader: a small process of its own (started by nfq.ts), the one part of
 * NFQUEUE capture that keeps CAP_NET_ADMIN. The kernel checks that capability on every
 * nfnetlink message it receives from us, verdicts included, so the packet parser, which drops all
 * capabilities after start (privsep/), cannot give verdicts itself. This process binds the queue,
 * gives every packet queued from the input hook the verdict DROP (as C's process_nfq_packet in
 * server/nfq_capture.c: other hooks ACCEPT), and writes the packets to stdout as frames
 * (nfq-frames.ts). It never interprets a packet's bytes: the parser decodes them.
 *
 * argv: queue number, queue length, idle wake-up in microseconds (NFQ_LOOP_SLEEP).
 * stderr: "ready" once bound, or one line saying why it could not bind (exit 1).
 * Started by the privilege-separated parser (its environment names the parser's user, RUN_AS_ENV)
 * it becomes that user once bound, keeping CAP_NET_ADMIN alone (native/keep-net-admin.ts); in one
 * process (PRIVSEP N) it stays root, as the daemon is. It exits when its parent goes (stdout
 * closed, or re-parented).
 */
import { writeSync } from "node:fs";
import { errnoText } from "../../errno.js";
import { messageOf } from "../../errors.js";
import { keepOnlyNetAdmin } from "../native/keep-net-admin.js";
import { EAGAIN, NfqSocket, RECV_BATCH } from "../native/nfq-socket.js";
import { RUN_AS_ENV } from "../privsep/parser-env.js";
import { COPY_RANGE, FrameWriter } from "./nfq-frames.js";
import {
  HOOK_LOCAL_IN,
  NF_ACCEPT,
  NF_DROP,
  batchVerdictRequest,
  decodeMessages,
  verdictRequest,
} from "./nfq-netlink.js";

/**
 * All of `b` to stdout. The pipe is blocking (a child's stdio as Node spawns it), so a slow parser
 * holds us here and the kernel's queue, not our memory, takes the wait; EAGAIN is retried only in
 * case someone made it non-blocking. EPIPE (the parser is gone) throws, and the reader ends.
 */
function writeAll(b: Buffer): void {
  let o = 0;
  while (o < b.length) {
    try {
      o += writeSync(1, b, o);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

/** Verdicts for one batch: DROP up to each id in one message, ACCEPT for packets of other hooks. */
class Verdicts {
  private dropUpTo = -1;
  constructor(private readonly s: NfqSocket) {}
  add(id: number, hook: number): void {
    if (hook === HOOK_LOCAL_IN) {
      this.dropUpTo = id;
      return;
    }
    this.flush();
    this.s.send(verdictRequest(this.s.queue, id, NF_ACCEPT));
  }
  flush(): void {
    if (this.dropUpTo < 0) return;
    this.s.send(batchVerdictRequest(this.s.queue, this.dropUpTo, NF_DROP));
    this.dropUpTo = -1;
  }
}

/** Read, verdict and forward until the parent goes. */
function serve(s: NfqSocket): never {
  const parent = process.ppid;
  const verdicts = new Verdicts(s);
  const frames = new FrameWriter(RECV_BATCH * (4 + COPY_RANGE));
  const each = (datagram: Buffer): void => {
    const ms = decodeMessages(datagram);
    if (typeof ms === "string") return;
    for (const m of ms) {
      if (m.kind !== "packet") continue;
      verdicts.add(m.id, m.hook);
      // Longer than any SPA packet can be: its verdict is given, the bytes are not sent on.
      if (m.truncated || m.payload.length === 0) continue;
      if (!frames.fits(m.payload.length)) writeAll(frames.take());
      frames.add(m.payload);
    }
  };
  for (;;) {
    const got = s.receiveBatch(each);
    if (typeof got !== "number" && got.errno !== EAGAIN) {
      process.stderr.write(`NFQUEUE receive failed: ${errnoText(got.errno)}\n`);
      process.exit(1);
    }
    verdicts.flush();
    const out = frames.take();
    if (out.length > 0) writeAll(out);
    if (process.ppid !== parent) process.exit(0);
  }
}

function main(): void {
  const [queue, maxLen, sleepUs] = process.argv.slice(2).map(Number);
  if (queue === undefined || maxLen === undefined || sleepUs === undefined) {
    process.stderr.write("usage: nfq-reader-main QUEUE MAXLEN SLEEP_US\n");
    process.exit(2);
  }
  let s: NfqSocket;
  try {
    s = NfqSocket.open({ queue, copyRange: COPY_RANGE, maxLen, timeoutUs: sleepUs });
    // Under privilege separation: the parser's user, with CAP_NET_ADMIN alone (verdicts).
    const runAs = process.env[RUN_AS_ENV];
    if (runAs !== undefined) {
      const [uid, gid] = runAs.split(":").map(Number);
      keepOnlyNetAdmin(uid ?? NaN, gid ?? NaN);
    }
  } catch (e) {
    process.stderr.write(`${messageOf(e)}\n`);
    process.exit(1);
  }
  process.stderr.write("ready\n");
  try {
    serve(s);
  } catch (e) {
    // EPIPE: the parser is gone.
    process.stderr.write(`NFQUEUE reader: ${messageOf(e)}\n`);
    process.exit(1);
  }
}

main();
