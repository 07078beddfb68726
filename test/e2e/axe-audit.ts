// axe-core in the page under test (not a test file itself). Playwright
// evaluates the engine's source in the page: nothing comes from a CDN and the
// app's CSP stays as it ships. Every WCAG 2.0/2.1 A and AA rule runs, the
// ones axe marks experimental included (label-content-name-mismatch is one),
// so "no violations" means what WCAG 2.1 AA asks of a page axe can judge.
import { mkdir } from "node:fs/promises";
import axe from "axe-core";
import type { Page } from "playwright-core";
import { expect } from "vitest";

const SHOTS = "test-results/screenshots";

export const WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

export interface AxeFinding {
  rule: string;
  impact: string | null;
  help: string;
  nodes: { target: string; summary: string }[];
}

export interface AxeAudit {
  violations: AxeFinding[];
  /** Checks axe could not decide (text over a gradient, say): listed, for a person to look at. */
  incomplete: AxeFinding[];
  /** How many rules applied to something on the page and passed. */
  passed: number;
}

type Results = Pick<axe.AxeResults, "violations" | "incomplete" | "passes">;

function findings(results: axe.Result[]): AxeFinding[] {
  return results.map((r) => ({
    rule: r.id,
    impact: r.impact ?? null,
    help: r.help,
    nodes: r.nodes.map((n) => ({ target: n.target.join(" "), summary: (n.failureSummary ?? n.any.map((c) => c.message).join("; ")).replace(/\s+/g, " ").trim() })),
  }));
}

/** Runs the audit on the page as it is now. */
export async function auditPage(page: Page): Promise<AxeAudit> {
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe === "object");
  if (!loaded) await page.evaluate(axe.source);
  const results = await page.evaluate(async (tags: string[]): Promise<Results> => {
    const a = (window as unknown as { axe: typeof axe }).axe;
    const rules = a.getRules(tags).map((r) => r.ruleId);
    const r = await a.run(document, { runOnly: { type: "rule", values: rules }, resultTypes: ["violations", "incomplete"] });
    return { violations: r.violations, incomplete: r.incomplete, passes: r.passes };
  }, WCAG21_AA);
  return { violations: findings(results.violations), incomplete: findings(results.incomplete), passed: results.passes.length };
}

/** One line per failing element, for an assertion message a person can act on. */
export function describeFindings(list: AxeFinding[]): string {
  return list.flatMap((f) => f.nodes.map((n) => `${f.rule} (${f.impact ?? "?"}): ${n.target}: ${n.summary}`)).join("\n");
}

/** Glyphs (✓, ⊘, ×) axe cannot read as text: undecided by nature, not worth a person's look. */
const GLYPH_ONLY = /contains only non-text characters|too short to determine|Unable to determine if the visible text is part of the accessible name/;

/**
 * Audits the page as it is now (and saves a screenshot of it): every WCAG
 * 2.1 A/AA violation is a soft failure naming the element, so one run
 * reports every screen; what axe could not decide is printed.
 */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/a11y-${screen}.png` });
  const audit = await auditPage(page);
  const undecided = audit.incomplete.map((f) => ({ ...f, nodes: f.nodes.filter((n) => !GLYPH_ONLY.test(n.summary)) })).filter((f) => f.nodes.length > 0);
  if (undecided.length > 0) console.log(`${screen}: axe could not decide:\n${describeFindings(undecided)}`);
  expect(audit.passed, `${screen}: axe ran no rule`).toBeGreaterThan(0);
  expect.soft(audit.violations, `${screen}:\n${describeFindings(audit.violations)}`).toEqual([]);
}
