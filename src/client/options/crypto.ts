/** The client's options, group "crypto": digest, encryption mode and keys (client/cmd_opts.h). */
import { parseEncMode } from "../../spa/index.js";
import { text, onOff, int, digest, type Bad, type ClientOption } from "./setters.js";

export const CRYPTO_OPTIONS: readonly ClientOption[] = [
  {
    long: "digest-type",
    short: "m",
    arg: "required",
    rc: "DIGEST_TYPE",
    metavar: "TYPE",
    group: "crypto",
    help: "Inner digest: md5, sha1, sha256 (default), sha384, sha512, sha3_256, sha3_512.",
    set: (c, v, bad) => {
      c.digestType = digest(v, bad);
    },
  },
  {
    long: "encryption-mode",
    short: "M",
    arg: "required",
    rc: "ENCRYPTION_MODE",
    metavar: "MODE",
    group: "crypto",
    help: "CBC (default), ECB, CFB, OFB, CTR, legacy, or Asymmetric (GPG); must match the server.",
    set: (c, v, bad: Bad) => {
      const m = parseEncMode(v);
      if (m === undefined)
        bad(`Invalid encryption mode: ${v}, use {CBC,ECB,CFB,OFB,CTR,legacy,Asymmetric}`);
      c.encMode = m;
    },
  },
  {
    long: "use-hmac",
    arg: "none",
    rc: "USE_HMAC",
    group: "crypto",
    help: "Authenticate the packet with an HMAC (recommended).",
    set: onOff("useHmac"),
  },
  {
    long: "hmac-digest-type",
    arg: "required",
    rc: "HMAC_DIGEST_TYPE",
    metavar: "TYPE",
    group: "crypto",
    help: "HMAC algorithm (default sha256); implies --use-hmac.",
    set: (c, v, bad) => {
      c.hmacType = digest(v, bad);
      c.useHmac = true;
    },
  },
  {
    long: "key-rijndael",
    arg: "required",
    rc: "KEY",
    metavar: "KEY",
    group: "crypto",
    help: "Rijndael key as text (visible to 'ps': prefer the rc file).",
    set: text("keyRaw"),
  },
  {
    long: "key-base64-rijndael",
    arg: "required",
    rc: "KEY_BASE64",
    metavar: "B64",
    group: "crypto",
    help: "Rijndael key, base64 encoded.",
    set: text("keyBase64"),
  },
  {
    long: "key-hmac",
    arg: "required",
    rc: "HMAC_KEY",
    metavar: "KEY",
    group: "crypto",
    help: "HMAC key as text; implies --use-hmac.",
    set: (c, v) => {
      c.hmacKeyRaw = v;
      c.useHmac = true;
    },
  },
  {
    long: "key-base64-hmac",
    arg: "required",
    rc: "HMAC_KEY_BASE64",
    metavar: "B64",
    group: "crypto",
    help: "HMAC key, base64 encoded; implies --use-hmac.",
    set: (c, v) => {
      c.hmacKeyBase64 = v;
      c.useHmac = true;
    },
  },
  {
    long: "get-key",
    short: "G",
    arg: "required",
    rc: "KEY_FILE",
    metavar: "FILE",
    group: "crypto",
    help: "Read the Rijndael key from a key file.",
    set: text("keyFile"),
  },
  {
    long: "get-hmac-key",
    arg: "required",
    rc: "HMAC_KEY_FILE",
    metavar: "FILE",
    group: "crypto",
    help: "Read the HMAC key from a key file.",
    set: (c, v) => {
      // C stores the rc HMAC_KEY_FILE in the encryption key field (parse_rc_param); we do not.
      c.hmacKeyFile = v;
      c.useHmac = true;
    },
  },
  {
    long: "stdin",
    arg: "none",
    group: "crypto",
    help: "Read the key from standard input.",
    set: onOff("keyFromStdin"),
  },
  {
    long: "fd",
    arg: "required",
    group: "crypto",
    help: "Read the key from this file descriptor.",
    set: (c, v, bad) => {
      c.keyFd = int(v, 0, 65535, "--fd", bad);
    },
  },
  {
    long: "key-gen",
    short: "k",
    arg: "none",
    group: "crypto",
    help: "Print a new Rijndael key and HMAC key, then exit.",
    set: onOff("keyGen"),
  },
  {
    long: "key-gen-file",
    short: "K",
    arg: "required",
    metavar: "FILE",
    group: "crypto",
    help: "Write new keys to FILE (implies --key-gen).",
    set: (c, v) => {
      c.keyGen = true;
      c.keyGenFile = v;
    },
  },
  {
    long: "key-len",
    arg: "required",
    metavar: "BYTES",
    group: "crypto",
    help: "Rijndael key length for --key-gen (1..32, default 32).",
    set: (c, v, bad) => {
      c.keyLen = int(v, 1, 32, "key length", bad);
    },
  },
  {
    long: "hmac-key-len",
    arg: "required",
    metavar: "BYTES",
    group: "crypto",
    help: "HMAC key length for --key-gen (1..128).",
    set: (c, v, bad) => {
      c.hmacKeyLen = int(v, 1, 128, "HMAC key length", bad);
      c.useHmac = true;
    },
  },
];
