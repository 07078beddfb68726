// The cluster as the UI and `cluster show` see it: Ganeti's model with, per
// node, the app's connection and its version, and per instance its state,
// free capacity, devices three ways and the nodes that read its runtime
// file. Pure: the reads are done by the caller (the app's cluster service,
// or the CLI with its own sessions).
import type { ClusterModel } from "../../shared/ganeti/cluster.js";
import type { NodeVersion } from "../../shared/ganeti/node-version.js";
import { instanceReaderNodes, readersWithVersions } from "../../shared/ganeti/readers.js";
import { summarize, type InstanceView } from "../../shared/inventory/view.js";
import { fleetCounts } from "../../shared/inventory/device-filters.js";
import { threeWayDevices } from "../../shared/inventory/three-way.js";
import { ganetiFactsOf } from "../../shared/inventory/ganeti-facts.js";
import { slugify, type ExpectedHostKey, type NodeConfig, type NodeState } from "../../shared/node-registry/schema.js";
import type { ClusterCandidate, ClusterInstanceView, ClusterNodeView, ClusterView } from "../../shared/ipc/contract.js";

/** What was read of one cluster node. */
export interface ClusterNodeRead {
  appNodeId: string | null;
  connection: NodeState | null;
  version?: NodeVersion;
  /** Its instances' views (built with the cluster's facts), or why there are none. */
  inventory?: InstanceView[] | { error: string };
}

/** The host key the cluster's known_hosts lists for its nodes (Ganeti writes one line, under the cluster's name). */
export function clusterHostKey(model: ClusterModel): ExpectedHostKey | undefined {
  const k = model.knownHosts.find((e) => e.names.includes(model.name)) ?? model.knownHosts[0];
  return k ? { keyType: k.keyType, fingerprint: k.fingerprint, source: `the known_hosts of Ganeti cluster ${model.name} (/var/lib/ganeti/known_hosts on ${model.sources.ssconf})` } : undefined;
}

/**
 * The settings another node of the cluster gets: the credentials and the
 * route of the node it was found through (a ProxyCommand's %h becomes the
 * new node's address), its address and SSH port from ssconf.
 */
export function candidateSettings(model: ClusterModel, from: NodeConfig, name: string, takenIds: readonly string[]): ClusterCandidate["settings"] {
  const n = model.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`${name} is not a node of cluster ${model.name} (its nodes: ${model.nodes.map((x) => x.name).join(", ")})`);
  const base = slugify(name.split(".")[0] ?? name);
  let id = base;
  for (let i = 2; takenIds.includes(id); i++) id = `${base.slice(0, 60)}-${i}`;
  return {
    id,
    name,
    host: n.address,
    port: n.sshPort,
    user: from.user,
    root: from.root,
    auth: from.auth.kind,
    ...(from.auth.kind === "key" ? { keyPath: from.auth.keyPath } : {}),
    ...(from.proxyCommand ? { proxyCommand: from.proxyCommand } : {}),
    ...(from.proxyJump ? { proxyJump: from.proxyJump } : {}),
  };
}

/** The cluster's nodes the app does not have, with the settings they would get. */
export function clusterCandidates(model: ClusterModel, from: NodeConfig, reads: ReadonlyMap<string, ClusterNodeRead>, takenIds: readonly string[]): ClusterCandidate[] {
  const key = clusterHostKey(model);
  const taken = [...takenIds];
  const out: ClusterCandidate[] = [];
  for (const n of model.nodes) {
    const app = reads.get(n.name)?.appNodeId;
    if (app) continue;
    const settings = candidateSettings(model, from, n.name, taken);
    taken.push(settings.id);
    out.push({ name: n.name, ...(n.offline ? { blocked: `${n.name} is offline in Ganeti's configuration: there is nothing to connect to` } : {}), settings, ...(key ? { expectedHostKey: key } : {}) });
  }
  return out;
}

function freeCapacity(v: InstanceView | undefined): { freePciSlots: number | null; freeScsiTargets: number | null } {
  if (!v || v.runtimeError) return { freePciSlots: null, freeScsiTargets: null };
  return { freePciSlots: v.pci.filter((s) => s.state === "free").length, freeScsiTargets: v.scsi.filter((t) => t.state === "free").length };
}

