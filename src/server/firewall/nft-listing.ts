/** Reading `nft -j list set` output: the elements of our grant sets (nftables.ts lists them). */

export interface SetElement {
  address: string;
  proto: "tcp" | "udp";
  port: number;
  expiresSecs: number;
  /** The second address of a destination set's key (client . destination . proto . port). */
  destination?: string;
}

/**
 * Elements of `nft -j list set` output: {"elem": {"val": {"concat": [addr, proto, port]},
 * "expires": N}}, or [addr, destination, proto, port] in the destination sets.
 */
export function parseSetElements(json: string): SetElement[] {
  const out: SetElement[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return out;
  }
  const items = (doc as { nftables?: unknown[] }).nftables ?? [];
  for (const item of items) {
    const set = (item as { set?: { elem?: unknown[] } }).set;
    for (const el of set?.elem ?? []) {
      const e = (el as { elem?: { val?: { concat?: unknown[] }; expires?: number } }).elem;
      const c = e?.val?.concat;
      if (c === undefined || (c.length !== 3 && c.length !== 4)) continue;
      const [address, ...rest] = c;
      const destination = c.length === 4 ? rest.shift() : undefined;
      const [proto, port] = rest;
      if (
        typeof address !== "string" ||
        (destination !== undefined && typeof destination !== "string") ||
        (proto !== "tcp" && proto !== "udp") ||
        typeof port !== "number"
      )
        continue;
      const found: SetElement = { address, proto, port, expiresSecs: e?.expires ?? 0 };
      if (typeof destination === "string") found.destination = destination;
      out.push(found);
    }
  }
  return out;
}
