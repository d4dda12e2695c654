/** Sending SPA from the rig's client namespace with either client, as the e2e tests do it. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO, type Rig } from "./rig.js";

export type Client = "c" | "ts";

export const keyArgs = (key: string, hmacKey: string): string[] => [
  "--key-base64-rijndael",
  key,
  "--key-base64-hmac",
  hmacKey,
  "--use-hmac",
];

/** The argv of the C client (Debian's /usr/bin/fwknop) or ours, without saving args to HOME. */
export function clientArgv(client: Client, args: readonly string[]): string[] {
  return client === "c"
    ? ["/usr/bin/fwknop", "--no-save-args", ...args]
    : [process.execPath, join(REPO, "bin", "fwknop"), "--no-save-args", ...args];
}

/** The environment the clients run with: HOME set, nothing else of ours. */
export const clientEnv = (home: string): NodeJS.ProcessEnv => ({
  PATH: "/usr/bin:/bin",
  HOME: home,
  USER: "root",
  LOGNAME: "root",
});

/** Run the C client or ours in the client namespace (or `ns`) with HOME set; it must succeed. */
export async function knock(
  rig: Rig,
  client: Client,
  args: readonly string[],
  home: string,
  ns = rig.clientNs,
): Promise<void> {
  const r = await rig.run(ns, clientArgv(client, args), { env: clientEnv(home) });
  assert.equal(r.code, 0, `${client} client failed: ${r.stderr}`);
}
