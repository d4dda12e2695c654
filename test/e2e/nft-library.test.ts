/**
 * libnftables in-process (src/server/native/libnftables.ts) against the kernel in a test
 * namespace: commits, errors attributed to the command that caused them (a failure leaves the
 * next command unaffected), deletes of missing elements reported as nft reports them (the
 * nftables backend's revoke relies on that text), many commands in order, and no use after close.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createRig, REPO, type Rig } from "./rig.js";

interface Probe {
  unavailable?: string;
  steps: string[];
  many: string[];
  afterClose: string;
}

describe("libnftables channel", () => {
  let rig: Rig;
  let probe: Probe;

  before(async () => {
    rig = await createRig();
    const r = await rig.run(rig.serverNs, [
      process.execPath,
      "--import",
      "tsx",
      join(REPO, "test", "e2e", "nft-library-probe.ts"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    probe = JSON.parse(r.stdout) as Probe;
  });
  after(async () => {
    await rig.teardown();
  });

  it("loads here (koffi and Debian's libnftables1 are installed)", () => {
    assert.equal(probe.unavailable, undefined);
  });

  it("commits, rejects a failed command with nft's error, and carries on", () => {
    const [table, add, noSet, delMissing, del] = probe.steps;
    assert.equal(table, "ok");
    assert.equal(add, "ok");
    assert.match(noSet ?? "", /^CommandError: Error: No such file or directory\n.*nosuchset/);
    assert.match(delMissing ?? "", /^CommandError: Error: .*No such file or directory/);
    assert.doesNotMatch(delMissing ?? "", /nosuchset/, "an earlier error leaked into this one");
    assert.equal(del, "ok");
    assert.equal(probe.afterClose, "Error: libnftables channel closed");
  });

  it("keeps every command's outcome its own over many calls, failures interleaved", async () => {
    probe.many.forEach((v, i) => {
      assert.equal(v === "ok", i % 50 !== 7, `command ${i}: ${v}`);
    });
    assert.equal(await rig.nftConcatElements("inet libtest s"), 294);
    const listed = await rig.must(rig.serverNs, ["nft", "list", "set", "inet", "libtest", "s"]);
    assert.doesNotMatch(listed, /198\.18\.0\.2 \./, "the deleted element is back");
  });
});
