// The shell: header, node sidebar, and the main area (fleet, one instance,
// the overall activity log, or the empty state when there are no nodes).
import { useCallback, useEffect, useMemo, useState } from "react";
import { useApi } from "./state/api-context";
import { useAppInfo, useClusters, useConnectionStatus, useInventory, useNodes, useNow } from "./state/hooks";
import { errorMessage } from "./lib/format";
import { AddNodeForm } from "./components/AddNodeForm";
import { Dialog } from "./components/Dialog";
import { FleetView, type FleetSource } from "./components/FleetView";
import { ClusterHints, ClusterOffer } from "./components/ClusterOffer";
import { NodeList, NodePanel } from "./components/Nodes";
import { InstancePage } from "./components/InstancePage";
import { ActivityLog } from "./components/Activity";

type View = { kind: "fleet" } | { kind: "activity" } | { kind: "instance"; nodeId: string; name: string };

export function App() {
  const api = useApi();
  const info = useAppInfo();
  const nodes = useNodes();
  const inventory = useInventory(nodes.data);
  const clusters = useClusters(nodes.data);
  const connection = useConnectionStatus();
  const [view, setView] = useState<View>({ kind: "fleet" });
  const [nodeFilter, setNodeFilter] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [labBusy, setLabBusy] = useState<false | "node" | "ganeti">(false);
  const [labError, setLabError] = useState<string | null>(null);

  const anyBackingOff = nodes.data?.some((n) => n.status.state === "backing-off") ?? false;
  const now = useNow(anyBackingOff);

  // After the host connection comes back, everything may be stale.
  const [wasLost, setWasLost] = useState(false);
  const { refresh: refreshNodes } = nodes;
  const { refresh: refreshInventory } = inventory;
  const { refresh: refreshClusters } = clusters;
  useEffect(() => {
    if (!connection) return;
    if (connection.state === "reconnecting") setWasLost(true);
    if (connection.state === "open" && wasLost) {
      setWasLost(false);
      refreshNodes();
      refreshInventory();
      refreshClusters();
    }
  }, [connection, wasLost, refreshNodes, refreshInventory, refreshClusters]);

  const nodeNames = useMemo(() => new Map((nodes.data ?? []).map((n) => [n.config.id, n.config.name])), [nodes.data]);
  const counts = useMemo(() => {
    const m = new Map<string, number>();
    for (const s of inventory.data ?? []) m.set(s.node, (m.get(s.node) ?? 0) + 1);
    return m;
  }, [inventory.data]);
  const openInstance = useCallback((s: { node: string; name: string }) => setView({ kind: "instance", nodeId: s.node, name: s.name }), []);
  const views = useMemo(() => clusters.data?.views ?? [], [clusters.data]);
  // The app's nodes in no cluster it knows (standalone, or not connected yet).
  const others = useMemo(() => {
    const inCluster = new Set(views.flatMap((v) => v.nodes.flatMap((n) => (n.appNodeId ? [n.appNodeId] : []))));
    return (nodes.data ?? []).filter((n) => !inCluster.has(n.config.id)).map((n) => ({ id: n.config.id, name: n.config.name }));
  }, [views, nodes.data]);
  const fleet: FleetSource = useMemo(
    () => ({ list: inventory.data, error: inventory.error, loading: inventory.loading, clusters: views, others }),
    [inventory.data, inventory.error, inventory.loading, views, others],
  );

  const startLab = async (kind: "node" | "ganeti") => {
    setLabBusy(kind);
    setLabError(null);
    try {
      const n = await api.call("lab.start", { kind });
      nodes.refresh();
      inventory.refresh();
      setNodeFilter(n.config.id);
    } catch (err) {
      setLabError(errorMessage(err));
    } finally {
      setLabBusy(false);
    }
  };

  const selectedNode = nodes.data?.find((n) => n.config.id === nodeFilter) ?? null;
  const selectedCluster = selectedNode ? views.find((v) => v.nodes.some((n) => n.appNodeId === selectedNode.config.id)) : undefined;
  const noNodes = nodes.data !== null && nodes.data.length === 0;

  return (
    <div className="app">
      <header className="app-header">
        <h1>
          <span className="logo" aria-hidden="true">
            ▦
          </span>{" "}
          Hotplug Desk
        </h1>
        <nav className="crumbs" aria-label="Where you are">
          {view.kind === "instance" ? (
            <>
              <button type="button" className="link" onClick={() => setView({ kind: "fleet" })}>
                Instances
              </button>{" "}
              › {nodeNames.get(view.nodeId) ?? view.nodeId} › <strong>{view.name}</strong>
            </>
          ) : view.kind === "activity" ? (
            <span>Activity</span>
          ) : (
            <span>{selectedNode ? `Instances on ${selectedNode.config.name}` : "All instances"}</span>
          )}
        </nav>
        <span className="spacer" />
        {connection && connection.state !== "open" ? (
          <span className="badge tone-warn" role="status">
            {connection.state === "connecting" ? "connecting to host…" : "host connection lost"}
          </span>
        ) : null}
        <span className="muted small">
          {info.data ? `v${info.data.version} · ${info.data.transport === "web" ? "browser" : "desktop"}` : ""}
        </span>
      </header>
      {connection && connection.state === "reconnecting" && connection.detail ? (
        <div className="banner warn top" role="alert">
          {connection.detail}
        </div>
      ) : null}
      <div className="app-body">
        <nav className="sidebar" aria-label="Sidebar">
          <button type="button" className={view.kind === "fleet" && nodeFilter === null ? "nav-item selected" : "nav-item"} onClick={() => (setNodeFilter(null), setView({ kind: "fleet" }))}>
            All instances <span className="count">{inventory.data?.length ?? ""}</span>
          </button>
          <button type="button" className={view.kind === "activity" ? "nav-item selected" : "nav-item"} onClick={() => setView({ kind: "activity" })}>
            Activity
          </button>
          <div className="sidebar-head">
            <h2>Nodes</h2>
            <button type="button" className="small-button" onClick={() => setAdding(true)} aria-label="Add node">
              + Add
            </button>
          </div>
          {nodes.error ? <div className="banner bad small">{nodes.error}</div> : null}
          <NodeList
            nodes={nodes.data ?? []}
            counts={counts}
            selected={view.kind === "fleet" ? nodeFilter : view.kind === "instance" ? view.nodeId : null}
            onSelect={(id) => {
              setNodeFilter(id);
              setView({ kind: "fleet" });
            }}
            now={now}
          />
        </nav>
        <main className="main">
          {noNodes ? (
            <EmptyState
              labAvailable={info.data?.labAvailable ?? false}
              labRunning={info.data?.labRunning ?? false}
              ganetiLab={info.data?.ganetiLab}
              onAdd={() => setAdding(true)}
              onLab={startLab}
              labBusy={labBusy}
              labError={labError}
            />
          ) : view.kind === "instance" ? (
            <InstancePage key={`${view.nodeId}/${view.name}`} nodeId={view.nodeId} name={view.name} nodeName={nodeNames.get(view.nodeId) ?? view.nodeId} nodeNames={nodeNames} onBack={() => setView({ kind: "fleet" })} />
          ) : view.kind === "activity" ? (
            <section className="page" aria-label="Activity">
              <h2 className="page-title">Activity on all nodes</h2>
              <ActivityLog nodeNames={nodeNames} />
            </section>
          ) : (
            <>
              {selectedNode ? (
                <NodePanel node={selectedNode} now={now} onRemoved={() => (setNodeFilter(null), nodes.refresh(), inventory.refresh(), clusters.refresh())} onChanged={() => nodes.refresh()} />
              ) : (
                <>
                  <NodeProblems nodes={nodes.data ?? []} onPick={setNodeFilter} />
                  <ClusterHints views={views} onReview={setNodeFilter} />
                  {clusters.data?.problems.map((p) => (
                    <div key={p.cluster} className="banner warn small" role="status">
                      Cluster {p.cluster} could not be read: {p.error}
                    </div>
                  ))}
                </>
              )}
              {selectedNode && selectedCluster && selectedNode.status.state === "ready" ? (
                <ClusterOffer view={selectedCluster} self={selectedNode} nodes={nodes.data ?? []} now={now} onAdded={() => (nodes.refresh(), clusters.refresh())} />
              ) : null}
              <FleetView source={fleet} nodeId={nodeFilter} nodeNames={nodeNames} onOpen={openInstance} />
            </>
          )}
        </main>
      </div>
      {adding ? (
        <Dialog title="Add a node" onClose={() => setAdding(false)} testId="add-node-dialog">
          <AddNodeForm
            onCancel={() => setAdding(false)}
            onAdded={(n) => {
              setAdding(false);
              nodes.refresh();
              inventory.refresh();
              setNodeFilter(n.config.id);
              setView({ kind: "fleet" });
            }}
          />
        </Dialog>
      ) : null}
    </div>
  );
}

