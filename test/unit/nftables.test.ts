/**
 * The nftables backend with a fake exec: what list() makes of nft's answers. A set that is not
 * there yet holds no grants; any other failure is an error, so the daemon's reconciliation at
 * start never reads a firewall it could not read as an empty one. (Rules and elements are
 * exercised for real in test/e2e/nft-*.test.ts and fwknopd-nat.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommandError, type Exec, type ExecResult } from "../../src/exec.js";
import { NftablesBackend } from "../../src/server/firewall/nftables.js";
import { nftOptions } from "../fixtures/nft-options.js";

function backend(answer: (argv: readonly string[]) => ExecResult): NftablesBackend {
  const exec: Exec = (bin, args) => Promise.resolve(answer([bin, ...args]));
  return new NftablesBackend(nftOptions(), exec);
}

const LISTING = JSON.stringify({
  nftables: [
    { metainfo: { json_schema_version: 1 } },
    {
      set: {
        family: "inet",
        name: "allow4",
        table: "fwknopd",
        elem: [{ elem: { val: { concat: ["198.18.0.2", "tcp", 22] }, expires: 25 } }],
      },
    },
  ],
});

describe("nftables backend: list()", () => {
  it("reads the grants in the allow sets", async () => {
    const fw = backend((argv) =>
      argv.includes("allow4")
        ? { code: 0, stdout: LISTING, stderr: "" }
        : { code: 0, stdout: '{"nftables": []}', stderr: "" },
    );
    const found = await fw.list(1000);
    assert.deepEqual(
      found.map((g) => [g.address, g.family, g.proto, g.port, g.expiresAt]),
      [["198.18.0.2", 4, "tcp", 22, 1025]],
    );
    await fw.close();
  });

  it("a table or set that is not there yet holds no grants", async () => {
    const fw = backend(() => ({
      code: 1,
      stdout: "",
      stderr: "Error: No such file or directory\nlist set inet fwknopd allow4\n",
    }));
    assert.deepEqual(await fw.list(1000), []);
    await fw.close();
  });

  it("any other failure of nft is an error, not an empty firewall", async () => {
    const fw = backend(() => ({
      code: 1,
      stdout: "",
      stderr: "Error: Could not process rule: Operation not permitted\n",
    }));
    await assert.rejects(fw.list(1000), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.match(e.message, /nft -j list set inet fwknopd allow4: .*Operation not permitted/);
      return true;
    });
    await fw.close();
  });

  it("a missing nft binary is an error too", async () => {
    const fw = backend(() => ({ code: 127, stdout: "", stderr: "spawn /usr/sbin/nft ENOENT" }));
    await assert.rejects(fw.list(1000), CommandError);
    await fw.close();
  });
});
