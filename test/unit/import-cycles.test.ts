/**
 * No import cycle in src/, counting `import type` too. eslint's import-x/no-cycle (in
 * eslint.config.mjs, with the layer zones) skips type-only imports because they vanish at run
 * time; but a type cycle still ties two modules into one unit to read, as fwknopd-conf.ts and
 * fwknopd-settings.ts were before ChainSpec moved to config/chain-spec.ts.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

const SRC = resolve(__dirname, "../../src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith(".ts")
        ? [join(dir, e.name)]
        : [],
  );
}

/** Our modules each file imports or re-exports from, as paths of .ts files. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files) {
    const info = ts.preProcessFile(readFileSync(f, "utf8"), true, true);
    g.set(
      f,
      info.importedFiles
        .map((i) => i.fileName)
        .filter((n) => n.startsWith("."))
        .map((n) => resolve(dirname(f), n).replace(/\.js$/, ".ts")),
    );
  }
  return g;
}

/** One cycle as a list of files, or null: a depth-first walk that meets a file still on its path. */
function findCycle(g: ReadonlyMap<string, readonly string[]>): string[] | null {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (f: string): string[] | null => {
    const at = path.indexOf(f);
    if (at >= 0) return [...path.slice(at), f];
    if (done.has(f)) return null;
    path.push(f);
    for (const t of g.get(f) ?? []) {
      const c = visit(t);
      if (c !== null) return c;
    }
    path.pop();
    done.add(f);
    return null;
  };
  for (const f of g.keys()) {
    const c = visit(f);
    if (c !== null) return c;
  }
  return null;
}

describe("src/ import graph", () => {
  it("has no cycle, type-only imports included", () => {
    const cycle = findCycle(importGraph(sources(SRC)));
    assert.equal(cycle?.map((f) => relative(SRC, f)).join(" -> ") ?? null, null);
  });

  it("finds a cycle when there is one", () => {
    assert.deepEqual(
      findCycle(
        new Map([
          ["a", ["b"]],
          ["b", ["c"]],
          ["c", ["a"]],
        ]),
      ),
      ["a", "b", "c", "a"],
    );
  });
});
