/** SourceShare: an address with over half of a second's datagrams is cut only while behind. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SourceShare } from "../../src/server/listen/source-share.js";

describe("SourceShare", () => {
  it("cuts a flooding address while behind and still admits everyone else", () => {
    const share = new SourceShare();
    let flood = 0;
    let others = 0;
    for (let i = 0; i < 1000; i++) {
      if (share.admit(0xc6120002, true, 5000)) flood++;
      if (i % 100 === 0 && share.admit(`2001:db8::${i}`, true, 5000)) others++;
    }
    assert.equal(others, 10);
    assert.ok(flood >= 8 && flood <= 20, `flood admitted ${flood} times`);
  });

  it("admits everything while not behind, two even senders both, and starts again each second", () => {
    const share = new SourceShare();
    for (let i = 0; i < 100; i++) assert.ok(share.admit(7, false, 0));
    assert.ok(share.admit(7, true, 10), "a lone sender");
    assert.ok(share.admit(8, true, 10));
    assert.equal(share.admit(7, true, 10), false);
    assert.ok(share.admit(7, true, 1000));
    for (let i = 0; i < 100; i++) {
      assert.ok(share.admit(1, true, 3000));
      assert.ok(share.admit(2, true, 3000));
    }
  });
});
