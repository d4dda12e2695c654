/**
 * Everything the client can be told, from built-in defaults, the rc file's [default] stanza, a
 * named stanza (-n) and the command line, in that order of precedence (client/config_init.c).
 */
import {
  FKO_DEFAULT_DIGEST,
  FKO_DEFAULT_ENC_MODE,
  FKO_DEFAULT_PORT,
  type DigestName,
  type EncMode,
} from "../spa/index.js";

export type ServerProto = "udp" | "tcp" | "http" | "udpraw" | "tcpraw" | "icmp";

/** The modes that hand-build the packet on a raw socket (client/spa_comm.c: root only). */
export type RawProto = "udpraw" | "tcpraw" | "icmp";

export function isRawProto(p: ServerProto): p is RawProto {
  return p === "udpraw" || p === "tcpraw" || p === "icmp";
}

/** --connect's HOST:PORT (ours): host as given, brackets of "[addr]:port" removed. */
export interface ConnectTarget {
  host: string;
  port: number;
}

export interface ClientConfig {
  access: string | null;
  allowIp: string | null;
  /** -s: send 0.0.0.0 so the server uses the packet's source address. */
  sourceIp: boolean;
  resolveIp: boolean;
  resolveUrl: string | null;
  resolveHttpOnly: boolean;
  destination: string | null;
  serverPort: number;
  serverProto: ServerProto;
  sourcePort: number | null;
  randPort: boolean;
  /** -Q: the source address written into a raw-mode packet (IPv4, as C). */
  spoofSource: string | null;
  /** --icmp-type / --icmp-code for -P icmp; C's defaults are 0/0, an echo reply. */
  icmpType: number;
  icmpCode: number;
  digestType: DigestName;
  encMode: EncMode;
  useHmac: boolean;
  hmacType: DigestName | null;
  keyRaw: string | null;
  keyBase64: string | null;
  hmacKeyRaw: string | null;
  hmacKeyBase64: string | null;
  /** Seconds; null when not given (the server's FW_ACCESS_TIMEOUT then applies). */
  fwTimeout: number | null;
  spoofUser: string | null;
  /** Seconds added to (or, negative, taken from) the timestamp. */
  timeOffset: number;
  serverCmd: string | null;
  natAccess: string | null;
  natLocal: boolean;
  natPort: number | null;
  natRandPort: boolean;
  test: boolean;
  savePacketFile: string | null;
  savePacketAppend: boolean;
  verbose: number;
  userAgent: string | null;
  httpProxy: string | null;
  noSaveArgs: boolean;
  saveArgsFile: string | null;
  keyFile: string | null;
  hmacKeyFile: string | null;
  keyFromStdin: boolean;
  keyFd: number | null;
  lastCmd: boolean;
  showLast: boolean;
  keyGen: boolean;
  keyGenFile: string | null;
  keyLen: number | null;
  hmacKeyLen: number | null;
  rcFile: string | null;
  noRcFile: boolean;
  noHomeDir: boolean;
  namedConfig: string | null;
  saveRcStanza: boolean;
  forceStanza: boolean;
  stanzaList: boolean;
  showHelp: boolean;
  showVersion: boolean;
  /** GPG ("Asymmetric") mode: -g, any --gpg-* flag, or USE_GPG Y. */
  useGpg: boolean;
  gpgRecipient: string | null;
  gpgSigner: string | null;
  gpgHomeDir: string | null;
  gpgExe: string | null;
  /** --gpg-agent: gpg-agent supplies the signing passphrase. */
  useGpgAgent: boolean;
  /** --gpg-no-signing-pw: the signing key has no passphrase. */
  gpgNoSigningPw: boolean;
  /** --connect (ours): after the knock, connect here and relay stdin/stdout over it. */
  connect: ConnectTarget | null;
  /** --connect-timeout (ours): how long the port may take to open, from the packet sent. */
  connectTimeoutMs: number;
  /** --connect-token (ours): the connection starts with the packet's connect token. */
  connectToken: boolean;
}

/** --connect-timeout's default: enough for a grant on a loaded server, short for a typo. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export function defaultClientConfig(): ClientConfig {
  return {
    access: null,
    allowIp: null,
    sourceIp: false,
    resolveIp: false,
    resolveUrl: null,
    resolveHttpOnly: false,
    destination: null,
    serverPort: FKO_DEFAULT_PORT,
    serverProto: "udp",
    sourcePort: null,
    randPort: false,
    spoofSource: null,
    icmpType: 0,
    icmpCode: 0,
    digestType: FKO_DEFAULT_DIGEST,
    encMode: FKO_DEFAULT_ENC_MODE,
    useHmac: false,
    hmacType: null,
    keyRaw: null,
    keyBase64: null,
    hmacKeyRaw: null,
    hmacKeyBase64: null,
    fwTimeout: null,
    spoofUser: null,
    timeOffset: 0,
    serverCmd: null,
    natAccess: null,
    natLocal: false,
    natPort: null,
    natRandPort: false,
    test: false,
    savePacketFile: null,
    savePacketAppend: false,
    verbose: 0,
    userAgent: null,
    httpProxy: null,
    noSaveArgs: false,
    saveArgsFile: null,
    keyFile: null,
    hmacKeyFile: null,
    keyFromStdin: false,
    keyFd: null,
    lastCmd: false,
    showLast: false,
    keyGen: false,
    keyGenFile: null,
    keyLen: null,
    hmacKeyLen: null,
    rcFile: null,
    noRcFile: false,
    noHomeDir: false,
    namedConfig: null,
    saveRcStanza: false,
    forceStanza: false,
    stanzaList: false,
    showHelp: false,
    showVersion: false,
    useGpg: false,
    gpgRecipient: null,
    gpgSigner: null,
    gpgHomeDir: null,
    gpgExe: null,
    useGpgAgent: false,
    gpgNoSigningPw: false,
    connect: null,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    connectToken: false,
  };
}
