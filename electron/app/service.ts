// The app's API, transport-neutral: Electron IPC and the web host both
// reach these handlers through the Dispatcher. The handlers are grouped by
// what they serve (nodes, inventory, hotplug, the app itself); hotplug goes
// through the one change path, and a watch streams changes made outside.
import { HotplugChanges } from "../hotplug/change.js";
import type { Handlers } from "./dispatch.js";
import { serviceContext, type ServiceDeps } from "./service-context.js";
import { nodeHandlers } from "./node-handlers.js";
import { inventoryHandlers } from "./inventory-handlers.js";
import { hotplugHandlers } from "./hotplug-handlers.js";
import { appHandlers } from "./app-handlers.js";
import { clusterHandlers } from "./cluster-handlers.js";
import { watchForChanges } from "./change-watch.js";

export type { LabLauncher, ServiceDeps } from "./service-context.js";

export function createService(deps: ServiceDeps): { handlers: Handlers; dispose(): void } {
  const ctx = serviceContext(deps);
  const changes = new HotplugChanges({
    journal: deps.journal,
    record: (r) => ctx.log({ nodeId: r.nodeId, instance: r.instance, ...(r.planId ? { planId: r.planId } : {}), summary: r.summary, outcome: r.outcome, ...(r.detail ? { detail: r.detail } : {}) }),
  });
  const unsubscribe = deps.nodes.subscribe((e) => {
    if (e.type === "status") deps.bus.emit("node.status", e.status);
    if (e.type === "removed") ctx.clusters.forget(e.id);
  });
  const stopWatch = watchForChanges(ctx, { intervalMs: deps.watchIntervalMs ?? 15_000, changing: (nodeId) => changes.changing(nodeId) });
  return {
    handlers: { ...appHandlers(ctx), ...nodeHandlers(ctx), ...inventoryHandlers(ctx), ...hotplugHandlers(ctx, changes), ...clusterHandlers(ctx) },
    dispose: () => {
      unsubscribe();
      stopWatch();
    },
  };
}
