// The fleet as Ganeti admins see it: cluster -> node group -> node ->
// instance, and beside the clusters the app's nodes that belong to none
// (or are not connected, so nobody knows yet). Pure: the tree is built from
// the clusters' views and the inventory's summaries, filtered, then
// flattened into the rows of one windowed list with the ARIA tree facts
// (level, position, set size, expanded) each row needs.
import type { ClusterInstanceView, ClusterNodeView, ClusterView } from "../../../shared/ipc/contract";
import type { InstanceSummary } from "../../../shared/inventory/view";
import type { ThreeWayDevice } from "../../../shared/inventory/three-way";
import { instanceKey, matchesQuery, type FleetQuery } from "./fleet";
import { DEVICE_FILTERS, deviceMatches, summaryMatches, type DeviceFilter, type FilterCount } from "./three-way";

/** An instance in the tree: Ganeti's view of it (cluster) or the inventory's (a node in no cluster), joined when both exist. */
export interface TreeInstance {
  name: string;
  /** The app's node that reads it; null: its primary node is not one of the app's nodes. */
  nodeId: string | null;
  /** Ganeti's view of it, and the cluster's name. */
  cluster?: ClusterInstanceView;
  clusterName?: string;
  summary?: InstanceSummary;
}

export type TreeItem =
  | { kind: "cluster"; key: string; view: ClusterView; instances: number }
  | { kind: "group"; key: string; cluster: string; name: string; nodes: number; instances: number }
  | { kind: "node"; key: string; cluster: string; node: ClusterNodeView }
  | { kind: "others"; key: string; nodes: number }
  | { kind: "app-node"; key: string; nodeId: string; name: string; instances: number }
  | { kind: "instance"; key: string; inst: TreeInstance };

export interface TreeRow {
  item: TreeItem;
  /** 1 for the top level (aria-level). */
  level: number;
  /** Position among its shown siblings, from 1, and how many there are (aria-posinset, aria-setsize). */
  posinset: number;
  setsize: number;
  expandable: boolean;
  expanded: boolean;
  /** The key of the row it sits under. */
  parent: string | null;
}

interface Branch {
  item: TreeItem;
  children: Branch[];
}

export interface TreeInput {
  clusters: readonly ClusterView[];
  /** The app's nodes in no known cluster, in the sidebar's order. */
  others: readonly { id: string; name: string }[];
  summaries: readonly InstanceSummary[];
}

export interface TreeQuery extends Omit<FleetQuery, "nodeId"> {
  device: DeviceFilter;
}

export const OTHERS_KEY = "others";

/** How many of the instance's devices the filter picks (Ganeti's view per device when there is one, else the summary's counts). */
export function instanceMatches(filter: DeviceFilter, inst: TreeInstance): number {
  // Ganeti's view lists each device with what each source said; a summary only counts combinations.
  if (inst.cluster) return inst.cluster.devices.filter((d) => deviceMatches(filter, d)).length;
  return inst.summary ? summaryMatches(filter, inst.summary) : 0;
}

function textOf(inst: TreeInstance): string {
  const c = inst.cluster;
  return c ? `${c.name} ${c.primaryNode} ${c.state ?? ""} ${c.diskTemplate}` : "";
}

/** Devices and instances each device filter picks, over these instances. */
export function filterCounts(instances: readonly TreeInstance[]): FilterCount[] {
  return DEVICE_FILTERS.map((f) => {
    let devices = 0;
    let count = 0;
    for (const i of instances) {
      const n = instanceMatches(f.key, i);
      devices += n;
      if (n > 0) count += 1;
    }
    return { key: f.key, label: f.label, devices, instances: count };
  });
}

/** Whether an instance passes the search, the state filter and the device filter. */
export function instanceShown(inst: TreeInstance, q: TreeQuery): boolean {
  if (q.device !== "any" && instanceMatches(q.device, inst) === 0) return false;
  if (inst.summary) return matchesQuery(inst.summary, { text: q.text, state: q.state, nodeId: null }) || (q.state === "all" && textMatches(textOf(inst), q.text));
  const c = inst.cluster!;
  // Without a summary the instance's buses were not read: only "all" and "not running" say something about it.
  if (q.state === "running" && c.state !== "running" && c.state !== "paused") return false;
  if (q.state === "not-running" && (c.state === "running" || c.state === "paused")) return false;
  if ((q.state === "drift" || q.state === "problems") && !c.devices.some((d) => d.drift)) return false;
  return textMatches(textOf(inst), q.text);
}

