/**
 * fwknop --connect (ours), in-process against TCP services on 127.0.0.1 (no firewall involved):
 * option parsing and refusals, the relay both ways with half-close, retries until the port opens,
 * the deadline's message, a reset, the preamble hook, and that nothing but relayed bytes reaches
 * stdout.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, it } from "node:test";
import { runClientInProcess, type ClientRun } from "../fixtures/client-run.js";
import type { ClientDeps } from "../../src/cli/fwknop.js";
import { openSpaPacket } from "../../src/spa/index.js";

const home = mkdtempSync(join(tmpdir(), "fwknop-connect-"));
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
  rmSync(home, { recursive: true, force: true });
});

const KEY = Buffer.alloc(32, 1).toString("base64");
const knockArgs = ["--no-rc-file", "--no-save-args", "-A", "tcp/22", "-a", "198.18.0.2"];
const keys = ["--key-base64-rijndael", KEY];

interface ConnectRun extends ClientRun {
  /** What the relay wrote to "stdout". */
  relayed: string;
  ms: number;
}

/** main() with --connect, `input` as stdin (ended after it is written, unless `keepOpen`). */
async function runConnect(
  argv: string[],
  input = "",
  extra: Partial<ClientDeps> = {},
  keepOpen = false,
): Promise<ConnectRun> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let relayed = "";
  stdout.on("data", (d: Buffer) => (relayed += d.toString("latin1")));
  if (input !== "") stdin.write(input);
  if (!keepOpen) stdin.end();
  const t0 = Date.now();
  const r = await runClientInProcess(home, argv, {
    stdio: () => ({ input: stdin, output: stdout }),
    ...extra,
  });
  return { ...r, relayed, ms: Date.now() - t0 };
}

/** A TCP service on 127.0.0.1; `port` 0 picks one. */
function serve(onConn: (c: Socket) => void, port = 0): Promise<number> {
  const srv = createServer((c) => {
    c.on("error", () => undefined);
    onConn(c);
  });
  servers.push(srv);
  return new Promise((resolve) => {
    srv.listen(port, "127.0.0.1", () => {
      const a = srv.address();
      resolve(typeof a === "object" && a !== null ? a.port : 0);
    });
  });
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const a = srv.address();
  await new Promise((r) => srv.close(r));
  return typeof a === "object" && a !== null ? a.port : 0;
}

const echo = (c: Socket): void => {
  c.write("SSH-2.0-test-echo\r\n");
  c.pipe(c);
};

