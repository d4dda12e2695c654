/**
 * exec.ts, the one place that starts processes: one-shot runs (exit status, stdin, timeouts, what
 * failed and why), the long-running children and how they are ended.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import {
  runExec,
  runPiped,
  runProgram,
  spawnConversation,
  spawnReader,
  stopChild,
} from "../../src/exec.js";

describe("exec", () => {
  it("runExec / runProgram: exit status, stdin, stderr or Node's message", async () => {
    const cat = await runProgram("/bin/cat", [], { input: "hello" });
    assert.deepEqual(cat, { code: 0, stdout: "hello", stderr: "" });
    const fail = await runProgram("/bin/sh", ["-c", "echo no >&2; exit 4"]);
    assert.deepEqual(fail, { code: 4, stdout: "", stderr: "no\n" });
    const missing = await runProgram("/nonexistent/prog", []);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /ENOENT/);
    const env = await runExec("/usr/bin/env", [], { timeoutMs: 1000, env: { ONLY: "this" } });
    assert.equal(env.stdout, "ONLY=this\n");
  });
  it("runExec: killed by its timeout with the signal asked for", async () => {
    const o = await runExec("/bin/sleep", ["5"], { timeoutMs: 100, killSignal: "SIGKILL" });
    assert.equal(o.killed, true);
    assert.equal(o.code, null);
    assert.equal(o.signal, "SIGKILL");
    assert.equal(o.spawnFailed, false);
  });

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

  it("stopChild resolves when the signal cannot be sent (EPERM) instead of waiting forever", async () => {
    const fake = Object.assign(new EventEmitter(), {
      exitCode: null,
      signalCode: null,
      kill(): boolean {
        queueMicrotask(() =>
          fake.emit("error", Object.assign(new Error("kill EPERM"), { code: "EPERM" })),
        );
        return false;
      },
    });
    const done = await Promise.race([
      stopChild(fake as unknown as ChildProcess, { signal: "SIGTERM" }).then(() => "resolved"),
      new Promise((r) => {
        setTimeout(() => {
          r("hung");
        }, 1000);
      }),
    ]);
    assert.equal(done, "resolved");
  });

  it("stopChild on a child that has exited resolves at once", async () => {
    const child = spawnReader("/bin/true", []);
    await new Promise((resolve) => child.once("exit", resolve));
    await stopChild(child, { signal: "SIGTERM" });
  });
});