/** A branch kept for its own name while searching (only when there is a search). */
function namedInSearch(hay: string, text: string): boolean {
  return text.trim() !== "" && textMatches(hay, text);
}

function textMatches(hay: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === "") return true;
  const h = hay.toLowerCase();
  return t.split(/\s+/).every((w) => h.includes(w));
}

/** Whether anything narrows the tree (then nodes without a matching instance are left out). */
export function isFiltering(q: TreeQuery): boolean {
  return q.text.trim() !== "" || q.state !== "all" || q.device !== "any";
}

// One collator for every comparison: far cheaper than localeCompare on each of a sort's thousands of calls.
const collator = new Intl.Collator();
const byName = <T extends { name: string }>(a: T, b: T) => collator.compare(a.name, b.name);

/** Every instance the tree holds, each once (for totals and filter counts), with its summary joined when the app reads it. */
export function treeInstances(input: TreeInput): TreeInstance[] {
  const summaries = new Map(input.summaries.map((s) => [instanceKey(s), s]));
  const out: TreeInstance[] = [];
  for (const v of input.clusters) {
    const appNode = new Map(v.nodes.map((n) => [n.name, n.appNodeId]));
    for (const c of v.instances) {
      const nodeId = appNode.get(c.primaryNode) ?? null;
      const summary = nodeId ? summaries.get(instanceKey({ node: nodeId, name: c.name })) : undefined;
      out.push({ name: c.name, nodeId, cluster: c, clusterName: v.cluster.name, ...(summary ? { summary } : {}) });
    }
  }
  const others = new Set(input.others.map((n) => n.id));
  for (const s of input.summaries) if (others.has(s.node)) out.push({ name: s.name, nodeId: s.node, summary: s });
  return out;
}

const leaf = (key: string, inst: TreeInstance): Branch => ({ item: { kind: "instance", key, inst }, children: [] });

function buildBranches(input: TreeInput, q: TreeQuery): Branch[] {
  const filtering = isFiltering(q);
  const all = treeInstances(input);
  // Instances by where they sit: "<cluster>/<primary node>" or "/<app node id>".
  const at = new Map<string, TreeInstance[]>();
  for (const i of all) {
    const k = i.cluster ? `${i.clusterName}/${i.cluster.primaryNode}` : `/${i.nodeId}`;
    const list = at.get(k);
    if (list) list.push(i);
    else at.set(k, [i]);
  }
  const shown = (k: string) => (at.get(k) ?? []).filter((i) => instanceShown(i, q)).sort(byName);
  const top: Branch[] = [];
  for (const v of [...input.clusters].sort((a, b) => collator.compare(a.cluster.name, b.cluster.name))) {
    const cname = v.cluster.name;
    const groups: Branch[] = [];
    for (const g of v.groups) {
      const nodes: Branch[] = [];
      for (const n of g.nodes.flatMap((name) => v.nodes.filter((x) => x.name === name))) {
        const insts = shown(`${cname}/${n.name}`);
        if (filtering && insts.length === 0 && !namedInSearch(`${n.name} ${n.address} ${n.role}`, q.text)) continue;
        nodes.push({ item: { kind: "node", key: `n:${cname}/${n.name}`, cluster: cname, node: n }, children: insts.map((i) => leaf(`i:${cname}/${i.name}`, i)) });
      }
      if (filtering && nodes.length === 0) continue;
      const instances = g.nodes.reduce((a, name) => a + (at.get(`${cname}/${name}`)?.length ?? 0), 0);
      groups.push({ item: { kind: "group", key: `g:${cname}/${g.name}`, cluster: cname, name: g.name, nodes: g.nodes.length, instances }, children: nodes });
    }
    // Instances whose primary node is not one of the cluster's (a runtime file Ganeti does not list) stay visible.
    const listed = new Set(v.nodes.map((n) => n.name));
    const strays = [...new Set(v.instances.filter((i) => !listed.has(i.primaryNode)).map((i) => i.primaryNode))];
    const strayInsts = strays.flatMap((p) => shown(`${cname}/${p}`));
    if (strays.length > 0 && (strayInsts.length > 0 || !filtering)) {
      const total = strays.reduce((a, p) => a + (at.get(`${cname}/${p}`)?.length ?? 0), 0);
      groups.push({
        item: { kind: "group", key: `g:${cname}/`, cluster: cname, name: "(not a node of the cluster)", nodes: 0, instances: total },
        children: strayInsts.map((i) => leaf(`i:${cname}/${i.name}`, i)),
      });
    }
    top.push({ item: { kind: "cluster", key: `c:${cname}`, view: v, instances: v.instances.length }, children: groups });
  }
  const nodes: Branch[] = [];
  for (const n of input.others) {
    const insts = shown(`/${n.id}`);
    if (filtering && insts.length === 0 && !namedInSearch(n.name, q.text)) continue;
    nodes.push({
      item: { kind: "app-node", key: `an:${n.id}`, nodeId: n.id, name: n.name, instances: at.get(`/${n.id}`)?.length ?? 0 },
      children: insts.map((i) => leaf(`s:${n.id}/${i.name}`, i)),
    });
  }
  if (input.others.length > 0 && (nodes.length > 0 || !filtering)) top.push({ item: { kind: "others", key: OTHERS_KEY, nodes: input.others.length }, children: nodes });
  return top;
}


