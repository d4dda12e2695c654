/** SourceShare: an address with over half of a second's time is cut only while behind. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SourceShare } from "../../src/server/listen/source-share.js";

describe("SourceShare", () => {
  it("cuts a flooding address while behind and still admits everyone else", () => {
    const share = new SourceShare();
    let flood = 0;
    let others = 0;
    for (let i = 0; i < 1000; i++) {
      if (share.admit(0xc6120002, true, 5000)) {
        flood++;
        share.charge(0xc6120002, 5);
      }
      if (i % 100 === 0 && share.admit(`2001:db8::${i}`, true, 5000)) {
        others++;
        share.charge(`2001:db8::${i}`, 5);
      }
    }
    assert.equal(others, 10);
    // Its time at most the others' (50 ms) and 10 ms more, in 5 ms datagrams.
    assert.ok(flood >= 2 && flood <= 13, `flood admitted ${flood} times`);
  });

  it("admits everything while not behind, a lone sender, two even senders, and forgets within seconds", () => {
    const share = new SourceShare();
    for (let i = 0; i < 100; i++) {
      assert.ok(share.admit(7, false, 0));
      share.charge(7, 1);
    }
    assert.ok(share.admit(7, true, 10), "a lone sender");
    share.charge(8, 1);
    assert.equal(share.admit(7, true, 10), false);
    assert.equal(share.admit(7, true, 1000), false, "half of it a second later");
    assert.ok(share.admit(7, true, 20_000));
    for (let i = 0; i < 100; i++)
      for (const a of [1, 2]) {
        assert.ok(share.admit(a, true, 30_000));
        share.charge(a, 1);
      }
  });
});
