// Data hooks: each loads one channel and keeps it current from the events
// main pushes, so views never poll.
import { useCallback, useEffect, useRef, useState } from "react";
import type { ActivityEntry, AppInfo, ClusterView, NodeView, Request, Response, RuntimeFileView } from "../../../shared/ipc/contract";
import type { InstanceSummary, InstanceView } from "../../../shared/inventory/view";
import type { ConnectionStatus } from "../api/index";
import { errorMessage } from "../lib/format";
import { useApi } from "./api-context";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  refresh: () => void;
}

/**
 * Loads once and on refresh(); a newer load always wins over an older one.
 * When deps change the old data is dropped, unless `keep` (then it stays on
 * screen until the new load answers).
 */
function useLoader<T>(load: (() => Promise<T>) | null, deps: unknown[], keep = false): Loaded<T> & { setData: (f: (d: T | null) => T | null) => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const refresh = useCallback(() => {
    const fn = loadRef.current;
    if (!fn) return;
    const mine = ++seq.current;
    setLoading(true);
    fn().then(
      (d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== seq.current) return;
        setError(errorMessage(err));
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    if (!keep) {
      setData(null);
      setError(null);
    }
    refresh();
  }, deps);

  return { data, error, loading, refresh, setData };
}

/** Runs fn at most once per `ms` while events keep coming (trailing call). */
function useThrottled(fn: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      fnRef.current();
    }, ms);
  }, [ms]);
}

export function useAppInfo(): Loaded<AppInfo> {
  const api = useApi();
  return useLoader(() => api.call("app.info", {}), [api]);
}

export function useNodes(): Loaded<NodeView[]> {
  const api = useApi();
  const l = useLoader(() => api.call("nodes.list", {}), [api]);
  const { setData } = l;
  useEffect(
    () =>
      api.on("node.status", (status) => {
        setData((list) => list?.map((n) => (n.config.id === status.id ? { ...n, status } : n)) ?? list);
      }),
    [api, setData],
  );
  return l;
}

/**
 * The ids of the ready nodes, as one string: what the lists depend on (a node
 * that is not ready contributes nothing). null until the nodes are known, so
 * a list is not read twice at start.
 */
function readyKey(nodes: readonly NodeView[] | null): string | null {
  if (nodes === null) return null;
  return nodes
    .filter((n) => n.status.state === "ready")
    .map((n) => n.config.id)
    .sort()
    .join(" ");
}

/** Every ready node's instances: read again when a node becomes ready (or stops being so) and when main says something changed. */
export function useInventory(nodes: readonly NodeView[] | null): Loaded<InstanceSummary[]> {
  const api = useApi();
  const l = useLoader(nodes === null ? null : () => api.call("inventory.list", {}), [api, readyKey(nodes)], true);
  const later = useThrottled(l.refresh, 400);
  useEffect(() => api.on("inventory.changed", () => later()), [api, later]);
  return l;
}

export interface Clusters {
  /** Each cluster the app's ready nodes belong to, read through one of them. */
  views: ClusterView[];
  /** Clusters that could not be read, and why. */
  problems: { cluster: string; error: string }[];
}

/**
 * The Ganeti clusters of the app's nodes, each discovered through one of its
 * ready nodes: read again when the set of ready nodes changes and (at most
 * every 1.5 s) when an inventory changes. Nodes in no cluster are not in it.
 */
export function useClusters(nodes: readonly NodeView[] | null): Loaded<Clusters> {
  const api = useApi();
  const l = useLoader(nodes === null ? null : () => readClusters(api), [api, readyKey(nodes)], true);
  const later = useThrottled(l.refresh, 1500);
  useEffect(() => api.on("inventory.changed", () => later()), [api, later]);
  return l;
}

/** Every cluster of the app's ready nodes, each discovered through the first of its nodes the app has. */
async function readClusters(api: ReturnType<typeof useApi>): Promise<Clusters> {
  const list = await api.call("cluster.list", {});
  const read = await Promise.all(
    list.map(async (c) => {
      try {
        const d = await api.call("cluster.discover", { nodeId: c.nodeIds[0]! });
        return d.kind === "cluster" ? { view: d.view } : { problem: { cluster: c.name, error: d.why } };
      } catch (err) {
        return { problem: { cluster: c.name, error: errorMessage(err) } };
      }
    }),
  );
  return { views: read.flatMap((r) => (r.view ? [r.view] : [])), problems: read.flatMap((r) => (r.problem ? [r.problem] : [])) };
}

/** One instance's data from `channel`, reloaded when main says that instance changed. */
function useInstanceData<C extends "instance.get" | "runtime.get">(channel: C, nodeId: string, instance: string): Loaded<Response<C>> {
  const api = useApi();
  // Both channels take { nodeId, instance }; TypeScript cannot see that through the generic.
  const l = useLoader(() => api.call(channel, { nodeId, instance } as Request<C>), [api, channel, nodeId, instance]);
  const later = useThrottled(l.refresh, 250);
  useEffect(
    () =>
      api.on("inventory.changed", (ev) => {
        if (ev.nodeId === nodeId && (ev.instance === undefined || ev.instance === instance)) later();
      }),
    [api, nodeId, instance, later],
  );
  return l;
}

export function useInstance(nodeId: string, instance: string): Loaded<InstanceView> {
  return useInstanceData("instance.get", nodeId, instance);
}

export function useRuntimeFile(nodeId: string, instance: string): Loaded<RuntimeFileView> {
  return useInstanceData("runtime.get", nodeId, instance);
}

export function useActivity(filter: { nodeId?: string; instance?: string }): Loaded<ActivityEntry[]> {
  const api = useApi();
  const { nodeId, instance } = filter;
  const l = useLoader(() => api.call("activity.list", { ...(nodeId ? { nodeId } : {}), ...(instance ? { instance } : {}) }), [api, nodeId, instance]);
  const { setData } = l;
  useEffect(
    () =>
      api.on("activity.added", (entry) => {
        if (nodeId && entry.nodeId !== nodeId) return;
        if (instance && entry.instance !== instance) return;
        setData((list) => (list ? (list.some((e) => e.id === entry.id) ? list : [entry, ...list]) : list));
      }),
    [api, nodeId, instance, setData],
  );
  return l;
}

/** The current time, ticking every second while `active`. */
export function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

export function useConnectionStatus(): ConnectionStatus | null {
  const api = useApi();
  const [status, setStatus] = useState<ConnectionStatus | null>(() => api.status?.() ?? null);
  useEffect(() => api.onStatus?.(setStatus), [api]);
  return status;
}
