// hotplug.plan and hotplug.execute: thin adapters between the contract and
// the one change path (electron/hotplug/change.ts). Progress and the outcome
// of an applied plan go to the UI as events.
import { randomUUID } from "node:crypto";
import type { PlanPreview } from "../../shared/ipc/contract.js";
import type { ChangeTarget, HotplugChanges } from "../hotplug/change.js";
import type { GanetiAccess } from "../ganeti/guard.js";
import { ApiError } from "../../shared/ipc/transport.js";
import type { Handlers } from "./dispatch.js";
import type { ServiceContext } from "./service-context.js";

export function hotplugHandlers(ctx: ServiceContext, changes: HotplugChanges): Pick<Handlers, "hotplug.plan" | "hotplug.execute"> {
  const { bus, nodes } = ctx.deps;
  // Ganeti's master, for its job queue, is looked for among the configured nodes.
  const ganeti: GanetiAccess = { registry: () => nodes.list().map((n) => ({ id: n.id, name: n.name, host: n.host, session: () => nodes.session(n.id, 10_000) })) };
  /** The node, connected; with the instance's readers when a plan is to be made (`instance` null: applying a kept plan). */
  const target = async (nodeId: string, instance: string | null, timeoutMs?: number): Promise<ChangeTarget> => {
    const node = ctx.nodeConfig(nodeId);
    const session = await nodes.session(nodeId, timeoutMs);
    const allow = node.diskPathAllow ? { diskPathAllow: node.diskPathAllow } : {};
    if (instance === null) return { session, nodeId, root: node.root, ganeti, ...allow };
    // Readers come from the node's Ganeti cluster when it has one; a cluster that cannot be read leaves the typed settings.
    const { readers, ganeti: cluster } = await ctx.readersOf(node, instance);
    return { session, nodeId, root: node.root, ...(readers ? { readers } : {}), ...(cluster ? { cluster } : {}), ganeti, ...allow };
  };

  return {
    "hotplug.plan": async ({ nodeId, instance, intent }): Promise<PlanPreview> => {
      const r = await changes.review(await target(nodeId, instance), instance, intent);
      if (!r.ok) return { ok: false, nodeId, instance, summary: r.summary, refusals: r.refusals };
      const { planId, summary, plan } = r.kept;
      return {
        ok: true,
        planId,
        nodeId,
        instance,
        summary,
        steps: plan.steps,
        writeGeneration: plan.writeGeneration,
        fileDiff: plan.fileDiff,
        slot: plan.slot,
        warnings: plan.warnings,
        readers: plan.readers,
        ...(plan.recording ? { recording: plan.recording } : {}),
      };
    },

    "hotplug.execute": async ({ planId }) => {
      const kept = changes.kept.take(planId);
      if (!kept) throw new ApiError("This plan is no longer available (it was applied, or is more than 10 minutes old). Review the change again.", "plan-expired");
      ctx.nodeConfig(kept.nodeId);
      const operation = { operationId: randomUUID(), planId, nodeId: kept.nodeId, instance: kept.instance };
      void changes
        .apply(kept, () => target(kept.nodeId, null, 10_000), {
          progress: (p) => bus.emit("operation.progress", { ...operation, ...p }),
          outcome: (outcome) => bus.emit("operation.outcome", { ...operation, outcome }),
        })
        .then(() => bus.emit("inventory.changed", { nodeId: kept.nodeId, instance: kept.instance }));
      return { operationId: operation.operationId };
    },
  };
}
