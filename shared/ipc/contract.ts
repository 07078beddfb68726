// The one API between the UI and the main process. Both transports (Electron
// IPC and the loopback web host) carry exactly these channels, and main
// validates every request with these schemas before anything else runs.
import { z } from "zod";
import { AddNodeRequestSchema, DiskPathAllowSchema, ExpectedHostKeySchema, NodeConfigSchema, NodeStateSchema, NodeStatusSchema } from "../node-registry/schema";
import { InstanceRunStateSchema, InstanceSummarySchema, InstanceViewSchema } from "../inventory/view";
import { FleetCountsSchema } from "../inventory/device-filters";
import { ThreeWayDeviceSchema } from "../inventory/three-way";
import { ClusterModelSchema, ClusterNodeSchema } from "../ganeti/cluster";
import { NodeVersionSchema } from "../ganeti/node-version";
import { ReaderSchema } from "../ganeti/readers";
import { GenerationSchema } from "../runtime/generation";
import { ChangeRequestSchema } from "../hotplug/change-request";
import { PlanStepSchema, PlannedSlotSchema } from "../hotplug/steps";
import { StepProgressSchema } from "../hotplug/progress";
import { ChangeOutcomeSchema } from "../hotplug/outcome";
import { RecordingSchema } from "../hotplug/recording";

const NodeIdRef = z.string().min(1).max(64);
const InstanceRef = z.string().min(1).max(253);

/** A node as the UI shows it: its settings and its connection state. */
export const NodeViewSchema = z.object({
  config: NodeConfigSchema,
  status: NodeStatusSchema,
  /** A passphrase for the node's key file is held (for this run; it may also be in the keychain). */
  passphraseKept: z.boolean().optional(),
});
export type NodeView = z.infer<typeof NodeViewSchema>;

/**
 * nodes.setPassphrase answers with the node and whether the passphrase was
 * remembered across runs (OS keychain) or only for this run, and why.
 * The passphrase itself never comes back.
 */
export const SetPassphraseResponseSchema = NodeViewSchema.extend({
  remembered: z.boolean(),
  /** When not remembered across runs: why (not asked, no keychain, wrong passphrase…). */
  rememberReason: z.string().optional(),
});
export type SetPassphraseResponse = z.infer<typeof SetPassphraseResponseSchema>;

/**
 * nodes.trustHostKey: trust needs the user's gesture, seen by main (a dialog
 * of main's own in Electron; in the web host a one-time code printed in its
 * terminal). "code-needed": ask the user for the code and call again with it.
 */
export const TrustHostKeyResponseSchema = z.discriminatedUnion("outcome", [
  z.object({ outcome: z.literal("trusted"), node: NodeViewSchema }),
  z.object({ outcome: z.literal("code-needed"), prompt: z.string() }),
  z.object({ outcome: z.literal("declined"), reason: z.string() }),
]);
export type TrustHostKeyResponse = z.infer<typeof TrustHostKeyResponseSchema>;

/** A plan for review: exactly what the executor will run, step by step, typed by kind. */
export const PlanPreviewSchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    planId: z.string(),
    nodeId: z.string(),
    instance: z.string(),
    summary: z.string(),
    steps: z.array(PlanStepSchema),
    writeGeneration: GenerationSchema,
    fileDiff: z.array(z.string()),
    slot: PlannedSlotSchema,
    warnings: z.array(z.string()),
    /** The nodes the runtime file is written for (this one and where it may migrate), each with its version and why it counts. */
    readers: z.array(ReaderSchema),
    /** Whether Ganeti's configuration keeps the change (configuration first, through Ganeti) or it is runtime only, and why. */
    recording: RecordingSchema.optional(),
  }),
  z.object({
    ok: z.literal(false),
    nodeId: z.string(),
    instance: z.string(),
    summary: z.string(),
    refusals: z.array(z.object({ code: z.string(), message: z.string() })),
  }),
]);
export type PlanPreview = z.infer<typeof PlanPreviewSchema>;

