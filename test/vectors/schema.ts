/**
 * The fields the C client printed for one vector in c-client-vectors.json, as
 * test/vectors/make-vectors.ts writes them and test/unit/c-client-vectors.test.ts reads them.
 */
export interface VectorFields {
  rand: string;
  user: string;
  timestamp: number;
  version: string;
  type: number;
  message: string;
  nat: string | null;
  server_auth: string | null;
  client_timeout: number;
  digest_b64: string;
  encoded: string;
  hmac_b64: string | null;
}
