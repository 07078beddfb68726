// Runs a hotplug plan (shared/hotplug planner) on a running instance:
// node-side tap and fd steps over SSH, QMP commands over a short session to
// ctrl/<instance>.qmp, verification on the live bus, and finally the
// downgrade-safe runtime write (compare-and-swap, journaled for undo).
//
// Rules it keeps:
// - the per-instance lock is held for the whole run (the runtime write, the
//   last step, frees it on the node in the same request once the file is
//   replaced; a failed run keeps it until its undo is done);
// - consecutive node-side steps go as one chain that the helper stops at the
//   first failure (QEMU refusing a command inside the fd pass included);
// - QMP sessions are short: closed before node-side steps (the python fd
//   passer needs the socket, which takes one client) and before the write;
// - a removal is recorded only after DEVICE_DELETED or the device leaving
//   the bus; a guest that does not let go fails the plan, nothing recorded;
// - any failure undoes the live steps already done, newest first, and the
//   runtime file is left as it was.
//
// How each kind of step is done, undone and named is in step-kinds.ts; what
// a run shares between its steps is in plan-run.ts. This file walks the plan.
import { InstanceLocks } from "../on-node/instance-lock.js";
import { assertUnchanged } from "../on-node/runtime-store.js";
import type { ChangeOutcome } from "../../shared/hotplug/index.js";
import { PlanRun, type ExecutePlanOptions } from "./plan-run.js";
import { StepFailure } from "./step-failure.js";
import { stepKindOf } from "./step-kinds.js";

export type { ExecutePlanOptions } from "./plan-run.js";

export async function executePlan(opts: ExecutePlanOptions): Promise<ChangeOutcome> {
  const run = new PlanRun(opts, (r, index, step) => stepKindOf(step).request?.(r, index, step));
  const { instance, plan } = opts;
  run.dropSessionNeededByPasser();
  try {
    const lockDescribe = `Take the lock on ${instance} and check its runtime file still holds the bytes the plan was made from`;
    try {
      await run.emit({ index: -1, kind: "precheck", describe: lockDescribe, state: "running" });
      // The lock request also reads the file's digest under the lock: one round trip for both.
      run.lock = opts.lock ?? (await (opts.locks ?? new InstanceLocks(opts.session, opts.root)).acquire(instance, { timeoutMs: opts.lockTimeoutMs ?? 10_000, check: run.paths.runtime }));
      if (!run.lock.held) throw new StepFailure("lock", `The lock on ${instance} was lost before the first step; nothing was changed.`);
      assertUnchanged(run.paths.runtime, opts.session.label, run.lock.checked ?? null, opts.expectedRuntime);
      // What is written is final unless Ganeti has yet to name a NIC's or disk's uuid (its step starts the entry then).
      if (plan.steps.some((s) => s.kind === "write-runtime") && !run.awaitsGanetiUuid(0)) run.journalEntry().catch(() => undefined); // awaited (and its error seen) by the write step
      await run.emit({ index: -1, kind: "precheck", describe: lockDescribe, state: "done" });
    } catch (err) {
      await run.emit({ index: -1, kind: "precheck", describe: lockDescribe, state: "failed", detail: (err as Error).message });
      return await run.fail(-1, "precheck", lockDescribe, err);
    }

    // run.plan, not plan: a NIC or disk Ganeti recorded changes the steps after it.
    for (let index = 0; index < run.total; index++) {
      const step = run.plan.steps[index]!;
      const kind = stepKindOf(step);
      if (run.lock && !run.lock.held) {
        const err = new StepFailure(run.sshClosed ? "connection-lost" : "lock", `The lock on ${instance} was lost before this step; stopping so no other operation is overrun.`);
        return await run.fail(index, step.kind, step.describe, err, kind.device(step));
      }
      await run.emit({ index, kind: step.kind, describe: step.describe, state: "running" });
      try {
        run.chain.sendFrom(index);
        const done = await kind.run(run, index, step);
        for (const u of done.undo ?? []) run.undo.push({ index, ...u });
        if (done.failure) throw done.failure;
        run.stepsDone++;
        await run.emit({ index, kind: step.kind, describe: step.describe, state: "done", ...(done.detail ? { detail: done.detail } : {}) });
      } catch (err) {
        await run.emit({ index, kind: step.kind, describe: step.describe, state: "failed", detail: (err as Error).message });
        return await run.fail(index, step.kind, step.describe, err, kind.device(step));
      }
    }
    return (
      run.succeeded() ??
      (await run.fail(run.total - 1, "write-runtime", "write the runtime file", new StepFailure("other", "The plan has no write-runtime step: nothing would be recorded. This is a planner bug.")))
    );
  } finally {
    await run.end();
  }
}