/** Which applied plan an event is about. */
export const OperationRefSchema = z.object({
  operationId: z.string(),
  planId: z.string(),
  nodeId: z.string(),
  instance: z.string(),
});

/** A step of an applied plan changed state (shared/hotplug's StepProgress). */
export const OperationProgressSchema = OperationRefSchema.extend(StepProgressSchema.shape);
export type OperationProgress = z.infer<typeof OperationProgressSchema>;

/** An applied plan ended (shared/hotplug's ChangeOutcome). */
export const OperationOutcomeSchema = OperationRefSchema.extend({ outcome: ChangeOutcomeSchema });
export type OperationOutcome = z.infer<typeof OperationOutcomeSchema>;

export const ActivityEntrySchema = z.object({
  id: z.string(),
  at: z.number(),
  nodeId: z.string(),
  instance: z.string().optional(),
  summary: z.string(),
  planId: z.string().optional(),
  /** "unknown": a change whose runtime write lost its answer (the detail says what the file held when read again). */
  outcome: z.enum(["succeeded", "failed", "unknown", "refused", "info"]),
  detail: z.string().optional(),
});
export type ActivityEntry = z.infer<typeof ActivityEntrySchema>;

export const RuntimeFileViewSchema = z.object({
  nodeId: z.string(),
  instance: z.string(),
  path: z.string(),
  text: z.string(),
  generation: GenerationSchema.optional(),
  notes: z.array(z.object({ rule: z.string(), detail: z.string() })),
  error: z.string().optional(),
});
export type RuntimeFileView = z.infer<typeof RuntimeFileViewSchema>;

/** Hosts found in ~/.ssh/config that could become nodes. */
export const SshConfigImportSchema = z.object({
  path: z.string(),
  found: z.boolean(),
  candidates: z.array(
    z.object({
      alias: z.string(),
      name: z.string(),
      host: z.string(),
      port: z.number().int(),
      user: z.string().optional(),
      keyPath: z.string().optional(),
      notes: z.array(z.string()),
      proxyJump: z.string().optional(),
      proxyCommand: z.string().optional(),
    }),
  ),
  unsupported: z.array(z.object({ alias: z.string(), reason: z.string() })),
  warnings: z.array(z.string()),
});
export type SshConfigImportView = z.infer<typeof SshConfigImportSchema>;

export const AppInfoSchema = z.object({
  version: z.string(),
  transport: z.enum(["electron", "web"]),
  /** A local lab node can be started from the app (QEMU and sshd are installed). */
  labAvailable: z.boolean(),
  labRunning: z.boolean(),
  /** A local two-node Ganeti cluster can be started from the app (root, Debian's ganeti packages); reason says why not. */
  ganetiLab: z.object({ available: z.boolean(), running: z.boolean(), reason: z.string().optional() }).optional(),
  /**
   * Whether key passphrases can be remembered across runs (OS keychain via
   * Electron safeStorage). Otherwise they are kept until the app quits; reason says why.
   */
  secretStorage: z.object({ available: z.boolean(), reason: z.string().optional() }).optional(),
});
export type AppInfo = z.infer<typeof AppInfoSchema>;

// ---------------------------------------------------------------------------
// Ganeti clusters. A node that holds ssconf files belongs to a cluster; the
// app reads the cluster from it (ssconf, the cluster's known_hosts and, on
// master candidates, config.data) and keeps nothing of its own. The view
// is the tree cluster -> node group -> node -> instance, by name:
// groups[].nodes names nodes, nodes[].instances names instances.

/** A node of the cluster as Ganeti describes it, and the app's connection to it. */
export const ClusterNodeViewSchema = ClusterNodeSchema.extend({
  /** The app's node for it, when it was added. */
  appNodeId: z.string().nullable(),
  /** The app's connection to it ("ready": reachable); null when it is not one of the app's nodes. */
  connection: NodeStateSchema.nullable(),
  /** Its Ganeti version and where that came from (read on the node, the cluster's ssconf, or typed); absent when unknown. */
  version: NodeVersionSchema.optional(),
  /** Instances whose primary node it is, by name. */
  instances: z.array(z.string()),
});
export type ClusterNodeView = z.infer<typeof ClusterNodeViewSchema>;

