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

/** Run the C client or ours in the client namespace with HOME set; the run must succeed. */
export async function knock(
  rig: Rig,
  client: Client,
  args: readonly string[],
  home: string,
): Promise<void> {
  const argv =
    client === "c"
      ? ["/usr/bin/fwknop", "--no-save-args", ...args]
      : [process.execPath, join(REPO, "bin", "fwknop"), "--no-save-args", ...args];
  const r = await rig.run(rig.clientNs, argv, {
    env: { PATH: "/usr/bin:/bin", HOME: home, USER: "root", LOGNAME: "root" },
  });
  assert.equal(r.code, 0, `${client} client failed: ${r.stderr}`);
}
