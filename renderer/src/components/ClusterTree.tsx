// The fleet as a tree: cluster -> node group -> node -> instance (and the
// app's nodes in no known cluster). One windowed list of rows, so 500
// instances render as a screenful; keyboard navigation as the WAI-ARIA tree
// pattern has it (arrows, Home/End, Page keys, Enter opens an instance)
// with one focusable row at a time, kept rendered even when scrolled away.
import { memo, useCallback, useLayoutEffect, useRef, useState, type KeyboardEvent } from "react";
import type { ClusterNodeView } from "../../../shared/ipc/contract";
import { visibleWindow } from "../lib/fleet";
import { useViewport } from "../state/use-viewport";
import { disagreements, treeKeyAction, type TreeInstance, type TreeRow } from "../lib/cluster-tree";
import { versionSourceText } from "../lib/format";

export const TREE_ROW_HEIGHT = 34;

/** Counts renders, for the render-cost unit test. */
export const treeRenderStats = { rows: 0 };

const STATE_ICON: Record<string, string> = { running: "▶", paused: "❚❚", stopped: "■", "user-shutdown": "⏻", busy: "⧗", unreachable: "✕" };

const ROLE: Record<ClusterNodeView["role"], { icon: string; tone: string }> = {
  master: { icon: "★", tone: "tone-busy" },
  candidate: { icon: "◆", tone: "" },
  regular: { icon: "○", tone: "" },
  offline: { icon: "⊘", tone: "tone-bad" },
  drained: { icon: "◐", tone: "tone-warn" },
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function Toggle({ row, onToggle }: { row: TreeRow; onToggle: (key: string) => void }) {
  if (!row.expandable) return <span className="tree-toggle" aria-hidden="true" />;
  return (
    // The row itself is the keyboard's way (arrows); this is the pointer's.
    <span
      className="tree-toggle"
      aria-hidden="true"
      onClick={(e) => {
        e.stopPropagation();
        onToggle(row.item.key);
      }}
    >
      {row.expanded ? "▾" : "▸"}
    </span>
  );
}

/** A cluster node's role (master, candidate, regular, offline, drained): a glyph and the word. */
export function RoleBadge({ node }: { node: Pick<ClusterNodeView, "role" | "drained"> }) {
  const role = ROLE[node.role];
  return (
    <span className={`badge ${role.tone}`} data-role={node.role}>
      <span aria-hidden="true">{role.icon}</span> {node.role}
      {node.drained && node.role !== "drained" ? " · drained" : ""}
    </span>
  );
}

function NodeFacts({ node }: { node: ClusterNodeView }) {
  const v = node.version;
  return (
    <>
      <span className="t-addr mono">
        {node.address}:{node.sshPort}
      </span>
      <RoleBadge node={node} />
      <span className="t-version" title={v ? v.from : undefined} data-testid="node-version">
        {v ? `Ganeti ${v.version} (${versionSourceText(v.source)})` : node.appNodeId ? "Ganeti version not read yet" : "version not read: not one of the app's nodes"}
      </span>
      {v?.note ? (
        <span className="t-note warn" title={v.note}>
          <span aria-hidden="true">⚠</span> typed {v.version} overrides the node's {v.detected?.version ?? "?"}
        </span>
      ) : null}
      <span className="t-conn">{node.appNodeId === null ? "not added" : node.connection === "ready" ? "● connected" : (node.connection ?? "not connected")}</span>
    </>
  );
}

function InstanceFacts({ inst }: { inst: TreeInstance }) {
  const c = inst.cluster;
  const s = inst.summary;
  const state = s?.state ?? c?.state ?? null;
  const issues = c ? disagreements(c.devices) : [];
  return (
    <>
      <span className={state ? `t-state st-${state}` : "t-state muted"} title={s?.stateDetail ?? c?.stateNote}>
        {state ? (
          <>
            <span aria-hidden="true">{STATE_ICON[state]}</span> {state}
          </>
        ) : (
          "not read"
        )}
      </span>
      <span className="t-cap" data-testid="capacity">
        {c && c.freePciSlots !== null ? `PCI ${c.freePciSlots} free · SCSI ${c.freeScsiTargets ?? 0} free` : c ? "capacity not read" : s ? `${plural(s.nics, "NIC")} · ${plural(s.disks, "disk")}` : ""}
      </span>
      <span className="t-dev" data-testid="devices">
        {c ? plural(c.devices.length, "device") : ""}
        {issues.map((i) => (
          <span key={i.label}>
            {" · "}
            <span className="issue">
              <span aria-hidden="true">⚠</span> {i.count} {i.label}
            </span>
          </span>
        ))}
        {!c && s && s.driftCount > 0 ? (
          <span className="issue">
            <span aria-hidden="true">⚠</span> {s.driftCount} drift
          </span>
        ) : null}
        {!c && s && s.driftCount === 0 ? "no drift" : null}
      </span>
      <span className="t-extra muted">{c ? c.diskTemplate : s ? `gen ${s.generation ?? "?"}` : ""}</span>
    </>
  );
}

const TreeRowView = memo(function TreeRowView(props: {
  row: TreeRow;
  top: number;
  focusable: boolean;
  onToggle: (key: string) => void;
  onOpen: (inst: TreeInstance) => void;
  onFocusRow: (key: string) => void;
}) {
  treeRenderStats.rows++;
  const { row } = props;
  const it = row.item;
  const common = {
    role: "treeitem",
    "aria-level": row.level,
    "aria-posinset": row.posinset,
    "aria-setsize": row.setsize,
    ...(row.expandable ? { "aria-expanded": row.expanded } : {}),
    tabIndex: props.focusable ? 0 : -1,
    "data-key": it.key,
    style: { transform: `translateY(${props.top}px)`, paddingLeft: 8 + (row.level - 1) * 20 },
    onFocus: (e: React.FocusEvent) => {
      if (e.target === e.currentTarget) props.onFocusRow(it.key);
    },
    onClick: () => props.onFocusRow(it.key),
  };
  switch (it.kind) {
    case "cluster": {
      const c = it.view.cluster;
      return (
        <div {...common} className="tree-row k-cluster" data-cluster={c.name}>
          <Toggle row={row} onToggle={props.onToggle} />
          <span className="t-name">Cluster {c.name}</span>
          <span>
            master <span className="mono">{c.master}</span>
          </span>
          <span>{c.releaseVersion ? `Ganeti ${c.releaseVersion}` : "release version unknown"}</span>
          <span className="muted">
            {plural(it.view.nodes.length, "node")} · {plural(it.instances, "instance")}
            {c.sources.config.read ? "" : " · configuration not read"}
          </span>
        </div>
      );
    }
    case "group":
      return (
        <div {...common} className="tree-row k-group" data-group={it.name}>
          <Toggle row={row} onToggle={props.onToggle} />
          <span className="t-name">Node group {it.name}</span>
          <span className="muted">
            {plural(it.nodes, "node")} · {plural(it.instances, "instance")}
          </span>
        </div>
      );
    case "node":
      return (
        <div {...common} className={`tree-row k-node role-${it.node.role}`} data-node={it.node.name}>
          <Toggle row={row} onToggle={props.onToggle} />
          <span className="t-name mono">{it.node.name}</span>
          <NodeFacts node={it.node} />
          <span className="muted">{plural(it.node.instances.length, "instance")}</span>
        </div>
      );
    case "others":
      return (
        <div {...common} className="tree-row k-group">
          <Toggle row={row} onToggle={props.onToggle} />
          <span className="t-name">Nodes in no known Ganeti cluster</span>
          <span className="muted">{plural(it.nodes, "node")} (standalone, or not connected yet)</span>
        </div>
      );
    case "app-node":
      return (
        <div {...common} className="tree-row k-node" data-app-node={it.nodeId}>
          <Toggle row={row} onToggle={props.onToggle} />
          <span className="t-name">{it.name}</span>
          <span className="muted">{plural(it.instances, "instance")}</span>
        </div>
      );
    case "instance": {
      const inst = it.inst;
      return (
        <div {...common} className="tree-row fleet-row k-instance" data-instance={inst.name}>
          <span className="tree-toggle" aria-hidden="true" />
          <span className="t-name">
            {inst.nodeId ? (
              <button
                type="button"
                className="link"
                tabIndex={-1}
                onClick={(e) => {
                  e.stopPropagation();
                  props.onOpen(inst);
                }}
              >
                {inst.name}
              </button>
            ) : (
              <span title={inst.cluster?.stateNote}>{inst.name}</span>
            )}
          </span>
          <InstanceFacts inst={inst} />
        </div>
      );
    }
  }
});

export function ClusterTree(props: {
  rows: TreeRow[];
  onToggle: (key: string) => void;
  onOpen: (inst: TreeInstance) => void;
  /** Only for tests without layout: the viewport height to assume. */
  initialHeight?: number;
}) {
  const { rows } = props;
  const { scroller, scrollTop, setScrollTop, height } = useViewport(props.initialHeight);
  const [focusKey, setFocusKey] = useState<string | null>(null);
  // Set by a key press: move DOM focus to the new row once it is rendered.
  const moveFocus = useRef(false);

  const focusIndex = Math.max(
    0,
    rows.findIndex((r) => r.item.key === focusKey),
  );

  useLayoutEffect(() => {
    if (!moveFocus.current) return;
    moveFocus.current = false;
    const el = scroller.current?.querySelector<HTMLElement>(`[data-key="${CSS.escape(rows[focusIndex]?.item.key ?? "")}"]`);
    el?.focus({ preventScroll: true });
  });

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const action = treeKeyAction(rows, focusIndex, e.key, Math.max(1, Math.floor(height / TREE_ROW_HEIGHT) - 1));
    if (!action) return;
    e.preventDefault();
    if ("toggle" in action) props.onToggle(action.toggle);
    else if ("open" in action) props.onOpen(action.open);
    else {
      const key = rows[action.focus]!.item.key;
      // Scroll the row into view before it renders, so the window includes it.
      const el = scroller.current;
      if (el) {
        const top = action.focus * TREE_ROW_HEIGHT;
        if (top < el.scrollTop) el.scrollTop = top;
        else if (top + TREE_ROW_HEIGHT > el.scrollTop + el.clientHeight) el.scrollTop = top + TREE_ROW_HEIGHT - el.clientHeight;
        setScrollTop(el.scrollTop);
      }
      moveFocus.current = true;
      setFocusKey(key);
    }
  };

  const onFocusRow = useCallback((key: string) => setFocusKey(key), []);
  const { start, end } = visibleWindow(scrollTop, height, TREE_ROW_HEIGHT, rows.length);
  const shown: number[] = [];
  for (let i = start; i < end; i++) shown.push(i);
  // The focusable row stays in the DOM when scrolled away, so Tab still reaches the tree.
  if (rows.length > 0 && (focusIndex < start || focusIndex >= end)) shown.push(focusIndex);
  return (
    <div className="fleet-table tree-table">
      <div className="fleet-scroll" ref={scroller} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
        <div className="fleet-spacer" role="tree" aria-label="Clusters, node groups, nodes and instances" onKeyDown={onKeyDown} style={{ height: rows.length * TREE_ROW_HEIGHT }}>
          {shown.map((i) => {
            const row = rows[i]!;
            return <TreeRowView key={row.item.key} row={row} top={i * TREE_ROW_HEIGHT} focusable={i === focusIndex} onToggle={props.onToggle} onOpen={props.onOpen} onFocusRow={onFocusRow} />;
          })}
        </div>
      </div>
    </div>
  );
}
