/**
 * Two gateways and one redis-server in a rig, for fwknopd-redis.test.ts and bench/redis.ts.
 * Gateway A runs in the rig's server namespace (198.18.0.1), gateway B in one more namespace
 * (198.18.2.1) joined to the client namespace by a second veth (client side 198.18.2.2). Redis
 * runs in the client namespace, bound to 198.18.0.2 and 198.18.2.2 only, with a password and no
 * persistence, started and killed by its PID; nothing listens outside the rig's namespaces.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freshSpaWire } from "../fixtures/pipeline.js";
import { CLIENT_IP, createRig, waitFor, type Rig } from "./rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

export const PORT = 1234;
export const B_IP = "198.18.2.1";
export const B_CLIENT_IP = "198.18.2.2";
export const REDIS_PORT = 6399;

const keys = { key: randomBytes(32), hmac: randomBytes(64) };
export const ACCESS = `SOURCE ANY\nOPEN_PORTS tcp/${PORT}\nFW_ACCESS_TIMEOUT 60\nKEY_BASE64 ${keys.key.toString("base64")}\nHMAC_KEY_BASE64 ${keys.hmac.toString("base64")}\n`;

/** A fresh valid SPA packet (its own digest) for the stanza above. */
export const wire = (): string =>
  freshSpaWire(
    { mode: "cbc", key: keys.key, hmac: { type: "sha256", key: keys.hmac } },
    { messageType: 1, message: `${CLIENT_IP},tcp/${PORT}` },
  );

export class RedisGateways {
  readonly password = randomBytes(12).toString("hex");
  rig!: Rig;
  nsB!: string;
  redisDir!: string;
  private redis: ChildProcess | null = null;
  private redisLog = "";

  /** The rig, B's namespace and a running redis-server (no gateway yet). */
  async setUp(): Promise<void> {
    const rig = await createRig({ protectedPort: PORT, deny: "debian-nftables" });
    this.rig = rig;
    await rig.ask(rig.serverNs, { op: "listen", port: PORT });
    this.nsB = await rig.addNamespace("b");
    rig.veth(rig.clientNs, "veth1", this.nsB, "veth0");
    await rig.must(rig.clientNs, ["ip", "addr", "add", `${B_CLIENT_IP}/24`, "dev", "veth1"]);
    await rig.must(rig.clientNs, ["ip", "link", "set", "veth1", "up"]);
    await rig.must(this.nsB, ["ip", "addr", "add", `${B_IP}/24`, "dev", "veth0"]);
    await rig.must(this.nsB, ["ip", "link", "set", "veth0", "up"]);
    this.redisDir = rig.tempDir("fwkts-redis-");
    await this.startRedis();
  }

  /** redis://:password@host:port/0 as seen from gateway "a" or "b". */
  url(which: "a" | "b"): string {
    return `redis://:${this.password}@${which === "a" ? CLIENT_IP : B_CLIENT_IP}:${REDIS_PORT}/0`;
  }

  /** A URL file (mode 0600) for gateway "a" or "b". */
  urlFile(which: "a" | "b"): string {
    const f = join(this.redisDir, `url-${which}`);
    writeFileSync(f, `${this.url(which)}\n`, { mode: 0o600 });
    return f;
  }

  gateway(which: "a" | "b", conf: string, access = ACCESS): TsFwknopd {
    if (which === "a") return new TsFwknopd(this.rig, conf, access);
    return new TsFwknopd(this.rig, conf, access, (argv) => [
      "ip",
      "netns",
      "exec",
      this.nsB,
      ...argv,
    ]);
  }

  async startRedis(): Promise<void> {
    this.redisLog = "";
    const p = this.rig.spawn(this.rig.clientNs, [
      "/usr/bin/redis-server",
      "--port",
      String(REDIS_PORT),
      "--bind",
      `${CLIENT_IP} ${B_CLIENT_IP}`,
      "--requirepass",
      this.password,
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      this.redisDir,
      "--maxmemory-policy",
      "noeviction",
    ]);
    p.stdout?.on("data", (d: Buffer) => (this.redisLog += d.toString()));
    this.redis = p;
    const up = await waitFor(() => /Ready to accept connections/.test(this.redisLog), 10_000);
    assert.ok(up, this.redisLog);
  }

  async killRedis(): Promise<void> {
    const p = this.redis;
    if (p === null || p.exitCode !== null) return;
    p.kill("SIGKILL");
    await waitFor(() => p.exitCode !== null || p.signalCode !== null, 5000);
    this.redis = null;
  }

  async teardown(): Promise<void> {
    await this.killRedis();
    await this.rig.teardown();
  }
}
