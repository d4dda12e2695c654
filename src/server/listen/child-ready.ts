/**
 * Wait until a capture child (tcpdump, our NFQUEUE reader) says on stderr that it is capturing;
 * reject with what it said if it exits first or says nothing for 10 s.
 */
import { EnvironmentError } from "../../errors.js";
import type { ReaderChild } from "../../exec.js";

const START_TIMEOUT_MS = 10_000;

export function childReady(child: ReaderChild, ready: RegExp, what: string): Promise<void> {
  let stderr = "";
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      reject(new EnvironmentError(`${what} did not start: ${stderr.trim()}`));
    }, START_TIMEOUT_MS);
    child.stderr.on("data", (c: Buffer) => {
      // Only the start-up text is kept: a chatty child cannot grow this.
      if (stderr.length < 4096) stderr += c.toString();
      if (ready.test(stderr)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new EnvironmentError(`${what} exited (${code ?? "signal"}): ${stderr.trim()}`));
    });
  });
}
