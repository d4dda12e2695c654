/**
 * A real firewalld inside a rig's server namespace (design.md recipe): a launcher process runs in
 * a private mount namespace joined to the network namespace, with its own /run/dbus, system bus
 * and firewalld. Programs that must talk to that firewalld (firewall-cmd, fwknopd) are started in
 * the launcher's namespaces with nsenter.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import type { Rig } from "./rig.js";

export interface Firewalld {
  /** argv prefix that runs a program where firewalld is reachable. */
  wrap: (argv: readonly string[]) => string[];
  stop(): Promise<void>;
}

function mountNs(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

function pidsInMountNs(ns: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^[0-9]+$/.test(d))
    .map(Number)
    .filter((p) => p !== process.pid && mountNs(p) === ns);
}

export async function startFirewalld(
  rig: Rig,
  backend: "nftables" | "iptables",
): Promise<Firewalld> {
  const launcher: ChildProcess = spawn(
    "unshare",
    [
      "-m",
      "--propagation",
      "private",
      "ip",
      "netns",
      "exec",
      rig.serverNs,
      process.execPath,
      "--import",
      "tsx",
      join(__dirname, "firewalld-launcher.ts"),
      backend,
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  rig.track(launcher);
  const line = await new Promise<string>((resolve) => {
    const t = setTimeout(() => {
      resolve("TIMEOUT");
    }, 40_000);
    if (launcher.stdout === null) {
      resolve("NO STDOUT");
      return;
    }
    createInterface({ input: launcher.stdout }).once("line", (l) => {
      clearTimeout(t);
      resolve(l);
    });
  });
  if (line !== "READY") throw new Error(`firewalld did not come up in the namespace: ${line}`);
  // `ip netns exec` replaced itself with node, so the launcher's pid holds the namespaces.
  const pid = launcher.pid ?? 0;
  return {
    wrap: (argv) => [
      "nsenter",
      `--mount=/proc/${pid}/ns/mnt`,
      `--net=/proc/${pid}/ns/net`,
      "--",
      ...argv,
    ],
    stop: async () => {
      const mnt = mountNs(pid);
      launcher.stdin?.end();
      await new Promise((r) => setTimeout(r, 1000));
      if (launcher.exitCode === null) launcher.kill("SIGKILL");
      // Anything still living in the launcher's private mount namespace was started by it (dbus,
      // firewalld): end it by pid, or the namespace (and the netns name) cannot be released.
      if (mnt !== null) for (const p of pidsInMountNs(mnt)) process.kill(p, "SIGKILL");
    },
  };
}
