/**
 * Our D-Bus client (src/server/firewall/firewalld-dbus.ts) against a real dbus-daemon on a socket
 * in a temporary folder (no network, nothing of the host's bus): authentication, calls with
 * string and string-array arguments, errors by name, a bus without firewalld, and a bus that goes
 * away under it. firewalld itself is exercised in fwknopd-firewalld.test.ts.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EnvironmentError } from "../../src/errors.js";
import { FirewalldBus } from "../../src/server/firewall/firewalld-dbus.js";
import { waitFor } from "./rig.js";

const BUS = ["org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"] as const;

describe("D-Bus client against a real dbus-daemon", () => {
  const dir = mkdtempSync(join(tmpdir(), "fwkts-dbus-"));
  const socket = join(dir, "bus");
  let daemon: ChildProcess;
  let bus: FirewalldBus;

  const startDaemon = async (): Promise<void> => {
    const conf = join(dir, "bus.conf");
    writeFileSync(
      conf,
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=${socket}</listen>
<auth>EXTERNAL</auth><policy context="default"><allow send_destination="*" eavesdrop="true"/>
<allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
`,
    );
    daemon = spawn("dbus-daemon", [`--config-file=${conf}`, "--nofork", "--nopidfile"], {
      stdio: "ignore",
    });
    assert.ok(
      await waitFor(async () => {
        const probe = new FirewalldBus(`unix:path=${socket}`);
        try {
          await probe.open();
          return true;
        } catch {
          return false;
        } finally {
          probe.close();
        }
      }, 5000),
      "dbus-daemon did not come up",
    );
  };

  before(async () => {
    await startDaemon();
    bus = new FirewalldBus(`unix:path=${socket}`);
  });
  after(() => {
    bus.close();
    daemon.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("authenticates, says Hello, and calls a method with a string argument", async () => {
    const id = await bus.call(...BUS, "GetId", []);
    assert.equal(id.error, null);
    assert.match(id.text, /^[0-9a-f]{32}$/);
    const owner = await bus.call(...BUS, "GetNameOwner", ["org.freedesktop.DBus"]);
    assert.deepEqual(owner, {
      error: null,
      text: "org.freedesktop.DBus",
      values: ["org.freedesktop.DBus"],
    });
  });

  it("reads the bus's own 'as' (ListNames) and 'b' (NameHasOwner) replies", async () => {
    const names = await bus.call(...BUS, "ListNames", []);
    assert.equal(names.error, null);
    assert.ok(Array.isArray(names.values[0]) && names.values[0].includes("org.freedesktop.DBus"));
    const has = await bus.call(...BUS, "NameHasOwner", ["org.freedesktop.DBus"]);
    assert.deepEqual(has.values, [true]);
    const hasNot = await bus.call(...BUS, "NameHasOwner", ["no.such.name"]);
    assert.deepEqual(hasNot.values, [false]);
  });

  it("reports a D-Bus error by its name, with the bus's message", async () => {
    const r = await bus.call(...BUS, "GetNameOwner", ["no.such.name"]);
    assert.equal(r.error, "org.freedesktop.DBus.Error.NameHasNoOwner");
    assert.match(r.text, /no\.such\.name/);
  });

  it("many calls in flight at once each get their own reply", async () => {
    const names = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0 ? "org.freedesktop.DBus" : `x.y${i}`,
    );
    const rs = await Promise.all(names.map((n) => bus.call(...BUS, "GetNameOwner", [n])));
    rs.forEach((r, i) => {
      assert.equal(r.error === null, i % 2 === 0, `call ${i}`);
    });
  });

  it("a passthrough where no firewalld is on the bus fails, naming why (not COMMAND_FAILED)", async () => {
    const r = await bus.passthrough("ipv4", ["-t", "filter", "-L", "INPUT", "-n"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /org\.freedesktop\.DBus\.Error\.ServiceUnknown/);
  });

  it("a socket that is not there is an EnvironmentError naming it", async () => {
    const none = new FirewalldBus(`unix:path=${join(dir, "none")}`);
    await assert.rejects(
      none.open(),
      (e: unknown) => e instanceof EnvironmentError && e.message.includes(join(dir, "none")),
    );
  });

  it("when the bus dies the next call fails, and it reconnects once the bus is back", async () => {
    daemon.kill("SIGKILL");
    await new Promise((res) => daemon.once("exit", res));
    rmSync(socket, { force: true });
    await assert.rejects(bus.call(...BUS, "GetId", []));
    await startDaemon();
    const id = await bus.call(...BUS, "GetId", []);
    assert.equal(id.error, null);
  });
});
