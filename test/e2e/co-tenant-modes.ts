/**
 * The modes the co-tenant scenario (co-tenant.ts) compares, and the daemon each runs on the NAT
 * rig: our fwknopd on nftables behind the server's default-drop admin table. A mode is the
 * fwknopd.conf and access.conf lines it needs plus how A connects; adding one is adding a row.
 */
import { randomBytes } from "node:crypto";
import type { ConnectHow } from "./co-tenant.js";
import { clientArgv } from "./knock.js";
import type { NatRig } from "./nat-rig.js";
import { TsFwknopd } from "./ts-fwknopd.js";

export interface CoTenantMode {
  name: string;
  /** What the mode does, for the bench's table. */
  what: string;
  /** fwknopd.conf lines beyond coTenantDaemon's own. */
  conf: readonly string[];
  /** Lines in A's access.conf stanza beyond SOURCE, the keys and FW_ACCESS_TIMEOUT. */
  access: readonly string[];
  connect: ConnectHow;
}

export const MODES: readonly CoTenantMode[] = [
  {
    name: "window",
    what: "source address -> proto/port for FW_ACCESS_TIMEOUT (fwknop's grant)",
    conf: [],
    access: [],
    connect: { kind: "plain" },
  },
  {
    name: "one-shot",
    what: "MAX_CONNECTIONS 1: the first new connection from the address spends the grant",
    conf: [],
    access: ["MAX_CONNECTIONS 1"],
    connect: { kind: "plain" },
  },
  {
    name: "three",
    what: "MAX_CONNECTIONS 3: three new connections from the address, then none",
    conf: [],
    access: ["MAX_CONNECTIONS 3"],
    connect: { kind: "plain" },
  },
  {
    name: "token",
    what: "REQUIRE_CONNECT_TOKEN Y with fwknop --connect --connect-token: only the knock's connection",
    conf: [],
    access: ["REQUIRE_CONNECT_TOKEN Y"],
    connect: {
      kind: "command",
      argv: (c) =>
        clientArgv("ts", [
          ...c.keys,
          ...["-D", c.nat.serverIp, "-A", `tcp/${c.port}`, "-a", c.nat.sharedIp],
          ...["--connect", `${c.nat.serverIp}:${c.port}`, "--connect-token"],
          ...["--connect-timeout", String(c.retryMs / 1000)],
        ]),
    },
  },
];

export function modeByName(name: string): CoTenantMode {
  const m = MODES.find((x) => x.name === name);
  if (m === undefined)
    throw new Error(`no co-tenant mode ${name} (${MODES.map((x) => x.name).join(", ")})`);
  return m;
}

export interface DaemonKeys {
  key: string;
  hmacKey: string;
}

export const newKeys = (): DaemonKeys => ({
  key: randomBytes(32).toString("base64"),
  hmacKey: randomBytes(64).toString("base64"),
});

/**
 * Our fwknopd in the NAT rig's server namespace, in `mode`, with one stanza for A's key (SOURCE
 * ANY); started. `conf` adds fwknopd.conf lines (e.g. NFT_SPA_RATE_LIMIT for the flood).
 */
export async function coTenantDaemon(
  nat: NatRig,
  mode: CoTenantMode,
  keys: DaemonKeys,
  accessTimeoutS: number,
  conf: readonly string[] = [],
): Promise<TsFwknopd> {
  const d = new TsFwknopd(
    nat.rig,
    [
      "ENABLE_UDP_SERVER Y;",
      "FIREWALL_TYPE nftables;",
      "NFT_JUMP_CHAIN inet admin input;",
      ...mode.conf.map((l) => `${l};`),
      ...conf.map((l) => `${l};`),
    ].join("\n"),
    [
      "SOURCE ANY",
      `KEY_BASE64 ${keys.key}`,
      `HMAC_KEY_BASE64 ${keys.hmacKey}`,
      `FW_ACCESS_TIMEOUT ${accessTimeoutS}`,
      ...mode.access,
      "",
    ].join("\n"),
  );
  try {
    await d.start();
  } catch (e) {
    d.cleanup();
    throw e;
  }
  return d;
}
