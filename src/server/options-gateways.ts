/** fwknopd's option of ours for several gateways (REPLAY_STORE redis, GRANT_JOURNAL Y). */
import type { OptSpec } from "../argv/getopt.js";

export interface GatewayArgs {
  /** --status --all-gateways: the live grants of every gateway, from the grant journal. */
  allGateways?: boolean;
}

export const ALL_GATEWAYS: OptSpec & {
  help: string;
  set: (a: { status: boolean; allGateways?: boolean }) => void;
} = {
  long: "all-gateways",
  arg: "none",
  help: "With --status: every gateway's live grants, from the Redis grant journal (GRANT_JOURNAL Y).",
  set: (a) => void ((a.status = true), (a.allGateways = true)),
};
