// Arrows only point one way: no module of the app imports itself back
// through others (type-only imports count too: a cycle of types is a
// layering knot all the same). Imports are read with TypeScript's own
// pre-processor, so comments and strings never look like imports.
import { describe, it, expect } from "vitest";
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const LAYERS = ["electron", "shared", "renderer"];

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "node_modules" ? [] : sourcesUnder(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The file a relative specifier names ("./x.js" and "./x" both mean ./x.ts, ./x.tsx or ./x/index.ts). */
function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  const base = resolve(dirname(from), spec.replace(/\.(c|m)?js$/, ""));
  return [`${base}.ts`, `${base}.tsx`, join(base, "index.ts"), join(base, "index.tsx")].find((p) => existsSync(p));
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of LAYERS.flatMap((l) => sourcesUnder(join(repo, l)))) {
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    graph.set(
      file,
      info.importedFiles.map((f) => resolveLocal(file, f.fileName)).filter((p): p is string => p !== undefined),
    );
  }
  return graph;
}

/** Every strongly connected group of more than one module (Tarjan), plus modules importing themselves. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(group.map((p) => relative(repo, p)).sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe("import graph", () => {
  it("reads the app's modules and their local imports", () => {
    const graph = importGraph();
    // A guard against a check that silently sees nothing.
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get(join(repo, "shared/inventory/build.ts"))).toContain(join(repo, "shared/inventory/facts.ts"));
  });

  it("has no cycles in electron/, shared/ and renderer/", () => {
    expect(cycles(importGraph())).toEqual([]);
  });

  it("would see one", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["d"]],
    ]);
    expect(cycles(g)).toHaveLength(2);
  });
});
