/**
 * exec.ts, the one place that starts processes: the long-running children and how they are ended,
 * and what a one-shot run reports of a child a signal ended.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runPiped, spawnConversation, spawnReader, stopChild } from "../../src/exec.js";

describe("exec", () => {
  it("runPiped names the signal that ended the child", async () => {
    const r = await runPiped("/bin/sleep", ["30"], { timeoutMs: 50 });
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    assert.equal(r.signal, "SIGKILL");
  });

  it("a conversation child answers on stdout, and goes when its stdin closes", async () => {
    const child = spawnConversation("/bin/cat", []);
    const echoed = new Promise<string>((resolve) => {
      child.stdout.once("data", (d: Buffer) => {
        resolve(d.toString());
      });
    });
    child.stdin.write("hello\n");
    assert.equal(await echoed, "hello\n");
    child.stdin.end();
    await stopChild(child, { killAfterMs: 5000 });
    assert.equal(child.exitCode, 0);
  });

  it("stopChild kills a child that ignores the request once killAfterMs have passed", async () => {
    const child = spawnReader("/bin/sh", ["-c", "trap '' TERM; echo ready; exec sleep 30"]);
    await new Promise((resolve) => child.stdout.once("data", resolve));
    await stopChild(child, { signal: "SIGTERM", killAfterMs: 100 });
    assert.equal(child.signalCode, "SIGKILL");
  });

  it("stopChild on a child that has exited resolves at once", async () => {
    const child = spawnReader("/bin/true", []);
    await new Promise((resolve) => child.once("exit", resolve));
    await stopChild(child, { signal: "SIGTERM" });
  });
});
