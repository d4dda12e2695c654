/** Errors by blame (src/errors.ts): each class's code and exit status, and what is not ours. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConfigError,
  EnvironmentError,
  InternalError,
  PeerError,
  UsageError,
  exitStatusOf,
  messageOf,
} from "../../src/errors.js";
import { CommandError } from "../../src/exec.js";
import { GpgError } from "../../src/gpg/gpg-binary.js";
import { FirewallRefusedError } from "../../src/server/firewall-choice.js";
import { PlanError } from "../../src/server/firewall/host/plan.js";
import { FkoError } from "../../src/spa/index.js";

describe("errors by blame", () => {
  const cases: Array<[string, unknown, string, number]> = [
    ["usage", new UsageError("-Z: unknown option", "-Z"), "E_USAGE", 1],
    ["config", new ConfigError("/etc/fwknop/access.conf", 3, "bad"), "E_CONFIG", 1],
    ["libfko", new FkoError("FKO_ERROR_INVALID_DATA", "field"), "FKO_ERROR_INVALID_DATA", 1],
    ["environment", new EnvironmentError("no tcpdump"), "E_ENV", 2],
    ["firewall command", new CommandError(["nft"], 1, "no"), "E_COMMAND", 2],
    ["gpg", new GpgError("gpg: no secret key"), "E_GPG", 2],
    ["firewall refused", new FirewallRefusedError("x"), "E_FIREWALL_REFUSED", 2],
    ["no firewalld", new PlanError("p", "f"), "E_FIREWALL_PLAN", 2],
    ["peer", new PeerError("D-Bus said no"), "E_PEER", 1],
    ["internal", new InternalError("empty nft command"), "E_INTERNAL", 70],
  ];
  for (const [what, e, code, status] of cases)
    it(`${what}: code ${code}, exit ${status}`, () => {
      assert.equal((e as { code: string }).code, code);
      assert.equal(exitStatusOf(e), status);
    });

  it("anything not ours is a bug: exit 70", () => {
    assert.equal(exitStatusOf(new TypeError("x is undefined")), 70);
    assert.equal(exitStatusOf("a string"), 70);
  });

  it("messageOf takes anything thrown", () => {
    assert.equal(messageOf(new Error("m")), "m");
    assert.equal(messageOf(42), "42");
  });

  it("a cause is kept", () => {
    const cause = new Error("ENOENT");
    assert.equal(new EnvironmentError("no file", { cause }).cause, cause);
  });
});
