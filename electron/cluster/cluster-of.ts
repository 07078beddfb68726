// From one node's Ganeti files to the cluster model, and which of the
// cluster's nodes that node is (its host name, else the address the app
// reaches it at).
import { buildClusterModel, findClusterNode, type ClusterModel, type ClusterNode, type KnownHostKey } from "../../shared/ganeti/cluster.js";
import type { ConfigData } from "../../shared/ganeti/config-data.js";
import { fingerprintOf, parseKnownHosts } from "../ssh/known-hosts.js";
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
