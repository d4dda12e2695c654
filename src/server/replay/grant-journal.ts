/**
 * GRANT_JOURNAL Y: each grant and its end appended to one Redis stream shared by the gateways
 * (`XADD key MAXLEN ~ cap * field value ...`), so `fwknopd --status --all-gateways` can show every
 * live grant of every gateway. Best effort: a write while Redis is away is dropped (and counted in
 * the log), never waited for; an end that never came is harmless since a grant's expiry ends it
 * in the reader too.
 */
import type { Grant } from "../firewall/types.js";
import type { RedisLink } from "./redis-link.js";

export const JOURNAL_KEY = "grants";

export interface JournalGrant {
  gateway: string;
  /** The gateway's run: grant numbers start again at each start. */
  run: string;
  id: number;
  user: string;
  stanza: number;
  source: string;
  address: string;
  proto: string;
  port: number;
  expiresAt: number;
}

export class GrantJournal {
  private dropped = 0;

  constructor(
    private readonly link: RedisLink,
    private readonly opts: { key: string; maxLen: number; gateway: string; run: string },
    private readonly log: (line: string, level: "warning") => void,
  ) {}

  private add(fields: string[]): void {
    if (!this.link.ready) {
      if (this.dropped++ === 0)
        this.log(
          "Grant journal: Redis unavailable, entries are dropped until it returns",
          "warning",
        );
      return;
    }
    if (this.dropped > 0) {
      this.log(`Grant journal: ${this.dropped} entr(ies) dropped while Redis was away`, "warning");
      this.dropped = 0;
    }
    const { key, maxLen, gateway, run } = this.opts;
    const args = ["XADD", key, "MAXLEN", "~", String(maxLen), "*", "gw", gateway, "run", run];
    this.link.send([...args, ...fields]).catch(() => {
      this.dropped++;
    });
  }

  granted(gs: readonly Grant[], source: string): void {
    for (const g of gs)
      this.add([
        "ev",
        "grant",
        "id",
        String(g.id ?? 0),
        "user",
        g.user,
        "stanza",
        String(g.stanza),
        "src",
        source,
        "addr",
        g.address,
        "proto",
        g.proto,
        "port",
        String(g.port),
        "exp",
        String(g.expiresAt),
      ]);
  }

  ended(gs: readonly Grant[]): void {
    for (const g of gs) this.add(["ev", "end", "id", String(g.id ?? 0)]);
  }
}

/** The stream as node-redis returns XRANGE: [id, [field, value, ...]][]. */
type Entries = [string, string[]][];

/** Every grant still live at `nowSecs`: granted, not ended, not expired. */
export function liveFromJournal(entries: Entries, nowSecs: number): JournalGrant[] {
  const live = new Map<string, JournalGrant>();
  for (const [, flat] of entries) {
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i] ?? "", flat[i + 1] ?? "");
    const key = `${f.get("gw")}\u0000${f.get("run")}\u0000${f.get("id")}`;
    if (f.get("ev") === "end") {
      live.delete(key);
      continue;
    }
    if (f.get("ev") !== "grant") continue;
    live.set(key, {
      gateway: f.get("gw") ?? "?",
      run: f.get("run") ?? "?",
      id: Number(f.get("id")),
      user: f.get("user") ?? "",
      stanza: Number(f.get("stanza")),
      source: f.get("src") ?? "",
      address: f.get("addr") ?? "",
      proto: f.get("proto") ?? "",
      port: Number(f.get("port")),
      expiresAt: Number(f.get("exp")),
    });
  }
  return [...live.values()].filter((g) => g.expiresAt > nowSecs);
}
