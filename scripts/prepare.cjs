// `npm ci` in a checkout builds dist/, so bin/fwknop and bin/fwknopd run at once (the README's
// promise). Without the dev dependencies (`npm ci --omit=dev`) there is nothing to build with:
// say so and succeed; a package made by `npm pack` already carries dist/.
"use strict";
const { spawnSync } = require("node:child_process");

try {
  require.resolve("typescript");
} catch {
  process.stderr.write(
    "fwknop-ts: no dev dependencies here, so no build (dist/ comes with the package)\n",
  );
  process.exit(0);
}
const r = spawnSync("npm", ["run", "build"], { stdio: "inherit" });
process.exit(r.status ?? 1);
