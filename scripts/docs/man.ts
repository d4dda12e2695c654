/**
 * fwknop(8) and fwknopd(8), made from the same option tables as `-h` (scripts/docs/options.ts), so
 * a page cannot list an option the program lacks or miss one it has. The files they name are the
 * defaults in the code (src/server/options.ts, src/config/fwknopd-vars.ts), and the exit statuses
 * those of src/errors.ts.
 */
import type { ClientOption } from "../../src/client/options.js";
import { VAR_BY_NAME } from "../../src/config/fwknopd-vars.js";
import { EXIT_STATUS } from "../../src/errors.js";
import { DEFAULT_CONFIG_FILE } from "../../src/server/options.js";
import { FWKNOP_TS_VERSION, COMPAT_VERSION } from "../../src/version.js";
import { clientDocOptions, serverDocOptions, type DocOption } from "./options.js";
import { bold, definitions, esc, flags, ital, page, paragraphs, section, tagged } from "./roff.js";

const SOURCE = `fwknop-ts ${FWKNOP_TS_VERSION}`;

/** The client's help groups, titled as in `fwknop -h` (a new group fails to compile here). */
const CLIENT_GROUPS: Readonly<Record<ClientOption["group"], string>> = {
  access: "What to ask for",
  transport: "Where and how to send it",
  crypto: "Keys and cryptography",
  gpg: "GPG",
  rc: "The rc file and saved arguments",
  output: "Output",
};

/** Exit status 70, the same for both programs. */
const bugStatus = (): [string, string] => [
  bold(String(EXIT_STATUS.internal)),
  "A bug in fwknop-ts; the message carries its stack.",
];

function optionEntry(o: DocOption): string[] {
  const rc = o.rc !== undefined ? ` In ${ital("~/.fwknoprc")}: ${bold(o.rc)}.` : "";
  return tagged(flags(o), `${esc(o.help)}${rc}`);
}

/** A server default as the code has it, `$FWKNOP_RUN_DIR` expanded. */
export function serverDefault(name: string): string {
  const def = VAR_BY_NAME.get(name)?.def;
  if (typeof def !== "string") throw new Error(`${name} has no fixed default`);
  return def.replace(/^\$FWKNOP_RUN_DIR/, () => serverDefault("FWKNOP_RUN_DIR"));
}

function synopsis(...forms: string[][]): string[] {
  return forms.flatMap((f, i) => [...(i > 0 ? [".br"] : []), f.join(" ")]);
}

export function clientPage(date: string): string {
  const options = clientDocOptions();
  return page({ name: "fwknop", date, source: SOURCE }, [
    ...section("NAME", esc("fwknop - Single Packet Authorization client (fwknop-ts)")),
    ...section(
      "SYNOPSIS",
      ...synopsis(
        [
          bold("fwknop"),
          bold("-A"),
          ital("PROTO/PORT[,...]"),
          `[${bold("-s")} | ${bold("-a")} ${ital("IP")} | ${bold("-R")}]`,
          bold("-D"),
          ital("HOST"),
          "[OPTIONS]",
        ],
        [bold("fwknop -n"), ital("STANZA"), esc("[OPTIONS]")],
        [bold("fwknop --key-gen"), esc("[--key-len N] [--hmac-key-len N]")],
        [bold("fwknop -l"), esc("|"), bold("--show-last")],
      ),
    ),
    ...section(
      "DESCRIPTION",
      ...paragraphs(
        "fwknop makes one encrypted, HMAC-authenticated Single Packet Authorization (SPA) packet " +
          "asking an fwknopd server to open ports in its firewall for one address, and sends it " +
          "(UDP by default). It is the client of fwknop-ts, compatible on the wire, in its " +
          `configuration and on the command line with the C fwknop ${COMPAT_VERSION} client.`,
        "Settings come from the [default] stanza of ~/.fwknoprc, then the stanza named by -n, " +
          "then the command line. Long options may be shortened to a unique prefix and take " +
          "their value as --option=value or --option value; short flags may be bundled (-vT).",
        "The keys are taken, in C's order, from the --key-* options or the stanza, then " +
          "-G / --get-hmac-key files, then --stdin or --fd, and else asked for on the terminal " +
          "without echo.",
      ),
    ),
    ...section(
      "OPTIONS",
      ...Object.entries(CLIENT_GROUPS).flatMap(([group, title]) => [
        `.SS ${esc(title)}`,
        ...options.filter((o) => o.group === group).flatMap(optionEntry),
      ]),
    ),
    ...section(
      "FILES",
      ...definitions([
        [
          ital("~/.fwknoprc"),
          "Stanzas of settings (-n). Created, mode 0600, the first time it is missing.",
        ],
        [
          ital("~/.fwknop.run"),
          "The last command line, saved after each packet, for -l and --show-last.",
        ],
      ]),
    ),
    ...section(
      "EXIT STATUS",
      ...definitions([
        [bold("0"), "Success."],
        [
          bold(String(EXIT_STATUS.user)),
          "Any failure, as with the C client (scripts test for it): a wrong option or value, " +
            "a missing key, a packet that could not be made or sent.",
        ],
        bugStatus(),
      ]),
    ),
    ...section(
      "SEE ALSO",
      `${bold("fwknopd")}(8), ${bold("gpg")}(1)`,
      ".PP",
      esc("The README of fwknop-ts, installed with the package."),
    ),
  ]);
}

