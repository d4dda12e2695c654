/**
 * One SPA payload in, one decision out: grant these, or refuse with a reason. Pure apart from the
 * clock and the replay lookup passed in. Order (design.md "The hot path"), cheapest first, nothing
 * stored before authentication:
 *   size and charset (here) -> stanzas by SOURCE (pipeline/source-index.ts) -> per stanza: HMAC, replay lookup (once),
 *   decrypt, decode (pipeline/try-stanzas.ts) -> policy (pipeline/policy.ts) -> grants.
 * Stanzas are tried in file order and the first that passes wins (server/incoming_spa.c:
 * incoming_spa); one that fails logs why and the next is tried.
 */
// From the modules themselves, not the ../spa/index.js barrel: its re-exports are getters, one
// call each time a function is reached through them, and this code runs for every packet.
import { isWireCharset } from "../spa/base64.js";
import {
  B64_GPG_PREFIX,
  B64_RIJNDAEL_SALT,
  MAX_SPA_ENCODED_MSG_SIZE,
  MIN_GNUPG_MSG_SIZE,
  MIN_SPA_DATA_SIZE,
} from "../spa/constants.js";
import { Refusal } from "./refusals.js";
import type { ServedStanza } from "./pipeline/served-stanza.js";
import { candidateStanzas } from "./pipeline/source-index.js";
import { tryStanzas } from "./pipeline/try-stanzas.js";
import {
  refuse,
  type Decision,
  type GpgOpener,
  type Incoming,
  type PipelineLog,
  type PipelineSettings,
  type Refused,
} from "./pipeline/types.js";

export function processSpa(
  inc: Incoming,
  stanzas: readonly ServedStanza[],
  settings: PipelineSettings,
  isReplay: (digest: string) => boolean,
  nowSecs: number,
  log: PipelineLog,
  gpg: GpgOpener | null = null,
): Decision {
  const junk = cheapChecks(inc.data, inc.srcIp);
  if (junk !== null) return junk;
  const { stanzas: candidates, at } = candidateStanzas(stanzas, inc.srcIp, inc.dstIp);
  if (candidates.length === 0)
    return refuse(Refusal.NoSourceMatch, `No access data found for source IP: ${inc.srcIp}`);
  return tryStanzas(
    {
      inc,
      stanzas,
      candidates,
      at,
      settings,
      isReplay,
      nowSecs,
      log,
      gpg,
      digest: null,
      split: null,
      hmacMisses: 0,
      folded: null,
    },
    0,
    refuse(Refusal.DecryptFailed, `no stanza could decrypt the SPA packet from ${inc.srcIp}`),
  );
}

/**
 * server/incoming_spa.c:preprocess_spa_data: length bounds, replay prefixes, charset. Each line
 * names the source, as C's "[%s] preprocess_spa_data() returned error ..." does.
 */
function cheapChecks(data: string, src: string): Refused | null {
  if (data.length < MIN_SPA_DATA_SIZE)
    return refuse(Refusal.TooSmall, `[${src}] payload of ${data.length} bytes`);
  if (data.length >= MAX_SPA_ENCODED_MSG_SIZE)
    return refuse(Refusal.TooLarge, `[${src}] payload of ${data.length} bytes`);
  // A re-prefixed copy of a seen packet would get a new replay digest: C drops these outright.
  if (data.startsWith(B64_RIJNDAEL_SALT))
    return refuse(Refusal.SaltedPrefix, `[${src}] data starts with the Rijndael salt prefix`);
  if (data.length > MIN_GNUPG_MSG_SIZE && data.startsWith(B64_GPG_PREFIX))
    return refuse(Refusal.SaltedPrefix, `[${src}] data starts with the GPG prefix`);
  if (!isWireCharset(data))
    return refuse(Refusal.NotBase64, `[${src}] Data is not a valid SPA message format`);
  return null;
}
