/**
 * The fwknopd server entry point. The daemon itself is built in its own issue; until then this
 * answers what it can (version, help, key generation) and says plainly that serving is not here.
 */
import { randomBytes } from "node:crypto";
import { FwknopTsError } from "../errors.js";
import { FkoError, generateKeys, parseDigestName } from "../spa/index.js";
import { FWKNOP_TS_VERSION } from "../version.js";
import { getoptLong } from "./getopt.js";

const SPECS = [
  { long: "version", short: "V", arg: "none" },
  { long: "help", short: "h", arg: "none" },
  { long: "key-gen", arg: "none" },
  { long: "key-len", arg: "required" },
  { long: "hmac-key-len", arg: "required" },
  { long: "hmac-digest-type", arg: "required" },
] as const;

export async function main(argv: readonly string[]): Promise<number> {
  await Promise.resolve();
  try {
    const { opts } = getoptLong(argv, SPECS, "fwknopd");
    const has = (l: string): boolean => opts.some((o) => o.spec.long === l);
    const val = (l: string): string | undefined =>
      opts.find((o) => o.spec.long === l)?.value ?? undefined;
    if (has("version")) {
      process.stdout.write(`fwknopd server ${FWKNOP_TS_VERSION} (fwknop-ts)\n`);
      return 0;
    }
    if (has("key-gen")) {
      const t = parseDigestName(val("hmac-digest-type") ?? "sha256") ?? "sha256";
      const kl = val("key-len");
      const hl = val("hmac-key-len");
      const k = generateKeys(
        (n) => randomBytes(n),
        t,
        kl === undefined ? undefined : Number(kl),
        hl === undefined ? undefined : Number(hl),
      );
      process.stdout.write(`KEY_BASE64: ${k.keyBase64}\nHMAC_KEY_BASE64: ${k.hmacKeyBase64}\n`);
      return 0;
    }
    process.stderr.write(
      "fwknopd: the fwknop-ts server is not implemented yet; this build provides --key-gen and -V.\n" +
        "Run the C fwknopd for now (fwknop-ts clients are wire-compatible with it).\n",
    );
    return 1;
  } catch (e) {
    if (e instanceof FkoError || e instanceof FwknopTsError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
