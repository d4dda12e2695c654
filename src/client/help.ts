/** `fwknop -h`, generated from the option table so it never drifts from what is parsed. */
import { FWKNOP_TS_VERSION } from "../version.js";
import { CLIENT_OPTIONS, type ClientOption } from "./options.js";

const GROUPS: ReadonlyArray<[ClientOption["group"], string]> = [
  ["access", "What to ask for"],
  ["transport", "Where and how to send it"],
  ["crypto", "Keys and cryptography"],
  ["gpg", "GPG"],
  ["rc", "The rc file (~/.fwknoprc) and saved arguments"],
  ["output", "Output"],
];

export function clientHelp(): string {
  const out = [
    `fwknop client ${FWKNOP_TS_VERSION} (fwknop-ts), compatible with fwknop 2.6`,
    "Single Packet Authorization client.",
    "",
    "Usage: fwknop -A <port list> [-s|-a <IP>] -D <spa_server> [options]",
    "       fwknop -n <stanza>            (settings from ~/.fwknoprc)",
  ];
  for (const [group, title] of GROUPS) {
    out.push("", `${title}:`);
    for (const o of CLIENT_OPTIONS) {
      if (o.group !== group || o.help === "") continue;
      const flags = `${o.short !== undefined ? `-${o.short}, ` : "    "}--${o.long}${
        o.arg === "required" ? ` ${o.metavar ?? "VALUE"}` : ""
      }`;
      const rc = o.rc !== undefined ? ` [${o.rc}]` : "";
      out.push(`  ${flags.padEnd(36)} ${o.help}${rc}`);
    }
  }
  out.push("", "[NAME] is the ~/.fwknoprc variable for the same setting.", "");
  return out.join("\n");
}
