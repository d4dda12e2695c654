/**
 * Questions on the controlling terminal (client/getpasswd.c): the key prompt with echo off
 * (Backspace, Ctrl-U to clear, Ctrl-C to abort, at most 127 characters), and yes/no questions.
 * /dev/tty is used even when stdin is redirected, as C's ctermid() does.
 */
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { messageOf, UsageError } from "../errors.js";

const MAX = 127;

function openTty(): number {
  try {
    return openSync("/dev/tty", "r+");
  } catch {
    throw new UsageError(
      "No terminal to ask for the key on: give it with --key-base64-rijndael/--key-base64-hmac, --stdin, --fd, -G, or in ~/.fwknoprc",
    );
  }
}

/** Read a secret from the terminal without echo. */
export function askSecret(question: string): string {
  const fd = openTty();
  // Required here, not at the top: node:tty loads the socket layer, a few ms of every client
  // start (bench/client.ts), and most knocks never prompt.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ReadStream } = require("node:tty") as typeof import("node:tty");
  const tty = new ReadStream(fd);
  try {
    tty.setRawMode(true);
    writeSync(fd, question);
    let out = "";
    const buf = Buffer.alloc(1);
    for (;;) {
      if (readSync(fd, buf, 0, 1, null) !== 1) break;
      const c = buf[0] ?? 0;
      if (c === 0x0d || c === 0x0a) break;
      if (c === 0x03) throw new UsageError("Aborted.");
      if (c === 0x15) out = "";
      else if (c === 0x7f || c === 0x08) out = out.slice(0, -1);
      else if (out.length < MAX && c >= 0x20) out += String.fromCharCode(c);
    }
    writeSync(fd, "\n");
    return out;
  } finally {
    tty.setRawMode(false);
    tty.destroy();
  }
}

/** "Overwrite [N/y] ?" style: true only for an answer starting with y or Y. */
export function askYesNo(question: string): boolean {
  const fd = openTty();
  try {
    writeSync(fd, question);
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, null);
    return /^[yY]/.test(buf.subarray(0, n).toString("latin1"));
  } finally {
    closeSync(fd);
  }
}

/** --stdin / --fd N: the first line of what the descriptor holds. */
export function readKeyFromFd(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(4096);
  for (;;) {
    let n = 0;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
      throw new UsageError(`cannot read the key from file descriptor ${fd}: ${messageOf(e)}`);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    if (buf.subarray(0, n).includes(0x0a)) break;
  }
  return Buffer.concat(chunks).toString("latin1").split(/\r?\n/)[0]?.slice(0, MAX) ?? "";
}
