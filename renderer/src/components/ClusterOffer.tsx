// Adding a cluster by adding one node: once a node turns out to be in a
// Ganeti cluster, its other nodes are offered with the same settings (user,
// key, route), each listed with its address, port, group, role and the host
// key the cluster's known_hosts lists for it. Adding only adds: every node's
// host key is still the user's to trust, through the usual dialog and
// gesture, reachable from its row here.
import { useMemo, useState } from "react";
import type { ClusterCandidate, ClusterView, NodeView } from "../../../shared/ipc/contract";
import { useApi } from "../state/api-context";
import { useAction } from "../state/use-action";
import { addableNames, clusterPeers, settingsSummary } from "../lib/cluster-offer";
import { HostKeyDialog, NodeStateBadge } from "./Nodes";
import { RoleBadge } from "./ClusterTree";

function ExpectedKeyCell({ candidate, node }: { candidate: ClusterCandidate | undefined; node: NodeView | undefined }) {
  const expected = node?.status.hostKey?.expected ?? candidate?.expectedHostKey ?? node?.config.expectedHostKey;
  if (!expected) return <span className="muted">none listed</span>;
  return (
    <span title={expected.source}>
      {expected.keyType} <code className="fingerprint">{expected.fingerprint}</code>
    </span>
  );
}

