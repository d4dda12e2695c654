/**
 * The client's options, declared once: flag spellings (client/cmd_opts.h), the ~/.fwknoprc variable
 * each maps to (client/config_init.c:fko_var_array), how the value is read, and the help line.
 * Options of later issues fail with an error that says so instead of being silently ignored.
 * The rows live in options/, one file per help group; this file puts them in the table's order.
 */
import { ACCESS_OPTIONS } from "./options/access.js";
import { CONNECT_OPTIONS } from "./options/connect.js";
import { CRYPTO_OPTIONS } from "./options/crypto.js";
import { GPG_OPTIONS } from "./options/gpg.js";
import { OUTPUT_OPTIONS } from "./options/output.js";
import { RC_OPTIONS } from "./options/rc.js";
import { text, type ClientOption, type Setter } from "./options/setters.js";
import { TRANSPORT_OPTIONS } from "./options/transport.js";

export { rcBool, type Bad, type ClientOption } from "./options/setters.js";

export const CLIENT_OPTIONS: readonly ClientOption[] = [
  ...ACCESS_OPTIONS,
  ...TRANSPORT_OPTIONS,
  ...CONNECT_OPTIONS,
  ...CRYPTO_OPTIONS,
  ...GPG_OPTIONS,
  ...RC_OPTIONS,
  ...OUTPUT_OPTIONS,
];

/**
 * rc variables with no command-line twin: the GPG signing passphrase, which C keeps in the KEY
 * buffer (client/config_init.c:parse_rc_param), so it is the same setting as KEY / KEY_BASE64.
 */
export const RC_ONLY_OPTIONS: ReadonlyMap<string, Setter> = new Map<string, Setter>([
  ["GPG_SIGNING_PW", text("keyRaw")],
  [
    "GPG_SIGNING_PW_BASE64",
    (c, v, bad) => {
      if (!/^[A-Za-z0-9+/=]+$/.test(v))
        bad("GPG_SIGNING_PW_BASE64 doesn't look like base64-encoded data");
      c.keyBase64 = v;
    },
  ],
]);

export const OPTION_BY_RC = new Map<string, ClientOption>(
  CLIENT_OPTIONS.filter((o) => o.rc !== undefined).map((o) => [o.rc ?? "", o]),
);
