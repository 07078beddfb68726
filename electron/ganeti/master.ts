// Finding a Ganeti cluster's master among the nodes the app is configured
// with: the node a change runs on names its master (ssconf_master_node), and
// the master is whichever configured node has that name, its short name, its
// primary address or the cluster address. The app never guesses a way to a
// node it was not given: a master that is not configured is reported, with
// what to add.
import { SshConnectionLostError, type NodeSession } from "../ssh/session.js";
import { SsconfError, ganetiNameOf, readClusterPointers, type ClusterPointers } from "./ssconf.js";

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

export type MasterReach =
  /** The node is not in a Ganeti cluster: there is no job queue to check. */
  | { kind: "not-ganeti" }
  | { kind: "reachable"; master: string; nodeId: string; session: NodeSession; pointers: ClusterPointers }
  | { kind: "unreachable"; master: string; reason: string; pointers?: ClusterPointers };

/** Whether a configured node is the named master. */
function isMaster(n: RegistryNode, p: ClusterPointers): boolean {
  const masterIp = p.primaryIps.get(p.master);
  const hosts = [n.host, ...(n.name ? [n.name] : [])];
  return hosts.some((h) => ganetiNameOf(p, h) === p.master) || n.host === masterIp || (p.clusterIp !== undefined && n.host === p.clusterIp);
}

/** The master of the cluster `session`'s node belongs to, connected through the registry; throws when the node's files cannot be read. */
export async function reachMaster(
  session: NodeSession,
  root: string,
  registry: readonly RegistryNode[],
  /** What to do when the master is not among `registry`, in words for people. */
  hint = "add it as a node, by that name or address, so its job queue can be checked.",
): Promise<MasterReach> {
  let pointers: ClusterPointers | null;
  // The read is often a change's first request on the connection: if the connection dies under it, say that.
  let closed = false;
  const onClose = () => (closed = true);
  session.client.once("close", onClose);
  try {
    pointers = await readClusterPointers(session, root);
  } catch (err) {
    // Files Ganeti did not write make the queue unaskable; a node that cannot be read at all fails the change.
    if (err instanceof SsconfError) return { kind: "unreachable", master: "?", reason: `The cluster's master could not be read on ${session.label}: ${err.message}` };
    for (let i = 0; i < 10 && !closed; i++) await new Promise((r) => setTimeout(r, 50));
    throw closed ? new SshConnectionLostError(session.label, (err as Error).message) : err;
  } finally {
    session.client.off("close", onClose);
  }
  if (!pointers) return { kind: "not-ganeti" };
  const master = pointers.master;
  const node = registry.find((n) => isMaster(n, pointers));
  if (!node) {
    const ip = pointers.primaryIps.get(master);
    return {
      kind: "unreachable",
      master,
      pointers,
      reason: `The master, ${master}${ip ? ` (${ip})` : ""}, is not among the nodes this change can reach: ${hint}`,
    };
  }
  try {
    return { kind: "reachable", master, nodeId: node.id, session: await node.session(), pointers };
  } catch (err) {
    return { kind: "unreachable", master, pointers, reason: `The master, ${master} (node ${node.id}), cannot be reached: ${(err as Error).message}` };
  }
}
