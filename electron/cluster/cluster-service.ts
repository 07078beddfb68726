// The app's view of the Ganeti clusters its nodes belong to. Each node's
// Ganeti files are read on that node (shared by concurrent callers, reused
// for a few seconds); the cluster is whatever they say, with config.data
// from any of the app's nodes that is a master candidate. From it come the
// facts that used to be typed: each node's version, an instance's readers
// (replacing the typed migration peers) and its configured hvparams.
import type { NodeManager } from "../node-registry/node-manager.js";
import type { NodeSession } from "../ssh/session.js";
import type { NodeConfig, NodeConfigInput } from "../../shared/node-registry/schema.js";
import type { Readers } from "../../shared/hotplug/index.js";
import { resolveNodeVersion, type NodeVersion } from "../../shared/ganeti/node-version.js";
import { instanceReaderNodes, readersWithVersions, type Reader } from "../../shared/ganeti/readers.js";
import type { ClusterModel } from "../../shared/ganeti/cluster.js";
import { ganetiFactsOf } from "../../shared/inventory/ganeti-facts.js";
import type { ClusterDiscovery } from "../../shared/ipc/contract.js";
import { loadNodeInventory, type NodeGanetiContext } from "../inventory/node-inventory.js";
import { readGanetiNodeFiles, type GanetiNodeFiles } from "./ganeti-files.js";
import { clusterOf, detectedVersion, selfName, type NodeInCluster } from "./cluster-of.js";
import { buildClusterView, candidateSettings, clusterCandidates, clusterHostKey, type ClusterNodeRead } from "./cluster-view.js";

export type NodeCluster =
  | { kind: "standalone"; why: string; files: GanetiNodeFiles }
  | ({ kind: "cluster"; files: Extract<GanetiNodeFiles, { standalone: false }> } & NodeInCluster)
  /** The node's files could not be read (not connected, permission denied). */
  | { kind: "unread"; why: string };

export interface ClusterServiceOptions {
  nodes: Pick<NodeManager, "list" | "status" | "session">;
  /** How long a node's read of its Ganeti files is reused (default 3 s). */
  maxAgeMs?: number;
  now?: () => number;
}

interface FilesEntry {
  at: number;
  read: Promise<GanetiNodeFiles>;
}

/** Readers from the node's settings: its typed version and its typed migration peers'. */
export function typedReaders(node: NodeConfig, all: readonly NodeConfig[]): Readers | undefined {
  const explained: Reader[] = [];
  if (node.ganetiVersion) explained.push({ node: node.name, version: node.ganetiVersion, versionSource: "typed", versionFrom: "the node's settings", why: `${node.name}: runs the instance` });
  for (const id of node.migrationPeers ?? []) {
    const peer = all.find((n) => n.id === id);
    if (peer?.ganetiVersion) explained.push({ node: peer.name, version: peer.ganetiVersion, versionSource: "typed", versionFrom: "the node's settings", why: `${peer.name}: a migration peer in ${node.name}'s settings` });
  }
  if (explained.length === 0) return undefined;
  return { ganetiVersions: explained.map((r) => r.version), explained, ...(node.generationFloor ? { floor: node.generationFloor } : {}) };
}

