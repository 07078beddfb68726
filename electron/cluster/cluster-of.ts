// From one node's Ganeti files to the cluster model, and which of the
// cluster's nodes that node is (its host name, else the address the app
// reaches it at).
import { buildClusterModel, findClusterNode, type ClusterModel, type ClusterNode, type KnownHostKey } from "../../shared/ganeti/cluster.js";
import type { ConfigData } from "../../shared/ganeti/config-data.js";
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

/**
 * The cluster as `files` describe it. `host` is the address the app
 * reaches the node at. config.data comes from the node itself when it has
 * it, else from `otherConfig` (another master candidate of the same cluster).
 */
export function clusterOf(files: ClusterFiles, host: string, otherConfig?: { config: ConfigData; from: string }): NodeInCluster {
  // Which node this is, from the names alone (ssconf is enough for that).
  const bare = buildClusterModel(files.ssconf, { ssconfFrom: host, config: { data: null, why: "" }, knownHosts: [] });
  const selfName = ((files.hostname ? findClusterNode(bare, files.hostname) : undefined) ?? findClusterNode(bare, host))?.name;
  const from = selfName ?? host;
  const config = files.config
    ? { data: files.config, from }
    : otherConfig && otherConfig.config.clusterName === files.ssconf.clusterName
      ? { data: otherConfig.config, from: otherConfig.from }
      : { data: null, why: files.configProblem ?? `config.data was not read on ${from}` };
  const model = buildClusterModel(files.ssconf, { ssconfFrom: from, config, knownHosts: knownHostKeys(files.knownHostsText) });
  const self = selfName ? model.nodes.find((n) => n.name === selfName) : undefined;
  return { model, ...(self ? { self } : {}) };
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
