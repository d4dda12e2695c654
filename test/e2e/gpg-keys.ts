/**
 * Throwaway GPG keyrings for the e2e tests, each in its own temporary home directory, made with
 * the real gpg (argv only, passphrases on stdin). Every gpg-agent these homes start (ours, gpg's,
 * GPGME's in C fwknop) is stopped with `gpgconf --homedir H --kill gpg-agent` by `close()`, which
 * then removes the directories.
 *
 * Key types: RSA-2048 messages start with an old-format PKESK packet with a two-octet length, so
 * their b64 starts with "hQ" as C fwknop assumes; Curve25519 (ECDH) ones start "hF" (one-octet
 * length), which a C client strips blindly and a C server cannot read (upstream issue #247).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runChecked, runProgram } from "../../src/exec.js";

export const GPG = "/usr/bin/gpg";

export interface TestKey {
  home: string;
  uid: string;
  fpr: string;
  /** C's key id: the last 8 hex digits of the fingerprint. */
  id8: string;
}

export class Keyrings {
  private readonly homes = new Set<string>();

  home(name: string): string {
    const h = mkdtempSync(join(tmpdir(), `gpg-${name}-`));
    this.homes.add(h);
    return h;
  }

  private gpg(home: string, args: string[], input?: string): Promise<string> {
    return runChecked(runProgram, GPG, ["--homedir", home, "--batch", ...args], input);
  }

  /** "rsa": RSA-2048 (sign) with an RSA-2048 encryption subkey; "ecc": Ed25519 with Cv25519. */
  async make(home: string, uid: string, kind: "rsa" | "ecc", passphrase = ""): Promise<TestKey> {
    const pw = ["--pinentry-mode", "loopback", "--passphrase-fd", "0"];
    if (kind === "rsa") {
      await this.gpg(
        home,
        [...pw, "--quick-gen-key", uid, "rsa2048", "cert,sign", "never"],
        passphrase,
      );
    } else {
      await this.gpg(
        home,
        [...pw, "--quick-gen-key", uid, "future-default", "default", "never"],
        passphrase,
      );
    }
    const fpr = await this.fingerprint(home, uid);
    if (kind === "rsa")
      await this.gpg(home, [...pw, "--quick-add-key", fpr, "rsa2048", "encr", "never"], passphrase);
    return { home, uid, fpr, id8: fpr.slice(-8) };
  }

  async fingerprint(home: string, uid: string): Promise<string> {
    const out = await this.gpg(home, ["--with-colons", "--list-keys", uid]);
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(out)?.[1];
    if (fpr === undefined) throw new Error(`no fingerprint for ${uid} in ${home}`);
    return fpr;
  }

  /** Import `key`'s public key into `home`; with `trust`, trust it fully there (ownertrust). */
  async give(key: TestKey, home: string, trust: boolean): Promise<void> {
    const pub = await this.gpg(key.home, ["--armor", "--export", key.fpr]);
    await this.gpg(home, ["--import"], pub);
    if (trust) await this.gpg(home, ["--import-ownertrust"], `${key.fpr}:6:\n`);
  }

  async close(): Promise<void> {
    for (const h of this.homes) {
      await runProgram("/usr/bin/gpgconf", ["--homedir", h, "--kill", "gpg-agent"]);
      rmSync(h, { recursive: true, force: true });
    }
    this.homes.clear();
  }
}