/** An instance of the cluster: Ganeti's configuration, what its node shows, and its devices three ways. */
export const ClusterInstanceViewSchema = z.object({
  name: z.string(),
  primaryNode: z.string(),
  secondaryNodes: z.array(z.string()),
  diskTemplate: z.string(),
  adminState: z.string().optional(),
  /** From its primary node's inventory; null when the app does not read that node (see stateNote). */
  state: InstanceRunStateSchema.nullable(),
  stateNote: z.string().optional(),
  /** Free slots on pci.0 and free SCSI targets (capacity at a glance); null when not read. */
  freePciSlots: z.number().int().nullable(),
  freeScsiTargets: z.number().int().nullable(),
  /** Every device as Ganeti's configuration, the runtime file and the live bus see it. */
  devices: z.array(ThreeWayDeviceSchema),
  /** The nodes that read its runtime file, with versions and why. */
  readers: z.array(ReaderSchema),
});
export type ClusterInstanceView = z.infer<typeof ClusterInstanceViewSchema>;

/** A node of the cluster the app could add, with the settings it would get (the credentials of the node it was found through). */
export const ClusterCandidateSchema = z.object({
  name: z.string(),
  /** Why it cannot be added (offline, already one of the app's nodes). */
  blocked: z.string().optional(),
  settings: z.object({
    id: z.string(),
    name: z.string(),
    host: z.string(),
    port: z.number().int(),
    user: z.string(),
    root: z.string(),
    auth: z.enum(["key", "agent"]),
    keyPath: z.string().optional(),
    proxyCommand: z.string().optional(),
    proxyJump: z.string().optional(),
  }),
  /** The host key the cluster's known_hosts lists for its nodes: shown beside the key the node presents; trusting stays the user's act. */
  expectedHostKey: ExpectedHostKeySchema.optional(),
});
export type ClusterCandidate = z.infer<typeof ClusterCandidateSchema>;

export const ClusterViewSchema = z.object({
  cluster: ClusterModelSchema,
  /** The app node the cluster was read through. */
  via: z.string(),
  groups: z.array(z.object({ name: z.string(), nodes: z.array(z.string()) })),
  nodes: z.array(ClusterNodeViewSchema),
  instances: z.array(ClusterInstanceViewSchema),
  /** Devices and instances per three-way combination, for filters. */
  counts: FleetCountsSchema,
  /** Nodes the app does not have yet. */
  candidates: z.array(ClusterCandidateSchema),
  /** What could not be read, for people. */
  notes: z.array(z.string()),
});
export type ClusterView = z.infer<typeof ClusterViewSchema>;

/** cluster.discover: the node's cluster, or why it has none (a standalone node works as before). */
export const ClusterDiscoverySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("standalone"), nodeId: z.string(), why: z.string(), version: NodeVersionSchema.optional() }),
  z.object({ kind: z.literal("cluster"), view: ClusterViewSchema }),
]);
export type ClusterDiscovery = z.infer<typeof ClusterDiscoverySchema>;

/** The clusters the app's ready nodes belong to, and which of its nodes are in each. */
export const ClusterListSchema = z.array(z.object({ name: z.string(), master: z.string(), nodeIds: z.array(z.string()), nodes: z.number().int() }));

export const AddClusterNodesResponseSchema = z.object({
  added: z.array(NodeViewSchema),
  refused: z.array(z.object({ name: z.string(), reason: z.string() })),
});

const Empty = z.strictObject({});
const NodeRef = z.strictObject({ nodeId: NodeIdRef });
const InstanceKey = z.strictObject({ nodeId: NodeIdRef, instance: InstanceRef });

