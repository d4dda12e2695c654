/**
 * Run inside a test namespace by nft-library.test.ts (libnftables acts on the namespace of the
 * process that calls it, so the library cannot be exercised from the test process itself).
 * Prints one JSON object: what each step of the test's script gave.
 */
import { CommandError } from "../../src/exec.js";
import { NftLibrary } from "../../src/server/native/libnftables.js";

const set = "inet libtest s";
const outcome = (p: Promise<void>): Promise<string> =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof CommandError ? `CommandError: ${e.stderr}` : String(e)),
  );

async function main(): Promise<void> {
  const lib = NftLibrary.open();
  if (typeof lib === "string") {
    process.stdout.write(`${JSON.stringify({ unavailable: lib })}\n`);
    return;
  }
  const steps: string[] = [];
  steps.push(
    await outcome(
      lib.run(
        `add table inet libtest; add set ${set} { type ipv4_addr . inet_proto . inet_service; flags timeout; }`,
      ),
    ),
  );
  steps.push(await outcome(lib.run(`add element ${set} { 198.18.0.2 . tcp . 22 timeout 60s }`)));
  steps.push(
    await outcome(lib.run("add element inet libtest nosuchset { 198.18.0.2 . tcp . 22 }")),
  );
  steps.push(await outcome(lib.run(`delete element ${set} { 198.18.0.3 . tcp . 22 }`)));
  steps.push(await outcome(lib.run(`delete element ${set} { 198.18.0.2 . tcp . 22 }`)));
  const many = await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      outcome(
        lib.run(
          i % 50 === 7
            ? "add element inet libtest nosuchset { 198.18.0.2 . tcp . 22 }"
            : `add element ${set} { 198.18.1.${i % 250} . tcp . ${1000 + i} timeout 60s }`,
        ),
      ),
    ),
  );
  lib.close();
  const afterClose = await outcome(lib.run("list tables"));
  process.stdout.write(`${JSON.stringify({ steps, many, afterClose })}\n`);
}

void main();
