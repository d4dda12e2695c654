/** Reading `nft -j list set` output: the elements of our grant sets (nftables.ts lists them). */

export interface SetElement {
  address: string;
  proto: "tcp" | "udp";
  port: number;
  expiresSecs: number;
}

/** Elements of `nft -j list set` output: {"elem": {"val": {"concat": [addr, proto, port]}, "expires": N}}. */
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
      if (c === undefined || c.length !== 3) continue;
      const [address, proto, port] = c;
      if (
        typeof address !== "string" ||
        (proto !== "tcp" && proto !== "udp") ||
        typeof port !== "number"
      )
        continue;
      out.push({ address, proto, port, expiresSecs: e?.expires ?? 0 });
    }
  }
  return out;
}
