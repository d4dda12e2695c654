/**
 * Asks the installed C client (Debian fwknop 2.6.10) for SPA packets in every encryption mode x
 * digest x HMAC type x message type and writes them, with the fields the client printed, to
 * c-client-vectors.json. Run: `npm run vectors`. Needs /usr/bin/fwknop; talks to no network (-T).
 *
 * Observed: with -T the client prints the "SPA Field Values" dump of the packet it built (then,
 * with -v, a second dump of its own decode); we parse the first one. -B writes the wire + "\n".
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const CLIENT = process.env.FWKNOP_C_CLIENT ?? "/usr/bin/fwknop";
const OUT = join(__dirname, "c-client-vectors.json");

const MODES = ["cbc", "ecb", "cfb", "ofb", "ctr", "legacy"] as const;
const DIGESTS = ["md5", "sha1", "sha256", "sha384", "sha512", "sha3_256", "sha3_512"] as const;
const HMACS = [null, ...DIGESTS] as const;
const USERS = ["alice", "bob-admin", "svc_backup", "j.doe", "root", "ops@site", "x"];

/** Deterministic choices (mulberry32), so the set of combinations is stable between runs. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(20261125);
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T;
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(0, 255)));
const ip = (): string => `198.${int(18, 19)}.${int(0, 255)}.${int(1, 254)}`;
const passphrase = (n: number): string =>
  Array.from({ length: n }, () =>
    pick([..."abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"]),
  ).join("");

interface Case {
  id: string;
  args: string[];
  mode: string;
  digest: string;
  hmac: string | null;
  keyKind: "passphrase" | "base64";
  key: Buffer;
  hmacKey: Buffer | null;
}

function makeCase(
  mode: string,
  digest: string,
  hmac: string | null,
  type: number,
  short: boolean,
): Case {
  const keyKind = rand() < 0.5 ? "passphrase" : "base64";
  const args: string[] = ["-D", "198.18.0.1", "-m", digest, "-M", mode, "-U", pick(USERS)];
  let key: Buffer;
  if (keyKind === "passphrase") {
    const k = passphrase(mode === "legacy" ? int(4, 16) : int(6, 32));
    key = Buffer.from(k);
    args.push("--key-rijndael", k);
  } else {
    key = bytes(mode === "legacy" ? int(1, 16) : int(1, 32));
    args.push("--key-base64-rijndael", key.toString("base64"));
  }
  let hmacKey: Buffer | null = null;
  if (hmac !== null) {
    hmacKey = keyKind === "passphrase" ? Buffer.from(passphrase(int(8, 64))) : bytes(int(1, 128));
    if (hmacKey.equals(key)) hmacKey = Buffer.concat([hmacKey, Buffer.from("x")]);
    args.push("--hmac-digest-type", hmac);
    args.push(
      ...(keyKind === "passphrase"
        ? ["--key-hmac", hmacKey.toString()]
        : ["--key-base64-hmac", hmacKey.toString("base64")]),
    );
  }
  if (rand() < 0.1 && type !== 0) args.push("-s");
  else args.push("-a", ip());
  const access = short || rand() < 0.6 ? `tcp/${int(1, 65535)}` : `tcp/22,udp/${int(1, 65535)}`;
  const timeout = String(int(1, short ? 99 : 65536));
  switch (type) {
    case 0:
      args.push("-C", short ? "id" : pick(["uname -a", "systemctl restart sshd", "touch /tmp/x"]));
      break;
    case 1:
      args.push("-A", access);
      break;
    case 2:
      args.push(
        "-A",
        access.split(",")[0] ?? access,
        "-N",
        `${short ? ip() : pick([ip(), "intranet.example"])}:${int(1, 65535)}`,
      );
      break;
    case 3:
      args.push("-A", access, "-f", timeout);
      break;
    case 4:
      args.push(
        "-A",
        access.split(",")[0] ?? access,
        "-N",
        `${ip()}:${int(1, 65535)}`,
        "-f",
        timeout,
      );
      break;
    case 5:
      args.push("-A", `tcp/${int(1, 65535)}`, "--nat-local");
      break;
    case 6:
      args.push(
        "-A",
        `tcp/${int(1, 65535)}`,
        "--nat-local",
        "-f",
        timeout,
        ...(short ? [] : ["--nat-port", String(int(1, 65535))]),
      );
      break;
  }
  const id = `${mode}-${digest}-${hmac ?? "nohmac"}-t${type}${short ? "-short" : ""}`;
  return { id, args, mode, digest, hmac, keyKind, key, hmacKey };
}

const FIELD_LABELS: Record<string, string> = {
  "Random Value": "rand",
  Username: "user",
  Timestamp: "timestamp",
  "FKO Version": "version",
  "Message Type": "type",
  "Message String": "message",
  "Nat Access": "nat",
  "Server Auth": "server_auth",
  "Client Timeout": "client_timeout",
  "Encoded Data": "encoded",
  "SPA Data Digest": "digest_b64",
  HMAC: "hmac_b64",
  "Final SPA Data": "final",
};

/** The first "SPA Field Values" dump in the client's output. */
function parseDump(stdout: string): Record<string, string> {
  const start = stdout.indexOf("SPA Field Values:");
  if (start < 0) throw new Error("no field dump in client output");
  const out: Record<string, string> = {};
  for (const line of stdout.slice(start).split("\n").slice(2)) {
    const m = /^\s*([A-Za-z ]+): (.*)$/.exec(line);
    if (m === null) break;
    const key = FIELD_LABELS[m[1] ?? ""];
    if (key !== undefined) out[key] = m[2] ?? "";
  }
  return out;
}

