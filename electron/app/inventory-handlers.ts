// inventory.list, instance.get, runtime.get: what the nodes hold, read on demand.
import { summarize } from "../../shared/inventory/view.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { gatherInstance, loadNodeInventory } from "../inventory/node-inventory.js";
import type { Handlers } from "./dispatch.js";
import type { NodeSession } from "../ssh/session.js";
import type { ServiceContext } from "./service-context.js";

export function inventoryHandlers(ctx: ServiceContext): Pick<Handlers, "inventory.list" | "instance.get" | "runtime.get"> {
  const { nodes } = ctx.deps;
  // The node's Ganeti facts (version, each instance's configuration) are read beside the instances; a node whose
  // Ganeti files cannot be read is shown as before, by its settings.
  const ganeti = (nodeId: string, session: NodeSession) => ctx.clusters.inventoryContext(nodeId, session).catch(() => undefined);
  const gather = async (nodeId: string, instance: string) => {
    const node = ctx.nodeConfig(nodeId);
    const session = await nodes.session(nodeId);
    return { node, g: await gatherInstance(session, instance, { nodeId, root: node.root, ganetiVersion: node.ganetiVersion, ganeti: ganeti(nodeId, session) }) };
  };
  return {
    "inventory.list": async ({ nodeId }) => {
      const targets = nodes.list().filter((n) => nodeId === undefined || n.id === nodeId);
      // Nodes in parallel; a node that is not ready contributes nothing rather than failing the list.
      const perNode = await Promise.all(
        targets.map(async (node) => {
          if (nodes.status(node.id)?.state !== "ready") return [];
          const session = await nodes.session(node.id, 5000);
          const views = await loadNodeInventory(session, { nodeId: node.id, root: node.root, ganetiVersion: node.ganetiVersion, ganeti: ganeti(node.id, session) });
          return views.map(summarize);
        }),
      );
      return perNode.flat();
    },

    "instance.get": async ({ nodeId, instance }) => (await gather(nodeId, instance)).g.view,

    "runtime.get": async ({ nodeId, instance }) => {
      const { node, g } = await gather(nodeId, instance);
      return {
        nodeId,
        instance,
        path: instancePaths(node.root, instance).runtime,
        text: g.facts.runtimeText ?? "",
        ...(g.view.generation ? { generation: g.view.generation } : {}),
        notes: g.view.notes,
        ...(g.view.runtimeError ? { error: g.view.runtimeError } : {}),
      };
    },
  };
}