/** channel → request and response schemas. */
export const contract = {
  "app.info": { request: Empty, response: AppInfoSchema },
  "nodes.list": { request: Empty, response: z.array(NodeViewSchema) },
  "nodes.add": { request: AddNodeRequestSchema, response: NodeViewSchema },
  "nodes.remove": { request: NodeRef, response: Empty },
  "nodes.importSshConfig": { request: Empty, response: SshConfigImportSchema },
  "nodes.connect": { request: NodeRef, response: NodeViewSchema },
  "nodes.setPassphrase": {
    request: z.strictObject({ nodeId: NodeIdRef, passphrase: z.string().min(1).max(1024), remember: z.boolean() }),
    response: SetPassphraseResponseSchema,
  },
  "nodes.forgetPassphrase": { request: NodeRef, response: Empty },
  /** Where disks may also come from on the node, beyond its Ganeti storage (empty: none). */
  "nodes.setDiskPathAllow": { request: z.strictObject({ nodeId: NodeIdRef, paths: DiskPathAllowSchema }), response: NodeViewSchema },
  "nodes.trustHostKey": {
    request: z.strictObject({
      nodeId: NodeIdRef,
      fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/),
      /** The one-time code the user typed, where the transport asks for one (the web host). */
      code: z.string().max(32).optional(),
    }),
    response: TrustHostKeyResponseSchema,
  },
  "inventory.list": { request: z.strictObject({ nodeId: NodeIdRef.optional() }), response: z.array(InstanceSummarySchema) },
  "instance.get": { request: InstanceKey, response: InstanceViewSchema },
  "runtime.get": { request: InstanceKey, response: RuntimeFileViewSchema },
  "hotplug.plan": { request: z.strictObject({ nodeId: NodeIdRef, instance: InstanceRef, intent: ChangeRequestSchema }), response: PlanPreviewSchema },
  "hotplug.execute": { request: z.strictObject({ planId: z.string().min(1).max(64) }), response: z.object({ operationId: z.string() }) },
  "activity.list": { request: z.strictObject({ nodeId: NodeIdRef.optional(), instance: InstanceRef.optional() }), response: z.array(ActivityEntrySchema) },
  /** The clusters the app's ready nodes belong to. */
  "cluster.list": { request: Empty, response: ClusterListSchema },
  /** Reads the node's cluster afresh (ssconf, known_hosts, config.data), with every instance three ways and the nodes the app could add. */
  "cluster.discover": { request: NodeRef, response: ClusterDiscoverySchema },
  /** Adds other nodes of the node's cluster with its credentials; each connects, and an unknown host key still waits for the user's trust. */
  "cluster.addNodes": {
    request: z.strictObject({ nodeId: NodeIdRef, names: z.array(z.string().min(1).max(253)).min(1).max(1000) }),
    response: AddClusterNodesResponseSchema,
  },
  /** kind "ganeti": the local Ganeti cluster (its nodes are added; the master answers). */
  "lab.start": { request: z.strictObject({ kind: z.enum(["node", "ganeti"]).optional() }), response: NodeViewSchema },
} as const;

export type Channel = keyof typeof contract;
export type Request<C extends Channel> = z.input<(typeof contract)[C]["request"]>;
export type Response<C extends Channel> = z.infer<(typeof contract)[C]["response"]>;

/** Events main pushes to the UI. */
export const events = {
  "node.status": NodeStatusSchema,
  "inventory.changed": z.object({ nodeId: z.string(), instance: z.string().optional() }),
  "operation.progress": OperationProgressSchema,
  "operation.outcome": OperationOutcomeSchema,
  "activity.added": ActivityEntrySchema,
} as const;

export type EventName = keyof typeof events;
export type EventPayload<E extends EventName> = z.infer<(typeof events)[E]>;

/**
 * The API the UI's code uses, identical on both transports (over Electron
 * it wraps the preload's window.api: see shared/ipc/transport.ts).
 */
export interface HotplugDeskApi {
  call<C extends Channel>(channel: C, request: Request<C>): Promise<Response<C>>;
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}

export function isChannel(value: unknown): value is Channel {
  return typeof value === "string" && Object.hasOwn(contract, value);
}