/** On "all instances": one line per node that needs attention. */
function NodeProblems(props: { nodes: { config: { id: string; name: string }; status: { state: string; detail?: string; hostKey?: unknown } }[]; onPick: (id: string) => void }) {
  const bad = props.nodes.filter((n) => n.status.state === "failed" || n.status.state === "backing-off");
  if (bad.length === 0) return null;
  return (
    <div className="banner warn small" role="status">
      {bad.map((n) => (
        <div key={n.config.id}>
          <button type="button" className="link" onClick={() => props.onPick(n.config.id)}>
            {n.config.name}
          </button>
          : {n.status.hostKey ? "host key needs your decision. " : ""}
          {n.status.detail ?? n.status.state}
        </div>
      ))}
    </div>
  );
}

function EmptyState(props: {
  labAvailable: boolean;
  labRunning: boolean;
  ganetiLab: { available: boolean; running: boolean; reason?: string } | undefined;
  onAdd: () => void;
  onLab: (kind: "node" | "ganeti") => void;
  labBusy: false | "node" | "ganeti";
  labError: string | null;
}) {
  const ganeti = props.ganetiLab;
  return (
    <section className="empty-state" aria-label="No nodes yet">
      <div className="empty-art" aria-hidden="true">
        ▦
      </div>
      <h2>No nodes yet</h2>
      <p>Add a Ganeti node you can reach over SSH. Hotplug Desk reads its KVM runtime files and shows every instance's PCI and SCSI slots.</p>
      <div className="empty-actions">
        <button type="button" className="primary" onClick={props.onAdd}>
          Add a node
        </button>
        {props.labAvailable ? (
          <button type="button" onClick={() => props.onLab("node")} disabled={props.labBusy !== false || props.labRunning}>
            {props.labBusy === "node" ? "Starting the lab node… (about 10 s)" : "Start a local lab node"}
          </button>
        ) : null}
        {ganeti?.available ? (
          <button type="button" onClick={() => props.onLab("ganeti")} disabled={props.labBusy !== false || ganeti.running}>
            {props.labBusy === "ganeti" ? "Starting the Ganeti cluster… (about 20-40 s)" : "Start a local Ganeti cluster"}
          </button>
        ) : null}
      </div>
      {props.labAvailable ? <p className="muted small">The lab node runs sshd and QEMU instances on this machine, for trying things safely.</p> : null}
      {ganeti?.available ? (
        <p className="muted small">The Ganeti cluster is two real Ganeti 3.0.2 nodes in their own namespaces on this machine, with instances Ganeti started; the app reaches them through a ProxyCommand.</p>
      ) : ganeti?.reason ? (
        <p className="muted small">No local Ganeti cluster here: {ganeti.reason}</p>
      ) : null}
      {props.labError ? (
        <div className="banner bad" role="alert">
          Could not start the lab: {props.labError}
        </div>
      ) : null}
    </section>
  );
}