/** The view of a cluster from what was read of its nodes (keyed by cluster node name). */
export function buildClusterView(model: ClusterModel, via: string, reads: ReadonlyMap<string, ClusterNodeRead>, candidates: ClusterCandidate[]): ClusterView {
  const notes: string[] = [];
  if (!model.sources.config.read) notes.push(`Ganeti's configuration was not read: ${model.sources.config.why}. Instances are listed by name only, without their devices in Ganeti's configuration.`);
  // Each instance's view on the node where its runtime file is (its primary, or mid-migration elsewhere).
  const views = new Map<string, { view: InstanceView; node: string }>();
  for (const [node, r] of reads) {
    if (r.inventory && "error" in r.inventory) notes.push(`${node}: ${r.inventory.error}`);
    else for (const v of r.inventory ?? []) if (v.generation !== undefined || !views.has(v.name)) views.set(v.name, { view: v, node });
  }
  const versionOf = (name: string) => reads.get(name)?.version;
  const names = model.instances ? model.instances.map((i) => i.name) : model.instanceNames;
  const instances: ClusterInstanceView[] = names.map((name) => {
    const conf = model.instances?.find((i) => i.name === name);
    const seen = views.get(name);
    const primary = conf?.primaryNode ?? seen?.node ?? "";
    const primaryRead = reads.get(primary);
    const readers = readersWithVersions(model, instanceReaderNodes(model, name, seen?.node).readers, versionOf).readers;
    const devices = seen
      ? seen.view.threeWay
      : threeWayDevices({ config: ganetiFactsOf(model, name).config, file: null, live: null, otherLiveIds: new Set(), reservedCount: 0 });
    const stateNote = seen
      ? undefined
      : !primaryRead?.appNodeId
        ? `${primary || "its primary node"} is not one of the app's nodes: add it to see the instance's buses`
        : primaryRead.connection !== "ready"
          ? `${primary} is ${primaryRead.connection ?? "not connected"}`
          : `${primary} has no runtime file for it: it is not running there`;
    return {
      name,
      primaryNode: primary,
      secondaryNodes: conf?.secondaryNodes ?? [],
      diskTemplate: conf?.diskTemplate ?? "unknown",
      ...(conf?.adminState ? { adminState: conf.adminState } : {}),
      state: seen ? seen.view.state : primaryRead?.connection === "ready" ? "stopped" : null,
      ...(stateNote ? { stateNote } : {}),
      ...freeCapacity(seen?.view),
      devices,
      readers,
    };
  });
  // Runtime files for instances Ganeti does not know (or does not list here) are instances too.
  for (const [name, { view, node }] of views) {
    if (names.includes(name)) continue;
    instances.push({
      name,
      primaryNode: node,
      secondaryNodes: [],
      diskTemplate: "unknown",
      state: view.state,
      stateNote: `${name} has a runtime file on ${node}, but Ganeti's ${model.instances ? "configuration" : "ssconf_instance_list"} does not list it`,
      ...freeCapacity(view),
      devices: view.threeWay,
      readers: readersWithVersions(model, instanceReaderNodes(model, name, node).readers, versionOf).readers,
    });
  }
  const nodes: ClusterNodeView[] = model.nodes.map((n) => {
    const r = reads.get(n.name);
    return {
      ...n,
      appNodeId: r?.appNodeId ?? null,
      connection: r?.connection ?? null,
      ...(r?.version ? { version: r.version } : {}),
      instances: instances.filter((i) => i.primaryNode === n.name).map((i) => i.name),
    };
  });
  const groupNames = [...new Set([...model.groups.map((g) => g.name), ...nodes.map((n) => n.group ?? "(group unknown)")])];
  const groups = groupNames
    .map((g) => ({ name: g, nodes: nodes.filter((n) => (n.group ?? "(group unknown)") === g).map((n) => n.name) }))
    .filter((g) => g.nodes.length > 0 || model.groups.some((x) => x.name === g.name));
  const summaries = [...views.values()].map((v) => summarize(v.view));
  return { cluster: model, via, groups, nodes, instances, counts: fleetCounts(summaries), candidates, notes };
}
