// What the hotplug integration tests share: a temporary undo journal, "plan this or fail the test", and result
// assertions that print the executor's own message.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeSession } from "../../electron/ssh/session.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { gatherInstanceState } from "../../electron/hotplug/index.js";
import { planHotplug, type ChangeOutcome, type HotplugIntentInput, type PlanOk } from "../../shared/hotplug/index.js";

export async function tempJournal(): Promise<{ journal: Journal; dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "hd-journal-"));
  return { journal: new Journal(dir), dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Read the instance and plan the intent as the app does; a refusal fails the test with its reasons. */
export async function planOn(session: NodeSession, root: string, instance: string, intent: HotplugIntentInput, readers = ["3.0.2"]): Promise<{ plan: PlanOk; expected: Buffer }> {
  const g = await gatherInstanceState(session, instance, { root, readers: { ganetiVersions: readers } });
  const p = planHotplug(g.state, intent);
  if (!p.ok) throw new Error(`plan refused: ${p.refusals.map((r) => r.message).join("; ")}`);
  return { plan: p, expected: g.expectedRuntime };
}

export function expectOk(r: ChangeOutcome): asserts r is Extract<ChangeOutcome, { ok: true }> {
  if (!r.ok) throw new Error(`execution failed: ${r.error.message}`);
}

export function expectFailure(r: ChangeOutcome): asserts r is Extract<ChangeOutcome, { ok: false }> {
  if (r.ok) throw new Error("expected the plan to fail, but it succeeded");
}
