/**
 * Cutting the connections grants let in (REVOKE_CONNECTIONS_ON_EXPIRY and --fw-flush
 * --revoke-connections, ours). An expired grant stops new connections only; established ones
 * carry on, as in fwknop. To cut them: conntrack lists the connections our grants marked
 * (nft-counted.ts: CT_MARK_BIT), and `ss -K` destroys this host's end of each (the service's
 * socket), which resets the client. Deleting the conntrack entry alone would not do: with
 * nf_conntrack_tcp_loose (the default) the next segment is picked up again as established.
 * Forwarded (NAT) connections have no local socket; they are not cut.
 */
import { existsSync } from "node:fs";
import { runProgram, type Exec } from "../../exec.js";
import { CT_MARK_BIT } from "../firewall/nft-counted.js";
import { conntrackProgram, parseConntrackLine, type ConnTuple } from "./conn-watch.js";

export type { ConnTuple };

const SS_PATHS = ["/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss"];

/** One line of `conntrack -L -o extended`: the original direction, or null. */
export function parseConntrackEntry(line: string): ConnTuple | null {
  const c = parseConntrackLine(line);
  return c === null
    ? null
    : { proto: c.proto, src: c.src, sport: c.sport, dst: c.dst, dport: c.dport };
}

/** `ss` filter words for this host's end of these connections, one "or" expression. */
export function ssFilter(conns: readonly ConnTuple[]): string[] {
  const out: string[] = [];
  conns.forEach((c, i) => {
    if (i > 0) out.push("or");
    out.push(
      "(",
      ...["src", c.dst, "sport", "=", `:${c.dport}`],
      ...["dst", c.src, "dport", "=", `:${c.sport}`],
      ")",
    );
  });
  return out;
}

export interface RevokeWhich {
  /** Only connections from this address to this proto/port; all marked ones when absent. */
  grant?: { address: string; proto: "tcp" | "udp"; port: number };
}

/**
 * Cut what our grants let in (narrowed to one grant's address and port when given): the number
 * of local sockets destroyed, or why nothing could be done.
 */
export async function revokeConnections(
  which: RevokeWhich,
  exec: Exec = runProgram,
): Promise<{ cut: number } | { failed: string }> {
  const conntrack = conntrackProgram();
  const ss = SS_PATHS.find((p) => existsSync(p));
  if (conntrack === null) return { failed: "conntrack is not installed (conntrack-tools)" };
  if (ss === undefined) return { failed: "ss is not installed (iproute2)" };
  const g = which.grant;
  const filter = g === undefined ? [] : ["-s", g.address, "-p", g.proto, "--dport", String(g.port)];
  const bit = `${CT_MARK_BIT}/${CT_MARK_BIT}`;
  const listed = await exec(conntrack, ["-L", "-o", "extended", "--mark", bit, ...filter]);
  if (listed.code !== 0) return { failed: `conntrack -L: ${listed.stderr.trim()}` };
  const conns = listed.stdout
    .split("\n")
    .map(parseConntrackEntry)
    .filter((c): c is ConnTuple => c !== null);
  return killLocalSockets(conns, exec, ss);
}

/** `ss -K` for this host's end of each connection: how many sockets it destroyed, or why not. */
export async function killLocalSockets(
  conns: readonly ConnTuple[],
  exec: Exec = runProgram,
  ss = SS_PATHS.find((p) => existsSync(p)),
): Promise<{ cut: number } | { failed: string }> {
  if (ss === undefined) return { failed: "ss is not installed (iproute2)" };
  let cut = 0;
  for (const proto of ["tcp", "udp"] as const) {
    const mine = conns.filter((c) => c.proto === proto);
    // A few dozen alternatives per ss run keep its command line short.
    for (let i = 0; i < mine.length; i += 32) {
      const batch = mine.slice(i, i + 32);
      const r = await exec(ss, [
        "-K",
        "-H",
        "-n",
        proto === "tcp" ? "-t" : "-u",
        ...ssFilter(batch),
      ]);
      if (r.code !== 0) return { failed: `ss -K: ${r.stderr.trim()}` };
      cut += r.stdout.split("\n").filter((l) => l.trim() !== "").length;
    }
  }
  return { cut };
}