export function serverPage(date: string): string {
  const runDir = serverDefault("FWKNOP_RUN_DIR");
  return page({ name: "fwknopd", date, source: SOURCE }, [
    ...section("NAME", esc("fwknopd - Single Packet Authorization server (fwknop-ts)")),
    ...section(
      "SYNOPSIS",
      ...synopsis(
        [bold("fwknopd"), esc("[-c FILE] [-a FILE] [-f] [-v] [OPTIONS]")],
        [bold("fwknopd"), esc("-S | -R | -K | -D | --fw-check | --fw-list | --fw-flush")],
        [bold("fwknopd --key-gen"), esc("[--key-len N] [--hmac-key-len N]")],
      ),
    ),
    ...section(
      "DESCRIPTION",
      ...paragraphs(
        "fwknopd receives Single Packet Authorization (SPA) packets, checks each against the " +
          "stanzas of access.conf, and opens a firewall grant (nftables, iptables or firewalld) " +
          "for the address the packet names, for a limited time. Packets arrive on a UDP server " +
          "(ENABLE_UDP_SERVER or -U), a TCP server, as HTTP, or, when neither server is on, by " +
          "pcap capture through tcpdump. It is the server of fwknop-ts: the fwknopd.conf and " +
          `access.conf of the C fwknopd ${COMPAT_VERSION} work unchanged.`,
        "Without -f it starts itself again in the background and logs to syslog; with -f it " +
          "stays in the foreground and logs to standard error, which is how a service manager " +
          "runs it (the package ships contrib/systemd/fwknopd.service). SIGHUP (or -R) re-reads " +
          "the configuration and keeps live grants; SIGTERM (or -K) stops it in order.",
      ),
    ),
    ...section("OPTIONS", ...serverDocOptions().flatMap(optionEntry)),
    ...section(
      "FILES",
      ...definitions([
        [ital(DEFAULT_CONFIG_FILE), "The configuration (-c)."],
        [ital(serverDefault("ACCESS_FILE")), "The access stanzas (-a, ACCESS_FILE)."],
        [ital(runDir), "The run directory (-r, FWKNOP_RUN_DIR), created mode 0700 when missing."],
        [ital(serverDefault("FWKNOP_PID_FILE")), "The pid file (-p, FWKNOP_PID_FILE)."],
        [
          ital(serverDefault("DIGEST_FILE")),
          "The replay digest cache (-d, DIGEST_FILE), in the C fwknopd's format.",
        ],
      ]),
    ),
    ...section(
      "EXIT STATUS",
      ...definitions([
        [bold("0"), "Success; with --fw-check, grants would open."],
        [
          bold(String(EXIT_STATUS.user)),
          "The command line or a configuration file is wrong (the message names the flag, or " +
            "the file and line); also -S, -K or -R finding no running fwknopd, --fw-check " +
            "finding that grants would not open, and a background start that failed.",
        ],
        [
          bold(String(EXIT_STATUS.environment)),
          "The machine lacks or refuses something: a program, a permission, a firewall that " +
            "would drop the grants, another fwknopd running.",
        ],
        bugStatus(),
      ]),
      ".PP",
      esc("The C fwknopd exits 1 for all of these."),
    ),
    ...section(
      "SEE ALSO",
      [
        ["fwknop", 8],
        ["nft", 8],
        ["iptables", 8],
        ["firewall-cmd", 1],
        ["tcpdump", 8],
        ["gpg", 1],
        ["systemd.service", 5],
      ]
        .map(([name, s]) => `${bold(String(name))}(${String(s)})`)
        .join(", "),
    ),
  ]);
}
