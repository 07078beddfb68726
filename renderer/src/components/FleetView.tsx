// All instances (of one node or every node): search, filters (state, and
// devices three ways where a node is in a Ganeti cluster), and either the
// cluster tree or one windowed table, so hundreds of rows stay cheap.
import { memo, useCallback, useMemo, useState } from "react";
import type { InstanceSummary } from "../../../shared/inventory/view";
import type { ClusterView } from "../../../shared/ipc/contract";
import { filterFleet, instanceKey, visibleWindow, type StateFilter } from "../lib/fleet";
import { filterCounts, instanceShown, treeInstances, treeRows, type TreeInput, type TreeInstance, type TreeQuery } from "../lib/cluster-tree";
import { filterOptionText, summaryMatches, type DeviceFilter } from "../lib/three-way";
import { ClusterTree } from "./ClusterTree";
import { useViewport } from "../state/use-viewport";

export const ROW_HEIGHT = 34;

const STATE_ICON: Record<InstanceSummary["state"], string> = {
  running: "▶",
  paused: "❚❚",
  stopped: "■",
  "user-shutdown": "⏻",
  busy: "⧗",
  unreachable: "✕",
};

/** Counts renders, for the render-cost unit test. */
export const renderStats = { rows: 0 };

export const InstanceRow = memo(function InstanceRow(props: { s: InstanceSummary; nodeName: string; onOpen: (s: InstanceSummary) => void; top: number }) {
  renderStats.rows++;
  const { s } = props;
  return (
    <div className="fleet-row" role="row" style={{ transform: `translateY(${props.top}px)` }} data-instance={s.name}>
      <span role="cell" className="c-name">
        <button type="button" className="link" onClick={() => props.onOpen(s)} title={s.runtimeError ?? s.stateDetail}>
          {s.name}
        </button>
      </span>
      <span role="cell" className="c-node">
        {props.nodeName}
      </span>
      <span role="cell" className={`c-state st-${s.state}`} title={s.stateDetail}>
        <span aria-hidden="true">{STATE_ICON[s.state]}</span> {s.state}
      </span>
      <span role="cell" className="c-gen">
        {s.generation ?? "?"}
      </span>
      <span role="cell" className="c-qemu">
        {s.qemuVersion ?? "—"}
      </span>
      <span role="cell" className="c-num">
        {s.nics}
      </span>
      <span role="cell" className="c-num">
        {s.disks}
      </span>
      <span role="cell" className={s.driftCount > 0 || s.runtimeError ? "c-drift warn" : "c-drift"}>
        {s.runtimeError ? (
          <span title={s.runtimeError}>⚠ file error</span>
        ) : s.driftCount > 0 ? (
          <span>
            <span aria-hidden="true">⚠</span> {s.driftCount}
          </span>
        ) : (
          "—"
        )}
      </span>
    </div>
  );
});

export function FleetTable(props: {
  list: InstanceSummary[];
  nodeNames: Map<string, string>;
  onOpen: (s: InstanceSummary) => void;
  /** Only for tests without layout: the viewport height to assume. */
  initialHeight?: number;
}) {
  const { scroller, scrollTop, setScrollTop, height } = useViewport(props.initialHeight);

  const { start, end } = visibleWindow(scrollTop, height, ROW_HEIGHT, props.list.length);
  const rows = props.list.slice(start, end);
  return (
    <div className="fleet-table" role="table" aria-label="Instances" aria-rowcount={props.list.length + 1}>
      <div className="fleet-row head" role="row">
        <span role="columnheader" className="c-name">
          Instance
        </span>
        <span role="columnheader" className="c-node">
          Node
        </span>
        <span role="columnheader" className="c-state">
          State
        </span>
        <span role="columnheader" className="c-gen" title="Runtime file generation">
          Gen
        </span>
        <span role="columnheader" className="c-qemu">
          QEMU
        </span>
        <span role="columnheader" className="c-num">
          NICs
        </span>
        <span role="columnheader" className="c-num">
          Disks
        </span>
        <span role="columnheader" className="c-drift">
          Drift
        </span>
      </div>
      <div className="fleet-scroll" ref={scroller} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} role="rowgroup">
        <div className="fleet-spacer" style={{ height: props.list.length * ROW_HEIGHT }}>
          {rows.map((s, i) => (
            <InstanceRow key={instanceKey(s)} s={s} nodeName={props.nodeNames.get(s.node) ?? s.node} onOpen={props.onOpen} top={(start + i) * ROW_HEIGHT} />
          ))}
        </div>
      </div>
    </div>
  );
}

/** Where the fleet's instances come from: the inventory's summaries and, for nodes in a Ganeti cluster, the clusters' views. */
export interface FleetSource {
  list: InstanceSummary[] | null;
  error: string | null;
  loading: boolean;
  clusters: ClusterView[];
  /** The app's nodes in no known cluster (shown beside the clusters in the tree). */
  others: { id: string; name: string }[];
}