describe("fwknop --connect: options", () => {
  const bad: Array<[string[], RegExp]> = [
    [["--connect", "fd00::1:22"], /^fwknop: --connect: 'fd00::1:22' has more than one ':'.*\[/],
    [["--connect", "host"], /^fwknop: --connect: 'host' is not HOST:PORT/],
    [["--connect", "host:0"], /^fwknop: --connect: port 0 out of range \[1-65535\]/],
    [["--connect", "host:ssh"], /^fwknop: --connect: port must be a number, got 'ssh'/],
    [["--connect", "[]:22"], /is not HOST:PORT/],
    [
      ["--connect", "h:22", "--connect-timeout", "0"],
      /^fwknop: --connect-timeout: seconds above 0/,
    ],
    [["--connect", "h:22", "--connect-timeout", "-1"], /--connect-timeout: seconds above 0/],
    [["--connect", "h:22", "--connect-timeout", "3601"], /--connect-timeout: seconds above 0/],
    [["--connect", "h:22", "-T"], /^fwknop: --connect cannot be used with -T: /],
    [["--connect", "h:22", "--key-gen"], /cannot be used with --key-gen/],
    [["--connect", "h:22", "-K", join(home, "k")], /cannot be used with --key-gen/],
    [["--connect", "h:22", "--stdin"], /cannot be used with --stdin or --fd 0: .*relays/],
    [["--connect", "h:22", "--fd", "0"], /cannot be used with --stdin or --fd 0/],
    [["--connect", "h:22", "--show-last"], /cannot be used with --show-last/],
    [["--connect", "h:22", "--stanza-list"], /cannot be used with --stanza-list/],
  ];
  for (const [args, re] of bad)
    it(`refuses ${args.join(" ")}`, async () => {
      const r = await runConnect([...knockArgs, ...keys, ...args]);
      assert.equal(r.code, 1);
      assert.match(r.err, re);
      assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
      assert.equal(r.out + r.relayed, "");
    });

  it("is not an rc variable (the C client refuses unknown ones)", async () => {
    const { writeFileSync } = await import("node:fs");
    const rc = join(home, "rc-connect");
    writeFileSync(rc, "[s]\nCONNECT 127.0.0.1:22\n", { mode: 0o600 });
    const r = await runConnect(["--rc-file", rc, "-n", "s", "-A", "tcp/22", "-s", ...keys]);
    assert.equal(r.code, 1);
    assert.match(r.err, /rc-connect:2: unknown variable 'CONNECT'/);
  });

  it("-h and -V go to stderr with --connect", async () => {
    for (const flag of ["-h", "-V"]) {
      const r = await runConnect(["--connect", "h:22", flag]);
      assert.equal(r.code, 0);
      assert.equal(r.out, "");
      assert.match(r.err, /fwknop client/);
    }
  });
});

describe("fwknop --connect: relay", () => {
  it("sends the packet to the connect host (no -D), then relays both ways; -v only on stderr", async () => {
    const udp = createSocket("udp4");
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r));
    const got = new Promise<string>((r) => {
      udp.once("message", (m) => {
        r(m.toString("latin1"));
      });
    });
    const port = await serve(echo);
    const r = await runConnect(
      [...knockArgs, ...keys, "-p", String(udp.address().port), "-v"].concat([
        "--connect",
        `127.0.0.1:${port}`,
      ]),
      "hello\nworld\n",
    );
    const wire = await got;
    udp.close();
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "", "nothing of fwknop's own on stdout");
    assert.equal(r.relayed, "SSH-2.0-test-echo\r\nhello\nworld\n");
    assert.match(r.err, /Final SPA Data: /);
    assert.match(r.err, /--connect 127\.0\.0\.1:\d+: connected from 127\.0\.0\.1:\d+ after 1 try/);
    assert.ok(openSpaPacket(wire, { mode: "cbc", key: Buffer.from(KEY, "base64"), hmac: null }).ok);
  });

  it("stdin's end half-closes: the server still answers, its close ends the run with 0", async () => {
    const port = await serve((c) => {
      let seen = "";
      c.on("data", (d: Buffer) => (seen += d.toString()));
      c.on("end", () => c.end(`got ${seen.length} bytes\n`));
    });
    const r = await runConnect(
      [...knockArgs, ...keys, "-D", "127.0.0.1", "--connect", `127.0.0.1:${port}`],
      "x".repeat(100_000),
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(r.relayed, "got 100000 bytes\n");
  });

  it("the server's close while stdin still flows ends the run with 0", async () => {
    const port = await serve((c) => {
      c.once("data", () => c.end("bye\n"));
    });
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let relayed = "";
    stdout.on("data", (d: Buffer) => (relayed += d.toString()));
    const feed = setInterval(() => stdin.write("more input\n".repeat(100)), 2);
    try {
      const r = await runClientInProcess(
        home,
        [...knockArgs, ...keys, "-D", "127.0.0.1", "--connect", `127.0.0.1:${port}`],
        { stdio: () => ({ input: stdin, output: stdout }) },
      );
      assert.equal(r.code, 0, r.err);
      assert.equal(relayed, "bye\n");
      assert.ok(stdin.destroyed, "stdin is let go of");
    } finally {
      clearInterval(feed);
    }
  });

  it("keeps trying until the port opens", async () => {
    const port = await closedPort();
    setTimeout(() => void serve(echo, port), 400);
    const r = await runConnect(
      [...knockArgs, ...keys, "-D", "127.0.0.1", "-v", "--connect", `127.0.0.1:${port}`],
      "ping\n",
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(r.relayed, "SSH-2.0-test-echo\r\nping\n");
    assert.match(r.err, /after \d+ tries/);
    assert.ok(r.ms >= 350, `${r.ms} ms`);
  });

  it("a port that never opens: exit 1 by the deadline, a message naming the SPA target", async () => {
    const port = await closedPort();
    const r = await runConnect(
      [
        ...knockArgs,
        ...keys,
        "-D",
        "127.0.0.1",
        "-p",
        "40001",
        "--connect",
        `127.0.0.1:${port}`,
        "--connect-timeout",
        "0.6",
      ],
      "ping\n",
    );
    assert.equal(r.code, 1);
    assert.equal(r.out + r.relayed, "");
    assert.match(
      r.err,
      new RegExp(
        `^fwknop: --connect 127\\.0\\.0\\.1:${port}: port did not open within 0\\.6 s \\(\\d+ tries, last: connection refused\\); the SPA packet was sent to 127\\.0\\.0\\.1:40001/udp: check`,
      ),
    );
    assert.ok(r.ms >= 550 && r.ms < 2000, `${r.ms} ms`);
  });

  it("a reset after connecting: exit 1 and says so", async () => {
    const port = await serve((c) => {
      c.write("SSH-2.0-bye\r\n", () => setTimeout(() => c.resetAndDestroy(), 50));
    });
    const r = await runConnect(
      [...knockArgs, ...keys, "-D", "127.0.0.1", "--connect", `127.0.0.1:${port}`],
      "",
      {},
      true,
    );
    assert.equal(r.code, 1);
    assert.equal(r.relayed, "SSH-2.0-bye\r\n");
    assert.match(r.err, /^fwknop: --connect 127\.0\.0\.1:\d+: connection reset by the server$/m);
  });

  it("writes the preamble first, made from the packet just sent and the connection", async () => {
    let seen = "";
    const port = await serve((c) => {
      c.on("data", (d: Buffer) => (seen += d.toString()));
      c.on("end", () => c.end());
    });
    let wire = "";
    let local = 0;
    const r = await runConnect(
      [...knockArgs, ...keys, "-D", "127.0.0.1", "--connect", `127.0.0.1:${port}`],
      "after\n",
      {
        connectPreamble: ({ made, conn }) => {
          wire = made.wire;
          local = conn.localPort;
          assert.equal(conn.remotePort, port);
          return Promise.resolve(Buffer.from("TOKEN\n"));
        },
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(seen, "TOKEN\nafter\n");
    assert.ok(wire.length > 100);
    assert.ok(local > 0);
  });
});
