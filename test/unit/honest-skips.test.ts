// Every skip says why: no test file skips statically (it.skip, skipIf,
// describe.skip, todo), which would report nothing about the reason, and
// every ctx.skip(...) passes one. Suites use test/support/skip.ts instead.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const TEST_DIR = path.resolve(__dirname, "..");

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.name.endsWith(".test.ts") ? [p] : [];
  });
}

describe("honest skips", () => {
  const files = testFiles(TEST_DIR);

  it("finds the test files", () => {
    expect(files.length).toBeGreaterThan(30);
  });

  it("no static skips, no skipIf, no todo (they give no reason)", () => {
    const offenders = files.flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .map((line, i) => ({ line, at: `${path.relative(TEST_DIR, f)}:${i + 1}` }))
        .filter(({ line }) => !/^\s*(?:\/\/|\*)/.test(line) && /\b(?:it|test|describe)\s*\.\s*(?:skip|skipIf|runIf|todo)\b/.test(line))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });

  it("every ctx.skip(...) gives a reason", () => {
    const offenders = files.flatMap((f) =>
      [...readFileSync(f, "utf8").matchAll(/\bctx\.skip\(([^)]*)\)/g)]
        .filter((m) => m[1]!.trim() === "" || /^(?:true|false|!?\w+)$/.test(m[1]!.trim()))
        .map((m) => `${path.relative(TEST_DIR, f)}: ${m[0]}`),
    );
    expect(offenders).toEqual([]);
  });
});