/** The rows to show: the filtered tree, flattened, with collapsed branches' rows left out. */
export function treeRows(input: TreeInput, q: TreeQuery, collapsed: ReadonlySet<string>): TreeRow[] {
  const rows: TreeRow[] = [];
  const walk = (list: Branch[], level: number, parent: string | null) => {
    list.forEach((b, i) => {
      // Only a branch with rows under it opens and closes (a node without instances is a leaf).
      const expandable = b.children.length > 0;
      const expanded = expandable && !collapsed.has(b.item.key);
      rows.push({ item: b.item, level, posinset: i + 1, setsize: list.length, expandable, expanded, parent });
      if (expanded) walk(b.children, level + 1, b.item.key);
    });
  };
  walk(buildBranches(input, q), 1, null);
  return rows;
}

/** What a key press on the focused row does (the WAI-ARIA tree pattern). */
export type TreeKeyAction = { focus: number } | { toggle: string } | { open: TreeInstance } | null;

export function treeKeyAction(rows: readonly TreeRow[], index: number, key: string, pageSize = 10): TreeKeyAction {
  const row = rows[index];
  if (!row) return rows.length > 0 ? { focus: 0 } : null;
  const last = rows.length - 1;
  switch (key) {
    case "ArrowDown":
      return { focus: Math.min(index + 1, last) };
    case "ArrowUp":
      return { focus: Math.max(index - 1, 0) };
    case "Home":
      return { focus: 0 };
    case "End":
      return { focus: last };
    case "PageDown":
      return { focus: Math.min(index + pageSize, last) };
    case "PageUp":
      return { focus: Math.max(index - pageSize, 0) };
    case "ArrowRight":
      if (!row.expandable) return null;
      if (!row.expanded) return { toggle: row.item.key };
      // Open already: to its first child, if it has one.
      return rows[index + 1]?.parent === row.item.key ? { focus: index + 1 } : null;
    case "ArrowLeft": {
      if (row.expandable && row.expanded) return { toggle: row.item.key };
      const p = rows.findIndex((r) => r.item.key === row.parent);
      return p >= 0 ? { focus: p } : null;
    }
    case "Enter":
    case " ":
      if (row.item.kind === "instance") return row.item.inst.nodeId ? { open: row.item.inst } : null;
      return row.expandable ? { toggle: row.item.key } : null;
    default:
      return null;
  }
}

/** "⚠ 1 not in Ganeti's configuration · 1 only in Ganeti's configuration": the devices the sources disagree about, by label. */
export function disagreements(devices: readonly Pick<ThreeWayDevice, "drift" | "label">[]): { label: string; count: number }[] {
  const m = new Map<string, number>();
  for (const d of devices) if (d.drift) m.set(d.label, (m.get(d.label) ?? 0) + 1);
  return [...m].map(([label, count]) => ({ label, count }));
}
