// Changes made outside the app (a guest powering off, Ganeti rewriting a
// runtime file, a device leaving the bus) reach the UI through this watch:
// ready nodes are re-read every so often and what changed is streamed as
// events and activity. A node with a change of ours in flight is left alone.
import { comparableOf, diffInventory } from "../../shared/inventory/diff.js";
import { loadNodeInventory } from "../inventory/node-inventory.js";
import type { ServiceContext } from "./service-context.js";

export function watchForChanges(ctx: ServiceContext, opts: { intervalMs: number; changing: (nodeId: string) => boolean }): () => void {
  const { nodes, bus } = ctx.deps;
  const seen = new Map<string, ReturnType<typeof comparableOf>[]>();
  let watching = false;
  const watchOnce = async () => {
    if (watching) return;
    watching = true;
    try {
      for (const node of nodes.list()) {
        if (nodes.status(node.id)?.state !== "ready" || opts.changing(node.id)) continue;
        try {
          const session = await nodes.session(node.id, 2000);
          const now = (await loadNodeInventory(session, { nodeId: node.id, root: node.root, ganetiVersion: node.ganetiVersion })).map(comparableOf);
          const before = seen.get(node.id);
          seen.set(node.id, now);
          if (!before || opts.changing(node.id)) continue;
          for (const change of diffInventory(before, now)) {
            bus.emit("inventory.changed", { nodeId: node.id, instance: change.instance });
            await ctx.log({ nodeId: node.id, instance: change.instance, summary: change.summary, outcome: "info" });
          }
        } catch {
          // A node that cannot be read now shows that in its own status.
        }
      }
    } finally {
      watching = false;
    }
  };
  const timer = opts.intervalMs > 0 ? setInterval(() => void watchOnce(), opts.intervalMs) : undefined;
  timer?.unref();
  return () => {
    if (timer) clearInterval(timer);
  };
}
