// hotplug.plan and hotplug.execute: thin adapters between the contract and
// the one change path (electron/hotplug/change.ts). Progress and the outcome
// of an applied plan go to the UI as events.
import { randomUUID } from "node:crypto";
import type { PlanPreview } from "../../shared/ipc/contract.js";
import type { ChangeTarget, HotplugChanges } from "../hotplug/change.js";
import { ApiError } from "../../shared/ipc/transport.js";
import type { Handlers } from "./dispatch.js";
import type { ServiceContext } from "./service-context.js";

export function hotplugHandlers(ctx: ServiceContext, changes: HotplugChanges): Pick<Handlers, "hotplug.plan" | "hotplug.execute"> {
  const { bus, nodes } = ctx.deps;
  const target = async (nodeId: string, timeoutMs?: number): Promise<ChangeTarget> => {
    const node = ctx.nodeConfig(nodeId);
    const readers = ctx.readersOf(node);
    return { session: await nodes.session(nodeId, timeoutMs), nodeId, root: node.root, ...(readers ? { readers } : {}), ...(node.diskPathAllow ? { diskPathAllow: node.diskPathAllow } : {}) };
  };

  return {
    "hotplug.plan": async ({ nodeId, instance, intent }): Promise<PlanPreview> => {
      const r = await changes.review(await target(nodeId), instance, intent);
      if (!r.ok) return { ok: false, nodeId, instance, summary: r.summary, refusals: r.refusals };
      const { planId, summary, plan } = r.kept;
      return { ok: true, planId, nodeId, instance, summary, steps: plan.steps, writeGeneration: plan.writeGeneration, fileDiff: plan.fileDiff, slot: plan.slot, warnings: plan.warnings };
    },

    "hotplug.execute": async ({ planId }) => {
      const kept = changes.kept.take(planId);
      if (!kept) throw new ApiError("This plan is no longer available (it was applied, or is more than 10 minutes old). Review the change again.", "plan-expired");
      ctx.nodeConfig(kept.nodeId);
      const operation = { operationId: randomUUID(), planId, nodeId: kept.nodeId, instance: kept.instance };
      void changes
        .apply(kept, () => target(kept.nodeId, 10_000), {
          progress: (p) => bus.emit("operation.progress", { ...operation, ...p }),
          outcome: (outcome) => bus.emit("operation.outcome", { ...operation, outcome }),
        })
        .then(() => bus.emit("inventory.changed", { nodeId: kept.nodeId, instance: kept.instance }));
      return { operationId: operation.operationId };
    },
  };
}