export function FleetView(props: {
  source: FleetSource;
  nodeId: string | null;
  nodeNames: Map<string, string>;
  onOpen: (s: { node: string; name: string }) => void;
}) {
  const { list, clusters } = props.source;
  const [text, setText] = useState("");
  const [state, setState] = useState<StateFilter>("all");
  const [device, setDevice] = useState<DeviceFilter>("any");
  const [layout, setLayout] = useState<"tree" | "list">("tree");
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => new Set());
  // The tree is the fleet of every node; one node's instances (or a fleet without a cluster) stay the flat list.
  const canTree = props.nodeId === null && clusters.length > 0;
  const tree = canTree && layout === "tree";
  const input: TreeInput = useMemo(() => ({ clusters, others: props.source.others, summaries: list ?? [] }), [clusters, props.source.others, list]);
  const query: TreeQuery = useMemo(() => ({ text, state, device }), [text, state, device]);
  // Every instance of the view, once, for totals and the device filter's counts.
  const universe = useMemo(
    () => (tree ? treeInstances(input) : (list ?? []).filter((s) => props.nodeId === null || s.node === props.nodeId).map((s) => ({ name: s.name, nodeId: s.node, summary: s }))),
    [tree, input, list, props.nodeId],
  );
  // Ganeti's view of devices exists only for nodes in a cluster: elsewhere the device filter says nothing.
  const threeWay = clusters.length > 0 || (list ?? []).some((s) => s.cluster !== undefined);
  const counts = useMemo(() => (threeWay ? filterCounts(universe) : []), [threeWay, universe]);
  const shownFlat = useMemo(
    () => (tree ? [] : filterFleet(list ?? [], { text, state, nodeId: props.nodeId }).filter((s) => device === "any" || summaryMatches(device, s) > 0)),
    [tree, list, text, state, device, props.nodeId],
  );
  const rows = useMemo(() => (tree ? treeRows(input, query, collapsed) : []), [tree, input, query, collapsed]);
  const shownCount = useMemo(() => (tree ? universe.filter((i) => instanceShown(i, query)).length : shownFlat.length), [tree, universe, query, shownFlat]);
  const total = universe.length;
  const toggle = useCallback(
    (key: string) =>
      setCollapsed((old) => {
        const next = new Set(old);
        if (!next.delete(key)) next.add(key);
        return next;
      }),
    [],
  );
  const { onOpen } = props;
  const openTree = useCallback((i: TreeInstance) => (i.nodeId ? onOpen({ node: i.nodeId, name: i.name }) : undefined), [onOpen]);

  return (
    <section className="fleet" aria-label="Instances">
      <div className="toolbar">
        {canTree ? (
          <div className="segmented" role="group" aria-label="Show the fleet as">
            <button type="button" aria-pressed={layout === "tree"} onClick={() => setLayout("tree")}>
              Clusters
            </button>
            <button type="button" aria-pressed={layout === "list"} onClick={() => setLayout("list")}>
              Flat list
            </button>
          </div>
        ) : null}
        <input type="search" aria-label="Search instances" placeholder="Search name, node, QEMU version…" value={text} onChange={(e) => setText(e.target.value)} />
        <label>
          Show{" "}
          <select value={state} onChange={(e) => setState(e.target.value as StateFilter)} aria-label="Filter by state">
            <option value="all">all instances</option>
            <option value="running">running or paused</option>
            <option value="not-running">not running</option>
            <option value="drift">with drift</option>
            <option value="problems">with problems</option>
          </select>
        </label>
        {threeWay ? (
          <label>
            with devices{" "}
            <select value={device} onChange={(e) => setDevice(e.target.value as DeviceFilter)} aria-label="Filter by devices three ways" data-testid="device-filter">
              <option value="any">of any kind</option>
              {counts.map((c) => (
                <option key={c.key} value={c.key}>
                  {filterOptionText(c)}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <span className="muted" role="status">
          {props.source.loading && !list ? "Loading…" : `${shownCount} of ${total} instance${total === 1 ? "" : "s"}`}
        </span>
      </div>
      {props.source.error ? (
        <div className="banner bad" role="alert">
          Could not list instances: {props.source.error}
        </div>
      ) : null}
      {tree ? (
        <ClusterTree rows={rows} onToggle={toggle} onOpen={openTree} />
      ) : list && shownFlat.length === 0 ? (
        <p className="empty-note">{total === 0 ? "No instances on this node yet (or it is not connected)." : "No instance matches the search."}</p>
      ) : (
        <FleetTable list={shownFlat} nodeNames={props.nodeNames} onOpen={onOpen} />
      )}
    </section>
  );
}
