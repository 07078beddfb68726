// From one node's Ganeti files to the cluster model, and which of the
// cluster's nodes that node is (its host name, else the address the app
// reaches it at).
import { buildClusterModel, findClusterNode, type ClusterModel, type ClusterNode, type KnownHostKey } from "../../shared/ganeti/cluster.js";
import type { ConfigData } from "../../shared/ganeti/config-data.js";
import type { Ssconf } from "../../shared/ganeti/ssconf.js";
import { resolveNodeVersion, type DetectedVersion } from "../../shared/ganeti/node-version.js";
import { instanceReaderNodes, readersWithVersions } from "../../shared/ganeti/readers.js";
import type { Readers } from "../../shared/hotplug/instance-snapshot.js";
import { ganetiFactsOf } from "../../shared/inventory/ganeti-facts.js";
import { fingerprintOf, parseKnownHosts } from "../ssh/known-hosts.js";
import type { NodeGanetiContext } from "../inventory/node-inventory.js";
import type { GanetiNodeFiles } from "./ganeti-files.js";

export type ClusterFiles = Extract<GanetiNodeFiles, { standalone: false }>;

export interface NodeInCluster {
  model: ClusterModel;
  /** The cluster node the files were read on, when it could be told. */
  self?: ClusterNode;
}

/** The cluster's known_hosts as keys with fingerprints (markers and hashed names are kept as they are). */
export function knownHostKeys(text: string | null): KnownHostKey[] {
  if (!text) return [];
  return parseKnownHosts(text)
    .filter((e) => e.marker === null)
    .map((e) => ({ names: e.hosts.split(","), keyType: e.keyType, fingerprint: fingerprintOf(Buffer.from(e.keyBase64, "base64")) }));
}

/** Which of the cluster's nodes `files` were read on: its host name, else the address the app reaches it at (ssconf alone tells). */
export function selfName(files: ClusterFiles, host: string): string | undefined {
  const bare = buildClusterModel(files.ssconf, { ssconfFrom: host, config: { data: null, why: "" }, knownHosts: [] });
  return ((files.hostname ? findClusterNode(bare, files.hostname) : undefined) ?? findClusterNode(bare, host))?.name;
}

/**
 * Models built, by the ssconf they came from: an unchanged read (the same
 * parsed ssconf and config.data) gives the same model, built once, however
 * often and from however many callers it is asked for.
 */
const built = new WeakMap<Ssconf, { key: string; config: ConfigData | null; result: NodeInCluster }[]>();
const BUILT_KEPT = 4;

/**
 * The cluster as `files` describe it. `host` is the address the app
 * reaches the node at. config.data comes from the node itself when it has
 * it, else from `otherConfig` (another master candidate of the same cluster).
 */
export function clusterOf(files: ClusterFiles, host: string, otherConfig?: { config: ConfigData; from: string }): NodeInCluster {
  const other = !files.config && otherConfig && otherConfig.config.clusterName === files.ssconf.clusterName ? otherConfig : undefined;
  const data = files.config ?? other?.config ?? null;
  const key = JSON.stringify([host, files.hostname ?? null, files.knownHostsText, files.configProblem ?? null, other?.from ?? null]);
  const kept = built.get(files.ssconf) ?? [];
  const hit = kept.find((e) => e.key === key && e.config === data);
  if (hit) return hit.result;
  const name = selfName(files, host);
  const from = name ?? host;
  const config = files.config ? { data: files.config, from } : other ? { data: other.config, from: other.from } : { data: null, why: files.configProblem ?? `config.data was not read on ${from}` };
  const model = buildClusterModel(files.ssconf, { ssconfFrom: from, config, knownHosts: knownHostKeys(files.knownHostsText) });
  const self = name ? model.nodes.find((n) => n.name === name) : undefined;
  const result = { model, ...(self ? { self } : {}) };
  built.set(files.ssconf, [{ key, config: data, result }, ...kept].slice(0, BUILT_KEPT));
  return result;
}

/** What the node itself reports: its installed code, else the cluster's release version from ssconf. */
export function detectedVersion(files: GanetiNodeFiles): DetectedVersion | undefined {
  if (files.installed) return files.installed;
  if (files.standalone) return undefined;
  const v = files.ssconf.releaseVersion;
  return v ? { version: v, source: "ssconf", from: "ssconf_release_version (the master's version: the node's installed code could not be read)" } : undefined;
}

/**
 * The facts the inventory of a node takes from its Ganeti files: its
 * version (a typed one overrides) and, in a cluster, each instance's
 * configuration. Also the cluster, when there is one.
 */
export function inventoryContextOf(files: GanetiNodeFiles, host: string, typedVersion: string | undefined, otherConfig?: { config: ConfigData; from: string }): { context: NodeGanetiContext; cluster?: NodeInCluster } {
  const nodeVersion = resolveNodeVersion(typedVersion, detectedVersion(files));
  const base: NodeGanetiContext = nodeVersion ? { nodeVersion } : {};
  if (files.standalone) return { context: base };
  const cluster = clusterOf(files, host, otherConfig);
  return { context: { ...base, instance: (name) => ganetiFactsOf(cluster.model, name) }, cluster };
}

/**
 * An instance's readers as one node's files tell them (the command line,
 * which reaches only that node): the node's own version, and for the other
 * nodes of its cluster the cluster's release version (ssconf), each with why.
 */
export function readersFromFiles(files: GanetiNodeFiles, host: string, instance: string): { readers?: Readers; context: NodeGanetiContext } {
  const { context, cluster } = inventoryContextOf(files, host, undefined);
  const own = context.nodeVersion;
  if (!cluster) {
    if (!own) return { context };
    const self = { node: host, version: own.version, versionSource: own.source, versionFrom: own.from, why: `${host}: runs the instance (it belongs to no Ganeti cluster)` };
    return { readers: { ganetiVersions: [own.version], explained: [self] }, context };
  }
  const selfName = cluster.self?.name;
  const r = readersWithVersions(cluster.model, instanceReaderNodes(cluster.model, instance, selfName).readers, (n) => (n === selfName ? own : undefined));
  return r.readers.length > 0 ? { readers: { ganetiVersions: r.readers.map((x) => x.version), explained: r.readers }, context } : { context };
}
