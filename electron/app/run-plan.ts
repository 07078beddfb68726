// The service's RunPlan, carried out by the hotplug executor with a journal
// in the app's data dir (previous runtime-file bytes, for undo).
import { Journal } from "../hotplug/journal.js";
import { executePlan } from "../hotplug/executor.js";
import type { RunPlan } from "./service.js";

export function makeRunPlan(opts: { journalDir: string }): RunPlan {
  const journal = new Journal(opts.journalDir);
  return async ({ session, node, instance, plan, expectedRuntime, planId, onProgress }) => {
    const result = await executePlan({
      session,
      root: node.root,
      nodeId: node.id,
      instance,
      plan,
      expectedRuntime,
      journal,
      planId,
      onProgress: (e) =>
        onProgress({
          index: e.index,
          total: e.total,
          kind: e.kind,
          describe: e.describe,
          state: e.state,
          ...(e.detail ? { message: e.detail } : {}),
        }),
    });
    if (result.ok) {
      const where = plan.slot.guestAddress;
      return { ok: true, message: [`Done: verified on the live bus (${where}) and recorded in the runtime file (generation ${result.written.generation}).`, ...result.notes].join(" ") };
    }
    // The executor's message already names the step, the device and what was undone.
    const unchanged = result.runtimeUnchanged ? "" : " The connection died while the runtime file was being written: check it (the journal kept the previous bytes).";
    return {
      ok: false,
      error: `${result.error.message}${unchanged}`,
      failedStep: result.failedStep.describe,
      undone: [...result.undone, ...result.notUndone.map((n) => `NOT undone: ${n}`)],
    };
  };
}
