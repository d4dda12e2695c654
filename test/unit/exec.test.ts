/** src/exec.ts, the one module that runs programs: argv only, timeouts, what failed and why. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runExec, runProgram } from "../../src/exec.js";

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
});
