// Fleet list helpers: search/filter and the visible window of a long list.
// Pure, so the list stays cheap with hundreds of instances and is testable.
import type { InstanceSummary } from "../../../shared/inventory/view";

export type StateFilter = "all" | "running" | "not-running" | "drift" | "problems";

export interface FleetQuery {
  text: string;
  state: StateFilter;
  /** Only this node's instances (null: all nodes). */
  nodeId: string | null;
}

export function matchesQuery(s: InstanceSummary, q: FleetQuery): boolean {
  if (q.nodeId !== null && s.node !== q.nodeId) return false;
  switch (q.state) {
    case "running":
      if (s.state !== "running" && s.state !== "paused") return false;
      break;
    case "not-running":
      if (s.state === "running" || s.state === "paused") return false;
      break;
    case "drift":
      if (s.driftCount === 0) return false;
      break;
    case "problems":
      if (s.driftCount === 0 && !s.runtimeError && s.state !== "unreachable" && s.state !== "busy") return false;
      break;
    case "all":
      break;
  }
  const text = q.text.trim().toLowerCase();
  if (text === "") return true;
  // Every word must match somewhere: "alpha 7.2" finds alpha on QEMU 7.2.
  const hay = `${s.name} ${s.node} ${s.state} ${s.qemuVersion ?? ""} gen${s.generation ?? ""}`.toLowerCase();
  return text.split(/\s+/).every((w) => hay.includes(w));
}

export function filterFleet(list: readonly InstanceSummary[], q: FleetQuery): InstanceSummary[] {
  return list.filter((s) => matchesQuery(s, q)).sort((a, b) => a.name.localeCompare(b.name) || a.node.localeCompare(b.node));
}

/** Rows [start, end) to render for a scroll position, with some overscan. */
export function visibleWindow(scrollTop: number, viewportHeight: number, rowHeight: number, count: number, overscan = 6): { start: number; end: number } {
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const visible = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + visible + overscan);
  return { start, end: Math.max(start, end) };
}

export function instanceKey(s: { node: string; name: string }): string {
  return `${s.node}/${s.name}`;
}
