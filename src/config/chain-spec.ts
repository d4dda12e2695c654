/**
 * Chain references in fwknopd.conf, parsed in one place so the config check (with file:line) and
 * the firewall backends that use them can never disagree on what a valid one is:
 * - IPT_INPUT_ACCESS and friends, "target, table, from_chain, jump_pos, to_chain, rule_pos";
 * - NFT_JUMP_CHAIN, NFT_FORWARD_JUMP_CHAIN and NFT_OUTPUT_JUMP_CHAIN, "family table chain" (ours; C has no nftables).
 */

export interface ChainSpec {
  target: string;
  table: string;
  fromChain: string;
  jumpPos: number;
  toChain: string;
  rulePos: number;
}

/** 2 << 15: RCHK_MAX_IPT_RULE_NUM, the cap on both positions. */
const MAX_RULE_POS = 65536;

/**
 * server/fw_util_iptables.c:validate_ipt_chain_conf and set_fw_chain_conf: only letters, digits,
 * '_', ' ' and ','; exactly six fields; blanks are dropped wherever they are; positions
 * 0..65536. We also refuse empty fields. Returns the spec, or why it is not one.
 */
export function parseChainSpec(v: string): ChainSpec | string {
  const badChar = /[^A-Za-z0-9_ ,]/.exec(v);
  if (badChar !== null) return `invalid character '${badChar[0]}'`;
  const f = v.replaceAll(" ", "").split(",");
  if (f.length !== 6) return `${f.length} fields instead of 6`;
  const [target = "", table = "", fromChain = "", jumpPos = "", toChain = "", rulePos = ""] = f;
  if (f.some((x) => x === "")) return "empty field";
  for (const [what, pos] of [
    ["jump_pos", jumpPos],
    ["rule_pos", rulePos],
  ] as const)
    if (!/^[0-9]+$/.test(pos) || Number(pos) > MAX_RULE_POS)
      return `${what} '${pos}' is not a number in 0-${MAX_RULE_POS}`;
  return { target, table, fromChain, jumpPos: Number(jumpPos), toChain, rulePos: Number(rulePos) };
}

/** What nft accepts as a table or chain name without quoting, and nothing it could read as syntax. */
export const NFT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const NFT_JUMP_FAMILIES = ["inet", "ip", "ip6", "arp", "bridge", "netdev"];

/** An admin's nftables chain: "inet filter input". */
export interface NftChainRef {
  family: string;
  table: string;
  chain: string;
}

/** "family table chain" as the admin wrote it, or null when it is not one. */
export function parseNftChainRef(value: string): NftChainRef | null {
  const [family = "", table = "", chain = "", ...rest] = value.split(/\s+/);
  if (
    rest.length > 0 ||
    !NFT_JUMP_FAMILIES.includes(family) ||
    !NFT_NAME.test(table) ||
    !NFT_NAME.test(chain)
  )
    return null;
  return { family, table, chain };
}
