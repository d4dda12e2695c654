/** Command splitting and substitution: no shell, values cannot add or split arguments. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { splitArgs } from "../../src/argv/split-args.js";
import { substitute } from "../../src/server/actions/run-command.js";
import { cycleVars } from "../fixtures/pipeline.js";

const vars = cycleVars;

describe("command splitting", () => {
  it("splits on white space; quotes group without expansion", () => {
    assert.deepEqual(splitArgs("/usr/bin/touch /tmp/a  /tmp/b"), [
      "/usr/bin/touch",
      "/tmp/a",
      "/tmp/b",
    ]);
    assert.deepEqual(splitArgs(`/bin/sh -c 'echo "$HOME"; id'`), [
      "/bin/sh",
      "-c",
      'echo "$HOME"; id',
    ]);
    assert.deepEqual(splitArgs("a\nb\tc"), ["a", "b", "c"]);
    assert.deepEqual(splitArgs("echo ''"), ["echo", ""]);
  });
  it("refuses unbalanced quotes, nothing, and more than 30 arguments", () => {
    assert.equal(splitArgs("echo 'oops"), null);
    assert.equal(splitArgs("   "), null);
    assert.equal(splitArgs(Array(31).fill("x").join(" ")), null);
  });
  it("substitutes inside each argument after splitting", () => {
    assert.deepEqual(
      substitute(["touch", "/tmp/open_$IP_$PROTO_$PORT_$CLIENT_TIMEOUT", "$TIMEOUT"], vars),
      ["touch", "/tmp/open_198.18.0.2_6_22_30", "1700000030"],
    );
    const hostile = { ...vars, IP: "1.2.3.4 ; rm -rf /" };
    assert.deepEqual(
      substitute(["echo", "$IP"], hostile),
      ["echo", "1.2.3.4 ; rm -rf /"],
      "a value stays one argument",
    );
  });
});
