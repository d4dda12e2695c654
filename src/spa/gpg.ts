/**
 * GPG ("Asymmetric" mode) sits behind this interface so the codec stays pure; the adapter that runs
 * the gpg binary comes with the GPG issue. Wire rules it must follow (fwknop-reference.md §1.7):
 * binary OpenPGP, b64nopad, first two chars ("hQ") dropped on the wire and restored on receipt.
 */
export interface GpgEncryptRequest {
  plaintext: string;
  recipient: string;
  signer: string | null;
  signerPassphrase: string | null;
  homeDir: string | null;
}

export interface GpgDecryptResult {
  plaintext: string;
  signerFingerprint: string | null;
  signerKeyId: string | null;
  signatureValid: boolean;
}

export interface GpgEngine {
  encrypt(req: GpgEncryptRequest): Promise<Uint8Array>;
  decrypt(ciphertext: Uint8Array, passphrase: string | null): Promise<GpgDecryptResult | null>;
}