export class ClusterService {
  private readonly files = new Map<string, FilesEntry>();
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: ClusterServiceOptions) {
    this.maxAgeMs = opts.maxAgeMs ?? 3_000;
    this.now = opts.now ?? Date.now;
  }

  private config(nodeId: string): NodeConfig {
    const c = this.opts.nodes.list().find((n) => n.id === nodeId);
    if (!c) throw new Error(`No node with id ${JSON.stringify(nodeId)}: it may have been removed.`);
    return c;
  }

  /** The node's Ganeti files; a read younger than maxAgeMs (or in flight) is shared. */
  nodeFiles(nodeId: string, opts: { session?: NodeSession; maxAgeMs?: number } = {}): Promise<GanetiNodeFiles> {
    const hit = this.files.get(nodeId);
    if (hit && this.now() - hit.at <= (opts.maxAgeMs ?? this.maxAgeMs)) return hit.read;
    const node = this.config(nodeId);
    const read = (async () => readGanetiNodeFiles(opts.session ?? (await this.opts.nodes.session(nodeId, 5_000)), node.root))();
    const entry = { at: this.now(), read };
    this.files.set(nodeId, entry);
    read.catch(() => {
      if (this.files.get(nodeId) === entry) this.files.delete(nodeId);
    });
    return read;
  }

  /** Forget what was read of a node (it was removed, or its settings changed). */
  forget(nodeId: string): void {
    this.files.delete(nodeId);
  }

  /** The node's cluster, or that it is standalone, or why it could not be read. */
  async ofNode(nodeId: string, opts: { session?: NodeSession; maxAgeMs?: number } = {}): Promise<NodeCluster> {
    let files: GanetiNodeFiles;
    try {
      files = await this.nodeFiles(nodeId, opts);
    } catch (err) {
      return { kind: "unread", why: `The Ganeti files of ${nodeId} could not be read: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (files.standalone) return { kind: "standalone", why: files.why, files };
    const node = this.config(nodeId);
    // config.data lives on master candidates: take it from another of the app's nodes in the cluster when this one lacks it.
    const other = files.config ? undefined : await this.configElsewhere(nodeId, files.ssconf.clusterName);
    return { kind: "cluster", files, ...clusterOf(files, node.host, other) };
  }

  /** config.data from another of the app's ready nodes in the cluster (read in parallel; reads younger than maxAgeMs are reused). */
  private async configElsewhere(except: string, cluster: string) {
    const found = await Promise.all(
      this.readyNodes()
        .filter((n) => n.id !== except)
        .map(async (n) => {
          const f = await this.nodeFiles(n.id).catch(() => undefined);
          return f && !f.standalone && f.ssconf.clusterName === cluster && f.config ? { config: f.config, from: `${n.name} (${n.host})` } : undefined;
        }),
    );
    return found.find((x) => x !== undefined);
  }

  private readyNodes(): NodeConfig[] {
    return this.opts.nodes.list().filter((n) => this.opts.nodes.status(n.id)?.state === "ready");
  }

  /** The version the app goes by for a node: the typed override, else what the node reports. */
  versionOf(node: NodeConfig, files: GanetiNodeFiles | undefined): NodeVersion | undefined {
    return resolveNodeVersion(node.ganetiVersion, files ? detectedVersion(files) : undefined);
  }

  /**
   * Which cluster node each of the app's ready nodes in `model`'s cluster is,
   * with its files; the node `self` was read on is known already.
   */
  private async members(model: ClusterModel, maxAgeMs?: number): Promise<Map<string, { node: NodeConfig; files: GanetiNodeFiles }>> {
    const out = new Map<string, { node: NodeConfig; files: GanetiNodeFiles }>();
    await Promise.all(
      this.readyNodes().map(async (node) => {
        const files = await this.nodeFiles(node.id, maxAgeMs !== undefined ? { maxAgeMs } : {}).catch(() => undefined);
        if (!files || files.standalone || files.ssconf.clusterName !== model.name) return;
        // Which node it is needs ssconf only, not the whole model.
        const self = selfName(files, node.host);
        if (self && !out.has(self)) out.set(self, { node, files });
      }),
    );
    return out;
  }

  /** The facts the inventory of a node needs: its version and, in a cluster, each instance's Ganeti facts. */
  async inventoryContext(nodeId: string, session?: NodeSession, maxAgeMs = 0): Promise<NodeGanetiContext> {
    const node = this.config(nodeId);
    const c = await this.ofNode(nodeId, { ...(session ? { session } : {}), maxAgeMs });
    if (c.kind === "unread") return node.ganetiVersion ? { nodeVersion: { version: node.ganetiVersion, source: "typed", from: "the node's settings (ganetiVersion)" } } : {};
    const nodeVersion = this.versionOf(node, c.files);
    const base: NodeGanetiContext = nodeVersion ? { nodeVersion } : {};
    // In a cluster, the model ofNode built (config.data from another node when this one has none).
    return c.kind === "cluster" ? { ...base, instance: (name) => ganetiFactsOf(c.model, name) } : base;
  }

  /**
   * The Ganeti versions that read an instance's runtime file on this node:
   * from the cluster (the instance's node group, its DRBD secondary) when the
   * node belongs to one, else from the node's settings (typed peers).
   */
  async readers(nodeId: string, instance: string): Promise<{ readers?: Readers; ganeti?: NodeGanetiContext }> {
    const node = this.config(nodeId);
    const c = await this.ofNode(nodeId);
    if (c.kind !== "cluster") {
      const typed = typedReaders(node, this.opts.nodes.list());
      const v = c.kind === "standalone" ? this.versionOf(node, c.files) : undefined;
      // A standalone node's detected version counts for itself; typed peers still apply.
      if (v && v.source !== "typed") {
        const self: Reader = { node: node.name, version: v.version, versionSource: v.source, versionFrom: v.from, why: `${node.name}: runs the instance` };
        const rest = typed?.explained?.filter((r) => r.node !== node.name) ?? [];
        const explained = [self, ...rest];
        return { readers: { ganetiVersions: explained.map((r) => r.version), explained, ...(node.generationFloor ? { floor: node.generationFloor } : {}) }, ganeti: { nodeVersion: v } };
      }
      return typed ? { readers: typed } : {};
    }
    const members = await this.members(c.model);
    const versionOf = (name: string): NodeVersion | undefined => {
      if (c.self && name === c.self.name) return this.versionOf(node, c.files);
      const m = members.get(name);
      return m ? this.versionOf(m.node, m.files) : undefined;
    };
    const { readers } = readersWithVersions(c.model, instanceReaderNodes(c.model, instance, c.self?.name).readers, versionOf);
    const nodeVersion = this.versionOf(node, c.files);
    const ganeti: NodeGanetiContext = { ...(nodeVersion ? { nodeVersion } : {}), instance: (name) => ganetiFactsOf(c.model, name) };
    if (readers.length === 0) return { ganeti };
    return { readers: { ganetiVersions: readers.map((r) => r.version), explained: readers, ...(node.generationFloor ? { floor: node.generationFloor } : {}) }, ganeti };
  }

  /** The clusters the app's ready nodes belong to. */
  async list(): Promise<{ name: string; master: string; nodeIds: string[]; nodes: number }[]> {
    const out = new Map<string, { name: string; master: string; nodeIds: string[]; nodes: number }>();
    await Promise.all(
      this.readyNodes().map(async (n) => {
        const f = await this.nodeFiles(n.id).catch(() => undefined);
        if (!f || f.standalone) return;
        const e = out.get(f.ssconf.clusterName) ?? { name: f.ssconf.clusterName, master: f.ssconf.masterNode, nodeIds: [], nodes: f.ssconf.nodeList.length };
        e.nodeIds.push(n.id);
        out.set(e.name, e);
      }),
    );
    return [...out.values()].map((e) => ({ ...e, nodeIds: e.nodeIds.sort() })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The node's cluster read afresh, with every instance three ways (from the app's nodes in it) and the nodes it could add. */
  async discover(nodeId: string): Promise<ClusterDiscovery> {
    const node = this.config(nodeId);
    const c = await this.ofNode(nodeId, { maxAgeMs: 0 });
    if (c.kind === "unread") throw new Error(c.why);
    if (c.kind === "standalone") {
      const v = this.versionOf(node, c.files);
      return { kind: "standalone", nodeId, why: c.why, ...(v ? { version: v } : {}) };
    }
    // Each ready node's files tell whether, and which, node of the cluster it is. The inventory of
    // one the cluster lists by its address starts beside that read (it takes the node's facts once
    // they are in), and is dropped should the files say otherwise.
    const listed = new Set(c.model.nodes.flatMap((cn) => [cn.address, cn.name, ...(cn.secondaryAddress ? [cn.secondaryAddress] : [])]));
    const read = this.readyNodes().map((n) => {
      const files = n.id === nodeId ? Promise.resolve<GanetiNodeFiles | undefined>(c.files) : this.nodeFiles(n.id, { maxAgeMs: 0 }).catch(() => undefined);
      const self = n.id === nodeId ? Promise.resolve(c.self?.name) : files.then((f) => (f && !f.standalone && f.ssconf.clusterName === c.model.name ? selfName(f, n.host) : undefined));
      return { node: n, files, self, early: n.id === nodeId || listed.has(n.host) ? this.inventoryWith(c.model, n, files) : undefined };
    });
    const members = new Map<string, { node: NodeConfig; files: GanetiNodeFiles; inventory: Promise<ClusterNodeRead["inventory"]> }>();
    for (const r of read) {
      const [self, files] = await Promise.all([r.self, r.files]);
      if (self && files && !members.has(self)) members.set(self, { node: r.node, files, inventory: r.early ?? this.inventoryWith(c.model, r.node, r.files) });
    }
    if (c.self && !members.has(c.self.name)) members.set(c.self.name, { node, files: c.files, inventory: this.inventoryWith(c.model, node, Promise.resolve(c.files)) });
    const reads = new Map<string, ClusterNodeRead>();
    const all = this.opts.nodes.list();
    await Promise.all(
      c.model.nodes.map(async (cn) => {
        const m = members.get(cn.name);
        // An app node not ready (yet) is matched by its address.
        const app = m?.node ?? all.find((n) => n.host === cn.address || n.host === cn.name || n.host === cn.secondaryAddress);
        if (!app) return reads.set(cn.name, { appNodeId: null, connection: null });
        const connection = this.opts.nodes.status(app.id)?.state ?? null;
        if (!m) return reads.set(cn.name, { appNodeId: app.id, connection });
        const version = this.versionOf(m.node, m.files);
        return reads.set(cn.name, { appNodeId: m.node.id, connection, ...(version ? { version } : {}), inventory: await m.inventory });
      }),
    );
    const candidates = clusterCandidates(c.model, node, reads, all.map((n) => n.id));
    return { kind: "cluster", view: buildClusterView(c.model, nodeId, reads, candidates) };
  }

  /** A node's inventory with the cluster's facts, the node's own version once its files are read; or why it could not be read. */
  private inventoryWith(model: ClusterModel, node: NodeConfig, files: Promise<GanetiNodeFiles | undefined>): Promise<ClusterNodeRead["inventory"]> {
    const ganeti = files.then((f): NodeGanetiContext => {
      const nodeVersion = this.versionOf(node, f);
      return { ...(nodeVersion ? { nodeVersion } : {}), instance: (name) => ganetiFactsOf(model, name) };
    });
    return (async () => loadNodeInventory(await this.opts.nodes.session(node.id, 5_000), { nodeId: node.id, root: node.root, ganeti }))().catch((err: unknown) => ({
      error: `its inventory could not be read: ${err instanceof Error ? err.message : String(err)}`,
    }));
  }

  /**
   * Settings for other nodes of `nodeId`'s cluster, with its credentials and
   * the host key the cluster's known_hosts lists (expected, not trusted).
   */
  async settingsFor(nodeId: string, names: readonly string[]): Promise<{ settings: NodeConfigInput[]; refused: { name: string; reason: string }[] }> {
    const node = this.config(nodeId);
    const c = await this.ofNode(nodeId, { maxAgeMs: 0 });
    if (c.kind !== "cluster") throw new Error(c.kind === "standalone" ? `${node.name} belongs to no Ganeti cluster: ${c.why}` : c.why);
    const all = this.opts.nodes.list();
    const taken = all.map((n) => n.id);
    const key = clusterHostKey(c.model);
    const settings: NodeConfigInput[] = [];
    const refused: { name: string; reason: string }[] = [];
    for (const name of [...new Set(names)]) {
      const cn = c.model.nodes.find((n) => n.name === name || n.name.split(".")[0] === name);
      if (!cn) {
        refused.push({ name, reason: `${name} is not a node of cluster ${c.model.name} (its nodes: ${c.model.nodes.map((n) => n.name).join(", ")})` });
        continue;
      }
      if (cn.offline) {
        refused.push({ name, reason: `${cn.name} is offline in Ganeti's configuration: there is nothing to connect to` });
        continue;
      }
      const existing = all.find((n) => n.host === cn.address || n.host === cn.name);
      if (existing || (c.self && c.self.name === cn.name)) {
        refused.push({ name, reason: `${cn.name} is already one of the app's nodes (${existing?.name ?? node.name})` });
        continue;
      }
      const s = candidateSettings(c.model, node, cn.name, taken);
      taken.push(s.id);
      settings.push({
        id: s.id,
        name: s.name,
        host: s.host,
        port: s.port,
        user: s.user,
        root: s.root,
        auth: node.auth,
        ...(s.proxyCommand ? { proxyCommand: s.proxyCommand } : {}),
        ...(s.proxyJump ? { proxyJump: s.proxyJump } : {}),
        ...(key ? { expectedHostKey: key } : {}),
      });
    }
    return { settings, refused };
  }
}
