// Honest skips (not a test file itself): a suite whose subject is missing on
// this machine reports one skipped test that says what is missing, instead
// of passing or vanishing. The skip-reasons reporter lists every such reason
// at the end of `npm test`.
import { existsSync } from "node:fs";
import { describe, it } from "vitest";

/** What is missing among the programs, with the Debian package that provides each; undefined when all are there. */
export function missingPrograms(programs: readonly (readonly [path: string, debianPackage: string])[]): string | undefined {
  const gone = programs.filter(([p]) => !existsSync(p));
  if (gone.length === 0) return undefined;
  return `${gone.map(([p]) => p).join(", ")} missing: install ${[...new Set(gone.map(([, pkg]) => pkg))].join(", ")} (npm test installs them as root, through scripts/system-packages.sh)`;
}

/** describe(), or, when `missing` says what is missing, one test that reports a skip with that reason. */
export function describeWhere(missing: string | undefined, name: string, body: () => void): void {
  if (missing === undefined) {
    describe(name, body);
    return;
  }
  describe(name, () => {
    it("cannot run here", (ctx) => {
      ctx.skip(missing);
    });
  });
}
