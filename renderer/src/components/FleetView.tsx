// All instances (of one node or every node) in one list: search, filter,
// and a windowed table so hundreds of rows stay cheap to render.
import { memo, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { InstanceSummary } from "../../../shared/inventory/view";
import { filterFleet, instanceKey, visibleWindow, type FleetQuery, type StateFilter } from "../lib/fleet";

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
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(props.initialHeight ?? 600);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

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

export function FleetView(props: {
  list: InstanceSummary[] | null;
  error: string | null;
  loading: boolean;
  nodeId: string | null;
  nodeNames: Map<string, string>;
  onOpen: (s: InstanceSummary) => void;
}) {
  const [text, setText] = useState("");
  const [state, setState] = useState<StateFilter>("all");
  const query: FleetQuery = useMemo(() => ({ text, state, nodeId: props.nodeId }), [text, state, props.nodeId]);
  const shown = useMemo(() => filterFleet(props.list ?? [], query), [props.list, query]);
  const total = props.list?.filter((s) => props.nodeId === null || s.node === props.nodeId).length ?? 0;

  return (
    <section className="fleet" aria-label="Instances">
      <div className="toolbar">
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
        <span className="muted" role="status">
          {props.loading && !props.list ? "Loading…" : `${shown.length} of ${total} instance${total === 1 ? "" : "s"}`}
        </span>
      </div>
      {props.error ? (
        <div className="banner bad" role="alert">
          Could not list instances: {props.error}
        </div>
      ) : null}
      {props.list && shown.length === 0 ? (
        <p className="empty-note">{total === 0 ? "No instances on this node yet (or it is not connected)." : "No instance matches the search."}</p>
      ) : (
        <FleetTable list={shown} nodeNames={props.nodeNames} onOpen={props.onOpen} />
      )}
    </section>
  );
}
