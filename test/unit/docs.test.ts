/**
 * The man pages and the bash completion (scripts/docs/, built into dist/ by `npm run build`): every
 * option of the tables that `-h` shows is in its page and completes, nothing else does, the pages
 * render without a warning from the formatters that are installed, and dist/ holds what the
 * generator makes now.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it, type TestContext } from "node:test";
import { bashCompletion } from "../../scripts/docs/completion.js";
import { clientPage, serverDefault, serverPage } from "../../scripts/docs/man.js";
import { clientDocOptions, serverDocOptions, type DocOption } from "../../scripts/docs/options.js";
import { esc } from "../../scripts/docs/roff.js";
import { CLIENT_OPTIONS } from "../../src/client/options.js";
import { EXIT_STATUS } from "../../src/errors.js";
import { SERVER_OPTIONS } from "../../src/server/options.js";

const REPO = join(__dirname, "..", "..");
const DATE = "2024-01-02";
const PAGES = [
  { command: "fwknop", text: clientPage(DATE), options: clientDocOptions(), table: CLIENT_OPTIONS },
  {
    command: "fwknopd",
    text: serverPage(DATE),
    options: serverDocOptions(),
    table: SERVER_OPTIONS,
  },
];

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "fwkts-docs-"));
  made.push(d);
  return d;
}

/** A program on PATH, or null. */
function which(program: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = join(dir, program);
    if (dir !== "" && existsSync(p)) return p;
  }
  return null;
}

const spellings = (o: DocOption): string[] => [
  ...(o.short !== undefined ? [`-${o.short}`] : []),
  `--${o.long}`,
];

/** What the completion offers for this command line (the last word is the one being completed). */
function complete(words: string[], cwd = REPO): string[] {
  const script = [
    'source "$1"; shift',
    'COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))',
    '_fwknop_ts "$1"',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join("\n");
  const file = join(tempDir(), "completion");
  writeFileSync(file, bashCompletion());
  const out = execFileSync("bash", ["-c", script, "bash", file, ...words], {
    cwd,
    encoding: "utf8",
  });
  return out.split("\n").filter((l) => l !== "");
}

describe("man pages", () => {
  for (const { command, text, options, table } of PAGES) {
    it(`${command}(8) documents every option -h shows, and no other`, () => {
      assert.ok(options.length > 30);
      for (const o of options) {
        assert.ok(text.includes(`\\fB${esc(`--${o.long}`)}\\fR`), `--${o.long} missing`);
        if (o.short !== undefined)
          assert.ok(text.includes(`\\fB\\-${o.short}\\fR, \\fB`), `-${o.short} missing`);
        if (o.metavar !== null) assert.ok(text.includes(`\\fI${esc(o.metavar)}\\fR`), o.long);
        assert.ok(text.includes(esc(o.help)), `help of --${o.long}`);
      }
      for (const o of table.filter((r) => r.help === ""))
        assert.ok(!text.includes(`\\fB${esc(`--${o.long}`)}\\fR`), `--${o.long} is internal`);
    });

    it(`${command}(8) has the sections of a man page and the exit statuses of errors.ts`, () => {
      for (const s of ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "FILES", "EXIT STATUS"])
        assert.match(text, new RegExp(`^\\.SH ${s}$`, "m"));
      assert.match(text, /^\.SH "?SEE ALSO"?$/m);
      assert.match(text, new RegExp(`^\\.TH ${command.toUpperCase()} 8 "${DATE}"`, "m"));
      for (const status of [0, EXIT_STATUS.user, EXIT_STATUS.internal])
        assert.ok(text.includes(`.TP\n\\fB${status}\\fR\n`), `exit status ${status}`);
      assert.ok(!/^$/m.test(text.trimEnd()), "a blank line in a man page");
    });
  }

  it("fwknopd(8) names the files at the code's defaults", () => {
    const text = serverPage(DATE);
    for (const path of [
      "/etc/fwknop/fwknopd.conf",
      "/etc/fwknop/access.conf",
      "/var/run/fwknop/fwknopd.pid",
      "/var/run/fwknop/digest.cache",
    ])
      assert.ok(text.includes(`\\fI${esc(path)}\\fR`), path);
    assert.equal(serverDefault("FWKNOP_PID_FILE"), "/var/run/fwknop/fwknopd.pid");
    assert.ok(text.includes(`.TP\n\\fB${EXIT_STATUS.environment}\\fR\n`));
  });

  it("text is escaped for roff", () => {
    assert.equal(esc(".x -a 'b' `c` \\d"), "\\&.x \\-a \\(aqb\\(aq \\(gac\\(ga \\ed");
  });

  const renderers: Array<{ program: string; pkg: string; args: (f: string) => string[] }> = [
    { program: "groff", pkg: "groff-base", args: (f) => ["-man", "-Tutf8", "-ww", "-z", f] },
    { program: "man", pkg: "man-db", args: (f) => ["--warnings", "-E", "UTF-8", "-l", f] },
    { program: "mandoc", pkg: "mandoc", args: (f) => ["-T", "lint", "-W", "warning", f] },
  ];
  for (const r of renderers)
    it(`${r.program} renders both pages without a warning`, (t: TestContext) => {
      if (which(r.program) === null) {
        t.skip(`${r.program} is not installed (Debian package ${r.pkg})`);
        return;
      }
      const dir = tempDir();
      for (const { command, text } of PAGES) {
        const file = join(dir, `${command}.8`);
        writeFileSync(file, text);
        const res = spawnSync(r.program, r.args(file), {
          encoding: "utf8",
          env: { ...process.env, MANPAGER: "cat", MANWIDTH: "80", LC_ALL: "C.UTF-8" },
        });
        assert.equal(res.stderr, "", `${r.program} on ${command}.8`);
        assert.equal(res.status, 0, `${r.program} on ${command}.8`);
        if (r.program === "man") assert.match(res.stdout, new RegExp(`^${command.toUpperCase()}`));
      }
    });
});

