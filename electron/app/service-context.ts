// What every group of handlers shares: the node services, the activity log
// and event bus, and the node lookups with the error a removed node gives.
import type { TrustGesture } from "../node-registry/trust-gesture.js";
import type { NodeManager } from "../node-registry/node-manager.js";
import type { NodeConfig, NodeConfigInput } from "../../shared/node-registry/schema.js";
import type { ActivityEntry, AppInfo, NodeView } from "../../shared/ipc/contract.js";
import type { Readers } from "../../shared/hotplug/index.js";
import { ClusterService } from "../cluster/cluster-service.js";
import type { NodeGanetiContext } from "../inventory/node-inventory.js";
import type { Journal } from "../hotplug/journal.js";
import type { ActivityLog } from "./activity-log.js";
import type { PassphraseStore } from "./passphrase-store.js";
import { ApiError } from "../../shared/ipc/transport.js";
import type { EventBus } from "./dispatch.js";

export interface LabLauncher {
  available(): boolean;
  running(): boolean;
  /**
   * Start a lab node. Its host key is known for certain (the launcher made
   * it), so it comes back as a known_hosts line to trust.
   */
  start(): Promise<{ config: NodeConfigInput; knownHostsLine: string }>;
  stopAll(): Promise<void>;
}

export interface ServiceDeps {
  nodes: NodeManager;
  /** Key-file passphrases (this run, and the keychain where it can encrypt). */
  passphrases: PassphraseStore;
  /** Add a line to the app's own known_hosts. */
  trustKnownHostsLine: (line: string) => Promise<void>;
  /** How this transport asks the user to confirm a host key (none: trust is refused). */
  trustGesture?: TrustGesture;
  activity: ActivityLog;
  bus: EventBus;
  /** The undo journal of runtime-file writes (previous bytes). */
  journal: Journal;
  lab?: LabLauncher;
  version: string;
  transport: AppInfo["transport"];
  /** How often ready nodes are re-read to notice changes made outside the app; 0 turns it off. */
  watchIntervalMs?: number;
}

export interface ServiceContext {
  deps: ServiceDeps;
  /** The node as the UI shows it; an ApiError "unknown-node" when it is gone. */
  nodeView(id: string): NodeView;
  nodeConfig(id: string): NodeConfig;
  /** The Ganeti clusters the nodes belong to (read from the nodes). */
  clusters: ClusterService;
  /**
   * The Ganeti versions that read an instance's runtime file (this node's and
   * every node it may migrate to: from its cluster, else the node's settings),
   * and the cluster's facts of it.
   */
  readersOf(node: NodeConfig, instance: string): Promise<{ readers?: Readers; ganeti?: NodeGanetiContext }>;
  /** Adds an activity entry and tells the UI. */
  log(e: Omit<ActivityEntry, "id" | "at">): Promise<void>;
}

export function serviceContext(deps: ServiceDeps): ServiceContext {
  const nodeView = (id: string): NodeView => {
    const config = deps.nodes.list().find((n) => n.id === id);
    const status = deps.nodes.status(id);
    if (!config || !status) throw new ApiError(`No node with id ${JSON.stringify(id)}: it may have been removed. Refresh the node list.`, "unknown-node");
    return { config, status, passphraseKept: deps.passphrases.knows(id) };
  };
  const clusters = new ClusterService({ nodes: deps.nodes });
  return {
    deps,
    nodeView,
    nodeConfig: (id) => nodeView(id).config,
    clusters,
    readersOf: (node, instance) => clusters.readers(node.id, instance),
    log: async (e) => deps.bus.emit("activity.added", await deps.activity.add(e)),
  };
}
