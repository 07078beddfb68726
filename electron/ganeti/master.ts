// The one way to find a Ganeti cluster's master among the nodes the app is
// configured with, and to reach it: the node a change runs on names its
// master in its ssconf files (read and parsed as the cluster model reads
// them, shared/ganeti/ssconf.ts), and the master is whichever configured
// node the cluster model matches to that name (its name, short name or
// addresses) or that holds the cluster address. The app never guesses a way
// to a node it was not given: a master that is not configured is reported,
// with what to add.
import { SshConnectionLostError, type NodeSession } from "../ssh/session.js";
import { readSsconf } from "../cluster/ganeti-files.js";
import { SsconfError } from "../../shared/ganeti/ssconf.js";
import { buildClusterModel, findClusterNode, type ClusterModel } from "../../shared/ganeti/cluster.js";

/** A node the app is configured with, as the master search sees it. */
export interface RegistryNode {
  /** How the app names it (the node id, or the CLI's user@host:port). */
  id: string;
  /** Its display name (often the ssh config alias or the Ganeti name). */
  name?: string;
  host: string;
  /** Its connected session. */
  session: () => Promise<NodeSession>;
}

/** The cluster as the node's ssconf describes it (names and addresses; no configuration read). */
export type ClusterNames = Pick<ClusterModel, "name" | "master" | "masterIp" | "nodes">;

export type MasterReach =
  /** The node is not in a Ganeti cluster: there is no job queue to check. */
  | { kind: "not-ganeti" }
  | { kind: "reachable"; master: string; nodeId: string; session: NodeSession; cluster: ClusterNames }
  | { kind: "unreachable"; master: string; reason: string; cluster?: ClusterNames };

/** Whether a configured node is the cluster's master. */
function isMaster(n: RegistryNode, c: ClusterNames): boolean {
  const hosts = [n.host, ...(n.name ? [n.name] : [])];
  return hosts.some((h) => findClusterNode(c, h)?.name === c.master) || (c.masterIp !== undefined && n.host === c.masterIp);
}

/** Ganeti's name of the node reached as `host`, when the cluster's names tell. */
export function ganetiNameOf(c: ClusterNames, host: string): string | undefined {
  return findClusterNode(c, host)?.name;
}

/** The cluster `session`'s node belongs to, by its ssconf files; null off a cluster. Throws when the files cannot be read at all. */
async function clusterNames(session: NodeSession, root: string): Promise<ClusterNames | null | SsconfError> {
  // The read is often a change's first request on the connection: if the connection dies under it, say that.
  let closed = false;
  const onClose = () => (closed = true);
  session.client.once("close", onClose);
  try {
    const ssconf = await readSsconf(session, root);
    if (!ssconf) return null;
    return buildClusterModel(ssconf, { ssconfFrom: session.label, config: { data: null, why: "not read for the master search" }, knownHosts: [] });
  } catch (err) {
    // Files Ganeti did not write make the queue unaskable; a node that cannot be read at all fails the change.
    if (err instanceof SsconfError) return err;
    for (let i = 0; i < 10 && !closed; i++) await new Promise((r) => setTimeout(r, 50));
    throw closed ? new SshConnectionLostError(session.label, (err as Error).message) : err;
  } finally {
    session.client.off("close", onClose);
  }
}

/** The master of the cluster `session`'s node belongs to, connected through the registry; throws when the node's files cannot be read. */
export async function reachMaster(
  session: NodeSession,
  root: string,
  registry: readonly RegistryNode[],
  /** What to do when the master is not among `registry`, in words for people. */
  hint = "add it as a node, by that name or address, so its job queue can be checked.",
): Promise<MasterReach> {
  const cluster = await clusterNames(session, root);
  if (cluster === null) return { kind: "not-ganeti" };
  if (cluster instanceof SsconfError) return { kind: "unreachable", master: "?", reason: `The cluster's master could not be read on ${session.label}: ${cluster.message}` };
  const master = cluster.master;
  const node = registry.find((n) => isMaster(n, cluster));
  if (!node) {
    const ip = cluster.nodes.find((n) => n.name === master)?.address;
    return {
      kind: "unreachable",
      master,
      cluster,
      reason: `The master, ${master}${ip && ip !== master ? ` (${ip})` : ""}, is not among the nodes this change can reach: ${hint}`,
    };
  }
  try {
    return { kind: "reachable", master, nodeId: node.id, session: await node.session(), cluster };
  } catch (err) {
    return { kind: "unreachable", master, cluster, reason: `The master, ${master} (node ${node.id}), cannot be reached: ${(err as Error).message}` };
  }
}
