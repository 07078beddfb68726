// Vitest reporter: after the run, one line per skipped test with the reason
// it gave (ctx.skip(note)), so `npm test` says what did not run here and why.
// A skip without a reason is listed as such.
import path from "node:path";
import type { Reporter, TestCase } from "vitest/node";

export default class SkipReasonsReporter implements Reporter {
  private readonly lines: string[] = [];

  onTestCaseResult(test: TestCase): void {
    const r = test.result();
    if (r.state !== "skipped") return;
    this.lines.push(`${path.relative(process.cwd(), test.module.moduleId)} > ${test.fullName}: ${r.note ?? "NO REASON GIVEN"}`);
  }

  onTestRunEnd(): void {
    if (this.lines.length === 0) return;
    process.stdout.write(`\nSkipped here, and why (${this.lines.length}):\n${this.lines.map((l) => `  - ${l}\n`).join("")}`);
  }
}
