/**
 * The client's options, group "gpg" (client/cmd_opts.h). client/config_init.c: on the command line
 * each of these also sets use_gpg.
 */
import { text, onOff, type ClientOption } from "./setters.js";

export const GPG_OPTIONS: readonly ClientOption[] = [
  {
    long: "gpg-encryption",
    short: "g",
    arg: "none",
    rc: "USE_GPG",
    group: "gpg",
    help: "Encrypt with GPG instead of Rijndael (needs --gpg-recipient-key).",
    impliesGpg: true,
    set: onOff("useGpg"),
  },
  {
    long: "gpg-recipient-key",
    arg: "required",
    rc: "GPG_RECIPIENT",
    metavar: "ID",
    group: "gpg",
    help: "The server's GPG key (id, fingerprint or user id) to encrypt to.",
    impliesGpg: true,
    set: text("gpgRecipient"),
  },
  {
    long: "gpg-signer-key",
    arg: "required",
    rc: "GPG_SIGNER",
    metavar: "ID",
    group: "gpg",
    help: "Your GPG key to sign with (the server usually requires a signature).",
    impliesGpg: true,
    set: text("gpgSigner"),
  },
  {
    long: "gpg-home-dir",
    arg: "required",
    rc: "GPG_HOMEDIR",
    metavar: "DIR",
    group: "gpg",
    help: "GPG home directory (default ~/.gnupg).",
    impliesGpg: true,
    set: (c, v) => {
      // client/config_init.c chops one trailing '/'.
      c.gpgHomeDir = v.length > 1 && v.endsWith("/") ? v.slice(0, -1) : v;
    },
  },
  {
    long: "gpg-exe",
    arg: "required",
    rc: "GPG_EXE",
    metavar: "PATH",
    group: "gpg",
    help: "The gpg program (default /usr/bin/gpg).",
    impliesGpg: true,
    set: text("gpgExe"),
  },
  {
    long: "gpg-agent",
    arg: "none",
    rc: "USE_GPG_AGENT",
    group: "gpg",
    help: "Let gpg-agent supply the signing passphrase.",
    impliesGpg: true,
    set: onOff("useGpgAgent"),
  },
  {
    long: "gpg-no-signing-pw",
    arg: "none",
    rc: "GPG_NO_SIGNING_PW",
    group: "gpg",
    help: "The signing key has no passphrase: do not ask for one.",
    impliesGpg: true,
    set: onOff("gpgNoSigningPw"),
  },
];
