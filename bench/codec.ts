/**
 * Codec micro-benchmark: µs per HMAC rejection, per full open (HMAC + decrypt + decode), per open
 * without HMAC, and per packet made. Run by hand: `npm run bench`. Bounded: fixed iteration counts.
 */
import { randomBytes } from "node:crypto";
import {
  makeSpaPacket,
  openSpaPacket,
  verifySpaHmac,
  type SpaFields,
  type SpaKeys,
} from "../src/spa/index.js";

const fields: SpaFields = {
  rand: "1234567890123456",
  username: "alice",
  timestamp: 1_700_000_000,
  version: "3.0.0",
  messageType: 1,
  message: "198.18.0.2,tcp/22",
  natAccess: null,
  serverAuth: null,
  clientTimeout: 0,
};
const withHmac: SpaKeys = {
  mode: "cbc",
  key: randomBytes(32),
  hmac: { type: "sha256", key: randomBytes(64) },
};
const noHmac: SpaKeys = { mode: "cbc", key: randomBytes(32), hmac: null };
const rng = (n: number): Uint8Array => randomBytes(n);

function time(label: string, iterations: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(2000, iterations); i++) fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / iterations;
  console.log(
    `${label.padEnd(44)} ${us.toFixed(2).padStart(8)} µs   (${Math.round(1e6 / us).toLocaleString("en")}/s, n=${iterations})`,
  );
  return us;
}

const good = makeSpaPacket(fields, "sha256", withHmac, rng).wire;
const goodNoHmac = makeSpaPacket(fields, "sha256", noHmac, rng).wire;
// Same length and charset as a real packet, wrong HMAC: the common junk case.
const forged = Array.from(
  { length: 256 },
  () => good.slice(0, -43) + randomBytes(33).toString("base64").slice(0, 43),
);

console.log(`node ${process.version}, ${process.arch}; one core, no I/O\n`);
time("HMAC reject (forged packet, sha256)", 200_000, (i) => {
  const r = verifySpaHmac(forged[i & 255] ?? good, "cbc", withHmac.hmac);
  if (r.ok) throw new Error("forged packet verified");
});
time("full open with HMAC (verify+decrypt+decode)", 100_000, () => {
  if (!openSpaPacket(good, withHmac).ok) throw new Error("good packet refused");
});
time("full open without HMAC (decrypt+decode)", 100_000, () => {
  if (!openSpaPacket(goodNoHmac, noHmac).ok) throw new Error("good packet refused");
});
time("make packet (encode+encrypt+HMAC)", 50_000, () =>
  makeSpaPacket(fields, "sha256", withHmac, rng),
);