describe("bash completion", () => {
  for (const { command, options } of PAGES) {
    it(`${command}: a dash offers exactly the options -h shows`, () => {
      const offered = complete([command, "-"]);
      assert.deepEqual(new Set(offered), new Set(options.flatMap(spellings)));
    });

    it(`${command}: files after a file option, directories after a directory option`, () => {
      const dir = tempDir();
      mkdirSync(join(dir, "sub-dir"));
      writeFileSync(join(dir, "some-file"), "");
      let checked = 0;
      for (const o of options.filter((x) => x.metavar !== null))
        for (const flag of spellings(o)) {
          const got = new Set(complete([command, flag, "s"], dir));
          const want = { file: ["some-file", "sub-dir"], dir: ["sub-dir"], word: [] }[o.kind];
          assert.deepEqual(got, new Set(want), `${flag} ${o.metavar ?? ""}`);
          checked++;
        }
      assert.ok(checked > 10);
      // --option=value: bash splits the word at '='.
      const file = options.find((o) => o.kind === "file");
      assert.ok(file !== undefined);
      assert.deepEqual(complete([command, `--${file.long}`, "=", "so"], dir), ["some-file"]);
    });
  }

  it("is loadable with source and registers both commands", () => {
    const file = join(tempDir(), "completion");
    writeFileSync(file, bashCompletion());
    const out = execFileSync(
      "bash",
      ["-c", 'source "$1" && complete -p fwknop fwknopd', "_", file],
      {
        encoding: "utf8",
      },
    );
    assert.equal(out, "complete -F _fwknop_ts fwknop\ncomplete -F _fwknop_ts fwknopd\n");
  });
});

describe("dist/ (npm run build)", () => {
  const withoutDate = (s: string): string => s.replace(/^\.TH .*$/m, "");
  it("holds the pages and completion the generator makes now", () => {
    for (const { command, text } of PAGES) {
      const built = join(REPO, "dist", "man", `${command}.8`);
      assert.ok(existsSync(built), `${built} is missing: run npm run build`);
      assert.equal(withoutDate(readFileSync(built, "utf8")), withoutDate(text), built);
      assert.equal(
        readFileSync(join(REPO, "dist", "completion", command), "utf8"),
        bashCompletion(),
      );
    }
  });
});
