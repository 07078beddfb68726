// What the "add the cluster's other nodes" offer shows: every other node of
// the cluster with what the app knows of it (a candidate it could add, or
// one of its own nodes), and the settings the new nodes would get. Pure.
import type { ClusterCandidate, ClusterNodeView, ClusterView, NodeView } from "../../../shared/ipc/contract";

export interface ClusterPeer {
  node: ClusterNodeView;
  /** Set when the app could add it (with the settings it would get). */
  candidate?: ClusterCandidate;
  /** The app's node for it, when it has one (matched by id, or by address while the view is older than the add). */
  app?: NodeView;
}

/** The cluster's nodes other than `selfId`'s, in the cluster's order. */
export function clusterPeers(view: ClusterView, selfId: string, nodes: readonly NodeView[]): ClusterPeer[] {
  const self = nodes.find((n) => n.config.id === selfId);
  const isSelf = (n: ClusterNodeView) => n.appNodeId === selfId || (n.appNodeId === null && self !== undefined && (n.address === self.config.host || n.name === self.config.host));
  return view.nodes
    .filter((n) => !isSelf(n))
    .map((n) => {
      const app = nodes.find((a) => (n.appNodeId !== null && a.config.id === n.appNodeId) || a.config.host === n.address || a.config.host === n.name);
      const candidate = view.candidates.find((c) => c.name === n.name);
      return { node: n, ...(candidate ? { candidate } : {}), ...(app ? { app } : {}) };
    });
}

/** The names the app can add now: candidates it does not have, not offline. */
export function addableNames(peers: readonly ClusterPeer[]): string[] {
  return peers.filter((p) => p.candidate && !p.candidate.blocked && !p.app).map((p) => p.node.name);
}

/** What "the same settings" are, in one sentence. */
export function settingsSummary(self: NodeView): string {
  const c = self.config;
  const auth = c.auth.kind === "agent" ? "ssh-agent" : `the key file ${c.auth.keyPath}`;
  const route = c.proxyJump ? `, through the jump host ${c.proxyJump}` : c.proxyCommand ? `, through the ProxyCommand ${c.proxyCommand} (%h becomes each node's address)` : "";
  return `They get ${c.name}'s settings: user ${c.user}, ${auth}, root ${c.root}${route}; the address and SSH port Ganeti lists for each.`;
}
