import type { DigestName, MessageType } from "./constants.js";

/** The plaintext fields of an SPA message (fwknop-reference.md §1.2), as text. */
export interface SpaFields {
  /** 16 decimal digits. */
  rand: string;
  username: string;
  /** Epoch seconds as the client stamped them (clock + offset). */
  timestamp: number;
  version: string;
  messageType: MessageType;
  /** "<IPv4>,<proto>/<port>[,...]" or, for type 0, "<IPv4>,<command>". */
  message: string;
  /** "<host>,<port>" for NAT types, else null. */
  natAccess: string | null;
  serverAuth: string | null;
  /** Seconds; 0 means none (types 1, 2, 5). */
  clientTimeout: number;
}

/** What a decoded plaintext holds besides the fields. */
export interface DecodedSpa extends SpaFields {
  digestType: DigestName;
  /** The encoded fields the digest covers. */
  encoded: string;
  digest: string;
}
