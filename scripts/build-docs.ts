/**
 * `npm run build`'s last step: the man pages and the bash completion, made from the option tables
 * (scripts/docs/), into dist/ where package.json's `man` and `files` fields take them from. Built
 * with the code they describe, they cannot fall behind it.
 *   dist/man/fwknop.8, dist/man/fwknopd.8
 *   dist/completion/fwknop, dist/completion/fwknopd   (the same script, under each command's name)
 * The pages' date is SOURCE_DATE_EPOCH's when set (reproducible builds), else today's.
 *   node --import tsx scripts/build-docs.ts
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bashCompletion } from "./docs/completion.js";
import { clientPage, serverPage } from "./docs/man.js";

const DIST = join(__dirname, "..", "dist");

export function buildDate(env: NodeJS.ProcessEnv = process.env): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  const when = epoch !== undefined && /^[0-9]+$/.test(epoch) ? Number(epoch) * 1000 : Date.now();
  return new Date(when).toISOString().slice(0, 10);
}

function main(): void {
  const date = buildDate();
  const man = join(DIST, "man");
  const completion = join(DIST, "completion");
  mkdirSync(man, { recursive: true });
  mkdirSync(completion, { recursive: true });
  writeFileSync(join(man, "fwknop.8"), clientPage(date));
  writeFileSync(join(man, "fwknopd.8"), serverPage(date));
  for (const command of ["fwknop", "fwknopd"])
    writeFileSync(join(completion, command), bashCompletion());
}

if (require.main === module) main();
