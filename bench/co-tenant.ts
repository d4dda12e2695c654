/**
 * Clients behind one NAT address (issue 14), on the NAT rig (test/e2e/nat-rig.ts), our fwknopd on
 * nftables. Two tables:
 *   modes  one row per mode (test/e2e/co-tenant-modes.ts) and client: A knocks and connects, B
 *          (no key) tries the port every millisecond; did A connect, how many of B's connections
 *          reached the service during the grant, before it and after it, is A's connection alive
 *          after the grant (test/e2e/co-tenant.ts)
 *   flood  B floods the SPA port with junk from the shared address while A knocks --knocks times;
 *          per NFT_SPA_RATE_LIMIT value and junk rate: junk sent, datagrams that reached the
 *          daemon's socket, dropped there (buffer full), knocks honoured (test/e2e/co-tenant-flood.ts)
 *   node --import tsx bench/co-tenant.ts [--timeout=3] [--modes=window] [--clients=c,ts]
 *     [--limits=20,default,0] [--junk-rates=10000,50000,1000000] [--seconds=3] [--knocks=10]
 * A junk rate beyond what B's one sender manages (~150,000/s here) means "as fast as it goes".
 * Every loop is bounded by counts and seconds; the rig deletes its namespaces at the end.
 */
import { runFlood, type FloodResult } from "../test/e2e/co-tenant-flood.js";
import { coTenantDaemon, modeByName, MODES, newKeys } from "../test/e2e/co-tenant-modes.js";
import { knockFromA, runCoTenant, type CoTenantResult } from "../test/e2e/co-tenant.js";
import { keyArgs, type Client } from "../test/e2e/knock.js";
import { createNatRig } from "../test/e2e/nat-rig.js";
import { grid, header, numFlag, parseFlags, runBench } from "./lib/report.js";

const PORT = 1234;

const list = (flags: Map<string, string>, name: string, dflt: string): string[] =>
  (flags.get(name) ?? dflt).split(",").filter((x) => x !== "");

const ms = (x: number | null): string => (x === null ? "-" : x.toFixed(0));
const yes = (b: boolean): string => (b ? "yes" : "no");

runBench(async () => {
  const flags = parseFlags();
  const timeoutS = Math.max(1, Math.min(60, numFlag(flags, "timeout", 3)));
  const modes = list(flags, "modes", MODES.map((m) => m.name).join(",")).map(modeByName);
  const clients = list(flags, "clients", "c,ts").map((c): Client => {
    if (c !== "c" && c !== "ts") throw new Error(`--clients: c or ts, not ${c}`);
    return c;
  });
  const limits = list(flags, "limits", "20,default,0");
  const rates = list(flags, "junk-rates", "10000,50000,1000000").map(Number);
  const seconds = Math.max(1, Math.min(30, numFlag(flags, "seconds", 3)));
  const knocks = Math.max(1, Math.min(50, numFlag(flags, "knocks", 10)));
  header(
    `bench:co-tenant — A and B behind one NAT address; FW_ACCESS_TIMEOUT ${timeoutS} s; flood ${seconds} s, ${knocks} knocks from A`,
  );
  const nat = await createNatRig({ servicePort: PORT });
  const keys = newKeys();
  const home = nat.rig.tempDir("fwkts-cotenant-home-");
  try {
    const rows: string[][] = [];
    for (const mode of modes) {
      const d = await coTenantDaemon(nat, mode, keys, timeoutS);
      try {
        // A "command" mode runs our client whatever --clients says (the C client has no --connect).
        const modeClients: Client[] = mode.connect.kind === "command" ? ["ts"] : clients;
        for (const client of modeClients) {
          const r: CoTenantResult = await runCoTenant({
            nat,
            port: PORT,
            accessTimeoutS: timeoutS,
            knock: knockFromA(nat, client, keys.key, keys.hmacKey, PORT, home),
            connect: mode.connect,
            context: { client, keys: keyArgs(keys.key, keys.hmacKey), home },
          });
          const t = r.timings;
          rows.push([
            mode.name,
            client === "c" ? "C fwknop" : "ours",
            yes(r.aConnected),
            String(r.bReached),
            String(r.bBefore),
            String(r.bAfter),
            yes(r.aAliveAfterGrant),
            yes(r.aNewAfterGrant),
            ms(t.aConnectMs),
            `${ms(t.bFirstMs)}..${ms(t.bLastMs)}`,
            String(r.bAttempts),
          ]);
        }
      } finally {
        await d.stop();
        d.cleanup();
      }
    }
    grid(
      "Modes (B polls every ms; times in ms from A's knock)",
      [
        "mode",
        "A's client",
        "A connected",
        "B reached in grant",
        "B before",
        "B after",
        "A alive after grant",
        "A new conn after",
        "A connect ms",
        "B reached from..to",
        "B attempts",
      ],
      rows,
    );

    const floods: string[][] = [];
    let port = 20_000;
    for (const limit of limits) {
      const window = modeByName("window");
      const conf = limit === "default" ? [] : [`NFT_SPA_RATE_LIMIT ${limit}`];
      const d = await coTenantDaemon(nat, window, keys, timeoutS, conf);
      try {
        for (const rate of rates) {
          const f: FloodResult = await runFlood({
            nat,
            daemon: d,
            keys,
            client: clients[0] ?? "c",
            home,
            firstPort: port,
            knocks,
            junkRate: rate,
            seconds,
          });
          port += knocks;
          floods.push([
            limit === "default" ? "default" : limit === "0" ? "0 (off)" : limit,
            String(rate),
            String(Math.round(f.junkSent / seconds)),
            String(f.delivered),
            String(f.rcvbufDropped),
            `${f.honoured}/${f.knocks}`,
            String(f.knockErrors),
          ]);
          console.log(`  meter ${limit}, ${rate}/s offered: ${JSON.stringify(f)}`);
        }
      } finally {
        await d.stop();
        d.cleanup();
      }
    }
    grid(
      `Flood from the shared address (B), ${knocks} knocks from A with ${clients[0] === "ts" ? "our" : "the C"} client`,
      [
        "NFT_SPA_RATE_LIMIT",
        "junk/s asked",
        "junk/s sent",
        "reached daemon socket",
        "dropped at socket",
        "A honoured",
        "knock errors",
      ],
      floods,
    );
  } finally {
    await nat.teardown();
  }
});