export function ClusterOffer(props: { view: ClusterView; self: NodeView; nodes: readonly NodeView[]; now: number; onAdded: () => void }) {
  const api = useApi();
  const { view, self } = props;
  const peers = useMemo(() => clusterPeers(view, self.config.id, props.nodes), [view, self.config.id, props.nodes]);
  const addable = addableNames(peers);
  const [unticked, setUnticked] = useState<ReadonlySet<string>>(() => new Set());
  const [result, setResult] = useState<{ added: string[]; refused: { name: string; reason: string }[] } | null>(null);
  const [reviewing, setReviewing] = useState<string | null>(null);
  const { pending, error, run } = useAction();
  const chosen = addable.filter((n) => !unticked.has(n));
  const c = view.cluster;
  const others = peers.length;
  const pendingTrust = peers.filter((p) => p.app && p.app.status.state !== "ready").length;
  if (others === 0) return null;
  if (addable.length === 0 && pendingTrust === 0) {
    return (
      <p className="cluster-line muted" data-testid="cluster-line">
        In Ganeti cluster {c.name} (master {c.master}); all {others} other node{others === 1 ? " is" : "s are"} among the app's nodes.
      </p>
    );
  }
  const reviewNode = reviewing ? props.nodes.find((n) => n.config.id === reviewing) : undefined;

  const add = () =>
    run(async () => {
      const r = await api.call("cluster.addNodes", { nodeId: self.config.id, names: chosen });
      setResult({ added: r.added.map((n) => n.config.name), refused: r.refused });
      props.onAdded();
    });

  return (
    <section className="cluster-offer" aria-labelledby={`offer-${self.config.id}`} data-testid="cluster-offer">
      <h3 id={`offer-${self.config.id}`}>
        This node is in cluster {c.name} with {others} other node{others === 1 ? "" : "s"}
        {addable.length > 0 ? ": add them with the same settings" : ""}
      </h3>
      <p className="small">
        {settingsSummary(self)} Each node's host key is still checked: when it first connects you compare the key it presents with the one the cluster's{" "}
        <code>known_hosts</code> lists (shown here), and trusting it stays your act.
      </p>
      <table className="offer-table">
        <caption className="sr-only">Nodes of cluster {c.name}</caption>
        <thead>
          <tr>
            <th scope="col">Add</th>
            <th scope="col">Node</th>
            <th scope="col">Address</th>
            <th scope="col">Group</th>
            <th scope="col">Role</th>
            <th scope="col">Host key the cluster lists</th>
            <th scope="col">In the app</th>
          </tr>
        </thead>
        <tbody>
          {peers.map(({ node, candidate, app }) => (
            <tr key={node.name} data-node={node.name}>
              <td>
                {candidate && !app ? (
                  <input
                    type="checkbox"
                    aria-label={`Add ${node.name}`}
                    checked={!candidate.blocked && !unticked.has(node.name)}
                    disabled={candidate.blocked !== undefined || pending}
                    title={candidate.blocked}
                    onChange={(e) =>
                      setUnticked((old) => {
                        const next = new Set(old);
                        if (e.target.checked) next.delete(node.name);
                        else next.add(node.name);
                        return next;
                      })
                    }
                  />
                ) : null}
              </td>
              <th scope="row" className="mono">
                {node.name}
              </th>
              <td className="mono">
                {node.address}:{node.sshPort}
              </td>
              <td>{node.group ?? "unknown"}</td>
              <td>
                <RoleBadge node={node} />
                {candidate?.blocked ? <div className="small muted">{candidate.blocked}</div> : null}
              </td>
              <td>
                <ExpectedKeyCell candidate={candidate} node={app} />
              </td>
              <td>
                <PeerState app={app} now={props.now} onReview={() => app && setReviewing(app.config.id)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {addable.length > 0 ? (
        <div className="form-actions">
          <button type="button" className="primary" disabled={pending || chosen.length === 0} onClick={() => void add()}>
            {pending ? "Adding…" : `Add ${chosen.length} node${chosen.length === 1 ? "" : "s"} with these settings`}
          </button>
        </div>
      ) : null}
      {result ? (
        <div className={result.refused.length > 0 ? "banner warn small" : "banner info small"} role="status">
          {result.added.length > 0 ? `Added ${result.added.join(", ")}: each connects now; a host key the app does not know yet waits for you (Review host key… beside it).` : "Nothing was added."}
          {result.refused.map((r) => (
            <div key={r.name}>
              Not added: {r.name}: {r.reason}
            </div>
          ))}
        </div>
      ) : null}
      {error ? (
        <div className="banner bad small" role="alert">
          {error}
        </div>
      ) : null}
      {reviewNode ? <HostKeyDialog node={reviewNode} onClose={() => setReviewing(null)} /> : null}
    </section>
  );
}

function PeerState({ app, now, onReview }: { app: NodeView | undefined; now: number; onReview: () => void }) {
  if (!app) return <span className="muted">not added</span>;
  return (
    <span className="peer-state">
      <NodeStateBadge status={app.status} now={now} />
      {app.status.hostKey ? (
        <button type="button" className={app.status.hostKey.verdict === "unknown" ? "primary small-button" : "small-button"} onClick={onReview}>
          {app.status.hostKey.verdict === "unknown" ? "Review host key…" : "Why was it refused?"}
        </button>
      ) : null}
    </span>
  );
}

/**
 * On "all instances": a line per cluster with nodes the app does not have
 * yet, leading to the offer, and what could not be read of each cluster.
 */
export function ClusterHints(props: { views: readonly ClusterView[]; onReview: (viaNodeId: string) => void }) {
  const hints = props.views.flatMap((v) => {
    const names = v.candidates.filter((c) => !c.blocked).map((c) => c.name);
    return names.length > 0 ? [{ v, names }] : [];
  });
  const notes = props.views.flatMap((v) => v.notes.map((n) => `Cluster ${v.cluster.name}: ${n}`));
  return (
    <>
      {notes.length > 0 ? (
        <div className="banner warn small" role="status" data-testid="cluster-notes">
          {notes.map((n) => (
            <div key={n}>{n}</div>
          ))}
        </div>
      ) : null}
      {hints.length > 0 ? <CandidateLines hints={hints} onReview={props.onReview} /> : null}
    </>
  );
}

function CandidateLines(props: { hints: { v: ClusterView; names: string[] }[]; onReview: (viaNodeId: string) => void }) {
  const { hints } = props;
  return (
    <div className="banner info small" role="status">
      {hints.map(({ v, names }) => (
        <div key={v.cluster.name}>
          Cluster {v.cluster.name} has {names.length} node{names.length === 1 ? "" : "s"} the app does not have yet ({names.join(", ")}).{" "}
          <button type="button" className="link" onClick={() => props.onReview(v.via)}>
            Add {names.length === 1 ? "it" : "them"}…
          </button>
        </div>
      ))}
    </div>
  );
}
