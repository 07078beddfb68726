// cluster.*: the Ganeti clusters the app's nodes belong to, read from the
// nodes (electron/cluster), and adding a cluster's other nodes with the
// credentials of the node it was found through. Host keys stay the user's
// to trust: an added node connects, and an unknown key waits for the trust
// gesture, shown beside the key the cluster's known_hosts lists.
import type { Handlers } from "./dispatch.js";
import type { ServiceContext } from "./service-context.js";

type ClusterChannel = Extract<keyof Handlers, `cluster.${string}`>;

export function clusterHandlers(ctx: ServiceContext): Pick<Handlers, ClusterChannel> {
  const { deps, clusters, nodeConfig, nodeView, log } = ctx;
  return {
    "cluster.list": async () => clusters.list(),

    "cluster.discover": async ({ nodeId }) => {
      nodeConfig(nodeId);
      return clusters.discover(nodeId);
    },

    "cluster.addNodes": async ({ nodeId, names }) => {
      const from = nodeConfig(nodeId);
      const { settings, refused } = await clusters.settingsFor(nodeId, names);
      const added = [];
      for (const s of settings) {
        try {
          const config = await deps.nodes.add(s);
          void deps.nodes.connect(config.id).catch(() => {});
          await log({ nodeId: config.id, summary: `Added node ${config.name} (${config.user}@${config.host}:${config.port}) from the Ganeti cluster of ${from.name}, with its credentials`, outcome: "info" });
          added.push(nodeView(config.id));
        } catch (err) {
          refused.push({ name: String(s.name), reason: err instanceof Error ? err.message : String(err) });
        }
      }
      return { added, refused };
    },
  };
}
