/**
 * The shape the tree keeps (issue 12): no source file over 400 lines, and on the daemon side
 * (src/server/ and fwknopd's command line) no function over 60 lines. Measured with TypeScript's
 * own parser, so a new long function fails CI like a lint error does.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

const SRC = join(__dirname, "..", "..", "src");
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 60;
const DAEMON_SIDE = (rel: string): boolean =>
  rel.startsWith("server/") || /^cli\/fwknopd[^/]*\.ts$/.test(rel);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Every function with a body longer than `max` lines: "file:line name (N lines)". */
function longFunctions(path: string, text: string, max: number): string[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && "body" in n && n.body !== undefined) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart()).line;
      const lines = sf.getLineAndCharacterOfPosition(n.getEnd()).line - first + 1;
      const name = ts.getNameOfDeclaration(n)?.getText(sf) ?? "(anonymous)";
      if (lines > max) out.push(`${relative(SRC, path)}:${first + 1} ${name} (${lines} lines)`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe("code shape", () => {
  const files = sources(SRC).map((p) => ({
    p,
    rel: relative(SRC, p),
    text: readFileSync(p, "utf8"),
  }));

  it(`no source file over ${MAX_FILE_LINES} lines`, () => {
    const long = files
      .map((f) => ({ ...f, lines: f.text.split("\n").length }))
      .filter((f) => f.lines > MAX_FILE_LINES)
      .map((f) => `${f.rel} (${f.lines} lines)`);
    assert.deepEqual(long, []);
  });

  it(`no function over ${MAX_FUNCTION_LINES} lines on the daemon side`, () => {
    const long = files
      .filter((f) => DAEMON_SIDE(f.rel))
      .flatMap((f) => longFunctions(f.p, f.text, MAX_FUNCTION_LINES));
    assert.deepEqual(long, []);
  });

  it("the measure finds a long function", () => {
    const body = Array.from({ length: 70 }, (_, i) => `  x += ${i};`).join("\n");
    const text = `function big(): number {\n  let x = 0;\n${body}\n  return x;\n}\n`;
    assert.equal(longFunctions(join(SRC, "server/x.ts"), text, 60).length, 1);
  });
});