const nullable = (s: string | undefined): string | null =>
  s === undefined || s === "<NULL>" ? null : s;

async function runCase(c: Case, home: string, n: number) {
  const pkt = join(home, `pkt-${n}`);
  try {
    const { stdout } = await run(CLIENT, [...c.args, "-T", "-B", pkt, "--no-save-args"], {
      env: { PATH: "/usr/bin:/bin", HOME: home },
      timeout: 10_000,
    });
    const wire = readFileSync(pkt, "latin1").replace(/\n$/, "");
    const f = parseDump(stdout);
    if (f.final !== wire)
      throw new Error(`${c.id}: dump's Final SPA Data differs from the -B file`);
    return {
      ok: true as const,
      vector: {
        id: c.id,
        args: c.args,
        mode: c.mode,
        digest: c.digest,
        hmac: c.hmac,
        key_kind: c.keyKind,
        key_b64: c.key.toString("base64"),
        hmac_key_b64: c.hmacKey?.toString("base64") ?? null,
        wire,
        fields: {
          rand: f.rand,
          user: f.user,
          timestamp: Number(f.timestamp),
          version: f.version,
          type: Number((f.type ?? "").split(" ")[0]),
          message: f.message,
          nat: nullable(f.nat),
          server_auth: nullable(f.server_auth),
          client_timeout: Number(f.client_timeout),
          digest_b64: f.digest_b64,
          encoded: f.encoded,
          hmac_b64: nullable(f.hmac_b64),
        },
      },
    };
  } catch (e) {
    const err = e as { code?: number; stderr?: string; message: string };
    return {
      ok: false as const,
      refused: {
        id: c.id,
        args: c.args,
        code: err.code ?? -1,
        stderr: (err.stderr ?? err.message).trim(),
      },
    };
  }
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "fwknop-vectors-"));
  try {
    const { stdout: version } = await run(CLIENT, ["-V"], { env: { HOME: home } });
    const cases: Case[] = [];
    for (const mode of MODES)
      for (const digest of DIGESTS)
        for (const hmac of mode === "legacy" ? [null] : HMACS)
          for (let type = 0; type <= 6; type++)
            cases.push(makeCase(mode, digest, hmac, type, false));

    type Outcome = Awaited<ReturnType<typeof runCase>>;
    const vectors: Array<Extract<Outcome, { ok: true }>["vector"]> = [];
    const refused: Array<Extract<Outcome, { ok: false }>["refused"]> = [];
    let n = 0;
    const queue = [...cases];
    const worker = async (): Promise<void> => {
      for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
        let r = await runCase(c, home, n++);
        if (!r.ok) {
          refused.push(r.refused);
          // Too long for Rijndael with these digests: ask again with short inputs so the cell is covered.
          r = await runCase(
            makeCase(c.mode, c.digest, c.hmac, Number(c.id.split("-t")[1]), true),
            home,
            n++,
          );
          if (!r.ok)
            throw new Error(`cell ${c.id} refused even with short inputs: ${r.refused.stderr}`);
        }
        vectors.push(r.vector);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    vectors.sort((a, b) => a.id.localeCompare(b.id));
    refused.sort((a, b) => a.id.localeCompare(b.id));
    const body = [
      "{",
      `"generator": ${JSON.stringify(version.trim())},`,
      `"made": ${JSON.stringify(new Date().toISOString())},`,
      `"vectors": [\n${vectors.map((v) => JSON.stringify(v)).join(",\n")}\n],`,
      `"refused": [\n${refused.map((v) => JSON.stringify(v)).join(",\n")}\n]`,
      "}",
      "",
    ].join("\n");
    writeFileSync(OUT, body);
    console.log(
      `${vectors.length} vectors, ${refused.length} first attempts refused (re-made short) -> ${OUT}`,
    );
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
