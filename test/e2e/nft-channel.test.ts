/**
 * The persistent nft channel against the real nft in a test namespace: success, failure
 * attribution (a failed command rejects, the next one is unaffected), and many commands in a row.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CommandError } from "../../src/exec.js";
import { NftChannel } from "../../src/server/firewall/nft-channel.js";
import { createRig, type Rig } from "./rig.js";

describe("nft channel", () => {
  let rig: Rig;
  let ch: NftChannel;
  const set = "inet chtest s";

  before(async () => {
    rig = await createRig();
    const r = await rig.run(rig.serverNs, ["nft", "-f", "-"], {
      input: [
        "add table inet chtest",
        "add set inet chtest s { type ipv4_addr . inet_proto . inet_service; flags timeout; }",
        "add set inet chtest marker { type inet_service; }",
        "",
      ].join("\n"),
    });
    assert.equal(r.code, 0, r.stderr);
    ch = new NftChannel(
      ["ip", "netns", "exec", rig.serverNs, "nft"],
      "list set inet chtest marker",
    );
  });
  after(async () => {
    ch.close();
    await rig.teardown();
  });

  it("commits, rejects a failed command with nft's error, and carries on", async () => {
    await ch.run(`add element ${set} { 198.18.0.2 . tcp . 22 timeout 60s }`);
    await assert.rejects(
      ch.run("add element inet chtest nosuchset { 198.18.0.2 . tcp . 22 }"),
      (e: unknown) => e instanceof CommandError && /Error:/.test(e.stderr),
    );
    await assert.rejects(
      ch.run(`delete element ${set} { 198.18.0.3 . tcp . 22 }`),
      (e: unknown) => e instanceof CommandError && /No such file or directory/.test(e.stderr),
    );
    await ch.run(`delete element ${set} { 198.18.0.2 . tcp . 22 }`);
    const listed = await rig.must(rig.serverNs, ["nft", "list", "set", "inet", "chtest", "s"]);
    assert.doesNotMatch(listed, /198\.18\.0\.2/);
  });

  it("keeps every command in order over many calls, failures interleaved", async () => {
    const jobs: Array<Promise<boolean>> = [];
    for (let i = 0; i < 300; i++) {
      const line =
        i % 50 === 7
          ? "add element inet chtest nosuchset { 198.18.0.2 . tcp . 22 }"
          : `add element ${set} { 198.18.1.${i % 250} . tcp . ${1000 + i} timeout 60s }`;
      jobs.push(
        ch.run(line).then(
          () => true,
          () => false,
        ),
      );
    }
    const ok = await Promise.all(jobs);
    ok.forEach((v, i) => {
      assert.equal(v, i % 50 !== 7, `command ${i}`);
    });
    assert.equal(await rig.nftConcatElements("inet chtest s"), 294);
  });
});
