/**
 * ENABLE_FIREWD_OUTPUT beside firewalld's rich rules (its nftables backend). C fwknopd adds the
 * OUTPUT accept through a direct passthrough into FWKNOP_OUTPUT (server/fw_util_firewalld.c:
 * process_spa_request, the FIREWD_OUTPUT_ACCESS branch), and so do we, on either firewalld backend:
 * firewalld's own output chain accepts established and related packets before any zone, policy
 * or direct rule (firewall/core/nftables.py and ipXtables.py, build_default_rules), so the replies
 * of a granted connection can only be dropped by a rule above that, in iptables' OUTPUT chain (an
 * admin's passthrough) -- where our jump, inserted at IPT_OUTPUT_ACCESS's position, comes first.
 * A rich rule would sit in firewalld's own table, below nothing that drops replies.
 *
 * Rich rules end by themselves; the passthrough rule does not, so with this on the daemon revokes
 * at expiry (expiresItself false) and the rich rule's removal finds it already gone.
 */
import type { FirewallBackend, Grant } from "./types.js";
import { grantKey } from "./types.js";

export class RichWithOutput implements FirewallBackend {
  readonly name = "firewalld";
  readonly expiresItself = false;

  constructor(
    private readonly rich: FirewallBackend,
    /** The FIREWD_OUTPUT_ACCESS chain alone, by passthrough (iptables.ts, outputOnly). */
    private readonly output: FirewallBackend,
  ) {}

  get detail(): string | undefined {
    return `${this.rich.detail ?? ""}; OUTPUT rules by passthrough`;
  }

  async init(flush: boolean): Promise<void> {
    await this.rich.init(flush);
    await this.output.init(flush);
  }

  async grant(grants: readonly Grant[], nowSecs: number): Promise<void> {
    await this.rich.grant(grants, nowSecs);
    const plain = grants.filter((g) => g.nat === undefined && g.leftover === undefined);
    if (plain.length > 0) await this.output.grant(plain, nowSecs);
  }

  async revoke(grants: readonly Grant[]): Promise<void> {
    await this.rich.revoke(grants.filter((g) => g.leftover === undefined));
    await this.output.revoke(grants);
  }

  /**
   * The rich rules, each with its OUTPUT rule's expiry when it has one (firewalld does not tell a
   * rich rule's), and OUTPUT rules whose rich rule is gone as grants of their own, so they are
   * deleted at their time.
   */
  async list(nowSecs: number): Promise<Grant[]> {
    const rich = await this.rich.list(nowSecs);
    const outs = new Map((await this.output.list(nowSecs)).map((g) => [keyOf(g), g]));
    const found = rich.map((g) => {
      const o = outs.get(keyOf(g));
      outs.delete(keyOf(g));
      return o === undefined ? g : { ...g, expiresAt: o.expiresAt };
    });
    return [...found, ...outs.values()];
  }

  async listText(all: boolean): Promise<string> {
    return (await this.rich.listText(all)) + (await this.output.listText(all));
  }

  async flush(): Promise<void> {
    await this.rich.flush();
    await this.output.flush();
  }

  async close(): Promise<void> {
    await this.rich.close();
    await this.output.close();
  }
}

const keyOf = (g: Grant): string => `${g.family} ${grantKey(g)} ${g.destination ?? ""}`;
