/**
 * NFQUEUE capture (ENABLE_NFQ_CAPTURE; C: server/nfq_capture.c): the kernel queues SPA datagrams
 * (the rule: firewall/nfq-rule.ts) to our reader process (nfq-reader-main.ts), which drops each
 * and streams it here; nothing listens on NFQ_PORT and nothing is sniffed. The reader is started
 * before the parser gives up its privileges and keeps them: every verdict needs CAP_NET_ADMIN.
 * Payloads outside 140..1500 bytes are not SPA and are dropped here, as for pcap.
 */
import { join } from "node:path";
import { messageOf } from "../../errors.js";
import { spawnReader, stopChild } from "../../exec.js";
import { childReady } from "./child-ready.js";
import { FrameStream } from "./nfq-frames.js";
import { LINKTYPE_RAW } from "./pcap-parse.js";
import { handFrame } from "./pcap.js";
import type { Listener, OnPayload } from "./types.js";

export interface NfqOptions {
  /** NFQ_QUEUE_NUMBER. */
  queue: number;
  /** NFQ_PORT (for the description; the rule selects the datagrams). */
  port: number;
  /** NFQ_LOOP_SLEEP: the reader's idle wake-up in microseconds (C: the pause between reads). */
  loopSleepUs: number;
}

/** Packets the kernel holds for us at most; more are dropped by the kernel until we catch up. */
export const NFQ_MAX_LEN = 1024;

/** The reader's script: .ts under tsx (tests), .js once built. */
function readerEntry(): string {
  return join(__dirname, __filename.endsWith(".ts") ? "nfq-reader-main.ts" : "nfq-reader-main.js");
}

/**
 * Start the reader and wait until it has bound the queue. `onLost` hears once if the reader ends
 * (or its stream goes bad) while we did not ask it to: the kernel then drops what it queues.
 */
export async function listenNfq(
  o: NfqOptions,
  onPayload: OnPayload,
  onLost: (why: string) => void,
): Promise<Listener> {
  // Our idle wake-up is at most a second, whatever NFQ_LOOP_SLEEP says: it bounds how long the
  // reader outlives a parser that went without closing the pipe.
  const sleepUs = Math.min(o.loopSleepUs, 1_000_000);
  const child = spawnReader(process.execPath, [
    ...process.execArgv,
    readerEntry(),
    String(o.queue),
    String(NFQ_MAX_LEN),
    String(sleepUs),
  ]);
  const frames = new FrameStream((packet) => {
    handFrame({ linktype: LINKTYPE_RAW, data: packet }, onPayload);
  });
  let closing = false;
  child.stdout.on("data", (c: Buffer) => {
    frames.feed(c);
    if (frames.failed !== null && !closing) {
      closing = true;
      onLost(`its stream went bad (${frames.failed})`);
      child.kill("SIGKILL");
    }
  });
  let said = "";
  child.stderr.on("data", (c: Buffer) => {
    if (said.length < 1024) said += c.toString();
  });
  await childReady(
    child,
    /^ready$/m,
    `the NFQUEUE reader for queue ${o.queue} (ENABLE_NFQ_CAPTURE Y)`,
  );
  child.once("exit", (code, signal) => {
    if (closing) return;
    closing = true;
    const last = said.trim().split("\n").at(-1) ?? "";
    onLost(`it exited (${code ?? signal ?? "?"})${last !== "ready" ? `: ${last}` : ""}`);
  });
  return {
    description: `NFQUEUE capture on queue ${o.queue} (udp port ${o.port})`,
    close: () => {
      closing = true;
      return stopChild(child, { signal: "SIGTERM", killAfterMs: 2000 });
    },
  };
}

/** Longest wait before starting a lost reader again (one process, PRIVSEP N). */
const MAX_RESTART_S = 60;
/** A reader that ran this long before it was lost is started again after the shortest wait. */
const STABLE_MS = 60_000;

/**
 * listenNfq, and when its reader ends unasked: said, then either `gone` (the privilege-separated
 * parser, which cannot start a privileged reader again: it ends, and the broker starts a new
 * parser, which starts a new reader) or, with `gone` null (one process, root), a new reader after
 * 1, 2, 4 ... 60 s. Meanwhile the kernel drops what it queues. A failing first start throws.
 */
export async function keepNfq(
  o: NfqOptions,
  onPayload: OnPayload,
  say: (line: string) => void,
  gone: ((why: string) => void) | null,
): Promise<Listener> {
  let current: Listener | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  let delay = 1;
  let startedAt = 0;
  const what = `NFQUEUE reader for queue ${o.queue}`;
  const start = async (): Promise<void> => {
    current = await listenNfq(o, onPayload, lost);
    startedAt = Date.now();
  };
  function lost(why: string): void {
    current = null;
    if (closed) return;
    if (gone !== null) {
      say(`${what} stopped, ${why}; the packet parser ends so that both start again`);
      gone(why);
      return;
    }
    if (startedAt > 0 && Date.now() - startedAt > STABLE_MS) delay = 1;
    say(`${what} stopped, ${why}; starting it again in ${delay} s`);
    timer = setTimeout(() => {
      timer = null;
      start().catch((e: unknown) => {
        lost(messageOf(e));
      });
    }, delay * 1000);
    delay = Math.min(delay * 2, MAX_RESTART_S);
  }
  await start();
  return {
    description: `NFQUEUE capture on queue ${o.queue} (udp port ${o.port})`,
    close: async () => {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      await current?.close();
    },
  };
}
