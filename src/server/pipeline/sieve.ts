/**
 * What refusing junk needs of each stanza, gathered once per stanza array into flat arrays, so
 * that a packet tried against thousands of stanzas never touches the stanza objects: measured
 * here, reading five fields from each of 1,000 stanza objects cost ~0.7 us per stanza (the
 * objects, their keys and HMAC specs lie all over the heap) against ~35 ns for 100, more than
 * the HMAC itself. A stanza whose first refusing step is the HMAC (Rijndael with an HMAC key, no
 * GPG) is checked here from its index alone; any other, and any whose HMAC matches, goes the
 * whole way (try-stanzas.ts:tryStanza).
 *
 * Made lazily, kept in a WeakMap keyed by the stanza array (made once per configuration, and
 * once more in the privsep parser), so it goes with the configuration.
 */
import { HmacKeyring } from "../../spa/hmac-keyring.js";
import type { DigestName } from "../../spa/constants.js";
import type { ServedStanza } from "./served-stanza.js";

export interface Sieve {
  /** Per stanza: its HMAC key's ring (one per digest type), null when it is not a plain one. */
  ring: (HmacKeyring | null)[];
  /** Per stanza: its key's place in the ring. */
  slot: Int32Array;
  /** Per stanza: ACCESS_EXPIRE (epoch seconds), Infinity without one. */
  expire: Float64Array;
  /** Per stanza: its number in access.conf, for the log. */
  number: Int32Array;
}

const sieves = new WeakMap<readonly ServedStanza[], Sieve>();

export function sieveOf(stanzas: readonly ServedStanza[]): Sieve {
  let sieve = sieves.get(stanzas);
  if (sieve === undefined) {
    sieve = buildSieve(stanzas);
    sieves.set(stanzas, sieve);
  }
  return sieve;
}

/** The HMAC is the first step that can refuse a packet short of GPG size (tryStanza's order). */
function plain(s: ServedStanza): boolean {
  return (
    s.gpgResolved === null &&
    s.key !== null &&
    s.key.length > 0 &&
    s.hmac !== null &&
    s.mode !== "asymmetric"
  );
}

function buildSieve(stanzas: readonly ServedStanza[]): Sieve {
  const n = stanzas.length;
  const sieve: Sieve = {
    ring: new Array<HmacKeyring | null>(n).fill(null),
    slot: new Int32Array(n),
    expire: new Float64Array(n).fill(Infinity),
    number: new Int32Array(n),
  };
  const byType = new Map<DigestName, number[]>();
  stanzas.forEach((s, i) => {
    sieve.number[i] = s.number;
    if (s.accessExpire !== null) sieve.expire[i] = s.accessExpire;
    if (s.hmac === null || !plain(s)) return;
    const list = byType.get(s.hmac.type);
    if (list === undefined) byType.set(s.hmac.type, [i]);
    else list.push(i);
  });
  for (const [type, list] of byType) {
    const ring = new HmacKeyring(
      type,
      list.map((i) => stanzas[i]?.hmac?.key ?? new Uint8Array(0)),
    );
    list.forEach((i, k) => {
      sieve.ring[i] = ring;
      sieve.slot[i] = k;
    });
  }
  return sieve;
}
