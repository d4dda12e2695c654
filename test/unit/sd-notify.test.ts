/**
 * src/server/sd-notify.ts for real: a python3 process binds its own AF_UNIX datagram socket (a path
 * in a temporary directory, or an abstract name), stands in for systemd's notification socket, and
 * prints each datagram it receives; the test reads what arrived. Both ways of sending are tried:
 * libc through koffi, and the systemd-notify program when koffi is not available.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { after, describe, it, type TestContext } from "node:test";
import { loadKoffi } from "../../src/server/native/koffi.js";
import {
  SYSTEMD_NOTIFY,
  notifyAddress,
  notifyReady,
  notifyReloading,
  notifyStatus,
  notifyStopping,
  sdNotify,
} from "../../src/server/sd-notify.js";

const RECEIVER = `
import json, socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + name[1:] if name.startswith("@") else name)
print("bound", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

interface Receiver {
  name: string;
  /** The next datagram that arrives (systemd-notify's BARRIER=1 skipped). */
  next: () => Promise<string>;
}

const dir = mkdtempSync(join(tmpdir(), "fwkts-notify-"));
const children: ChildProcessByStdio<null, Readable, Readable>[] = [];
after(() => {
  for (const c of children) c.kill();
  rmSync(dir, { recursive: true, force: true });
});

const PYTHON = "/usr/bin/python3";

/** What a test needs that this machine lacks, said as the test's skip reason; false: nothing. */
function lacks(t: TestContext, needs: { koffi?: boolean; program?: string }): boolean {
  const why = [
    ...(existsSync(PYTHON) ? [] : [`${PYTHON} is not installed (package python3)`]),
    ...(needs.program !== undefined && !existsSync(needs.program)
      ? [`${needs.program} is not installed (package systemd)`]
      : []),
    ...(needs.koffi === true && typeof loadKoffi() === "string"
      ? ["koffi does not load here"]
      : []),
  ];
  if (why.length > 0) t.skip(why.join("; "));
  return why.length > 0;
}

async function receiver(name: string): Promise<Receiver> {
  const child = spawn(PYTHON, ["-c", RECEIVER, name], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const r = await Promise.race([
      lines.next(),
      new Promise<never>((_, reject) =>
        setTimeout(() => {
          reject(new Error("no datagram within 5 s"));
        }, 5000).unref(),
      ),
    ]);
    if (r.done === true) throw new Error("the receiver exited");
    return r.value;
  };
  assert.equal(await line(), "bound");
  return {
    name,
    next: async () => {
      for (;;) {
        const got = JSON.parse(await line()) as string;
        if (got !== "BARRIER=1") return got;
      }
    },
  };
}

const noKoffi = (): string => "koffi is not available (test)";

describe("sd-notify", () => {
  it("sends READY=1 to a socket path through koffi", async (t) => {
    if (lacks(t, { koffi: true })) return;
    const r = await receiver(join(dir, "notify"));
    const out = await notifyReady({ env: { NOTIFY_SOCKET: r.name } });
    assert.deepEqual(out, { sent: true, how: `datagram to ${r.name}` });
    assert.equal(await r.next(), "READY=1");
  });

  it("sends to an abstract socket ('@name'), each kind of message", async (t) => {
    if (lacks(t, { koffi: true })) return;
    const r = await receiver(`@fwkts-test-${randomBytes(6).toString("hex")}`);
    const env = { NOTIFY_SOCKET: r.name };
    assert.equal((await notifyReloading({ env })).sent, true);
    assert.match(await r.next(), /^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$/);
    assert.equal((await notifyReady({ env })).sent, true);
    assert.equal(await r.next(), "READY=1");
    assert.equal((await notifyStatus("serving\non 2 sockets", { env })).sent, true);
    assert.equal(await r.next(), "STATUS=serving on 2 sockets");
    assert.equal((await notifyStopping({ env })).sent, true);
    assert.equal(await r.next(), "STOPPING=1");
  });

  it("without koffi, runs systemd-notify, which sends the same lines", async (t) => {
    if (lacks(t, { program: SYSTEMD_NOTIFY })) return;
    const r = await receiver(join(dir, "notify-fallback"));
    const out = await notifyReady({ env: { NOTIFY_SOCKET: r.name }, koffi: noKoffi });
    assert.equal(out.sent, true, out.how);
    assert.equal(out.how, `${SYSTEMD_NOTIFY} (koffi is not available (test))`);
    assert.equal(await r.next(), "READY=1");
  });

  it("says why when it cannot send", async () => {
    const unset = await notifyReady({ env: {} });
    assert.deepEqual(unset, {
      sent: false,
      how: "NOTIFY_SOCKET is not set (not started by systemd)",
    });
    const neither = await notifyReady({
      env: { NOTIFY_SOCKET: join(dir, "nobody") },
      koffi: noKoffi,
      systemdNotify: join(dir, "no-systemd-notify"),
    });
    assert.equal(neither.sent, false);
    assert.match(
      neither.how,
      /koffi is not available \(test\), and there is no .*no-systemd-notify/,
    );
    const relative = await sdNotify(["READY=1"], { env: { NOTIFY_SOCKET: "relative/path" } });
    assert.equal(relative.sent, false);
    assert.match(relative.how, /neither a path nor an abstract name/);
  });

  it("reports a socket nobody listens on instead of throwing", async (t) => {
    if (lacks(t, { koffi: true })) return;
    const out = await notifyReady({ env: { NOTIFY_SOCKET: join(dir, "absent") } });
    assert.equal(out.sent, false);
    assert.match(out.how, /sendto: errno 2$/); // ENOENT
  });

  it("lays out struct sockaddr_un", () => {
    const path = notifyAddress("/run/systemd/notify");
    assert.ok(Buffer.isBuffer(path));
    assert.equal(path.readUInt16LE(0), 1); // AF_UNIX
    assert.equal(path.subarray(2).toString("latin1"), "/run/systemd/notify\0");
    const abstract = notifyAddress("@x/y");
    assert.ok(Buffer.isBuffer(abstract));
    assert.equal(abstract.subarray(2).toString("latin1"), "\0x/y");
    assert.match(String(notifyAddress(`/${"a".repeat(107)}`)), /too long/);
    assert.ok(Buffer.isBuffer(notifyAddress(`/${"a".repeat(106)}`)));
  });
});
