// The one API between the UI and the main process. Both transports (Electron
// IPC and the loopback web host) carry exactly these channels, and main
// validates every request with these schemas before anything else runs.
import { z } from "zod";
import { AddNodeRequestSchema, NodeConfigSchema, NodeStatusSchema } from "../node-registry/schema";
import { InstanceSummarySchema, InstanceViewSchema } from "../inventory/view";
import { GenerationSchema } from "../runtime/generation";
import { DeviceRefSchema, LinkSchema, MacSchema, NicModelSchema, NodePathSchema, ScsiIdSchema, SlotSchema } from "../hotplug/intent";

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
 * What the UI asks for. Main adds what must not come from the renderer or
 * from shared/ (new uuids, generated MACs) before planning.
 */
export const UiIntentSchema = z.discriminatedUnion("action", [
  z.strictObject({
    action: z.literal("add-nic"),
    slot: SlotSchema.optional(),
    mac: MacSchema.optional(),
    link: LinkSchema.optional(),
    model: NicModelSchema.optional(),
  }),
  z.strictObject({
    action: z.literal("add-disk"),
    path: NodePathSchema,
    bus: z.enum(["pci", "scsi"]),
    slot: SlotSchema.optional(),
    scsiId: ScsiIdSchema.optional(),
  }),
  z.strictObject({ action: z.literal("remove"), kind: z.enum(["nic", "disk"]), ref: DeviceRefSchema }),
  z.strictObject({ action: z.literal("modify-nic"), ref: DeviceRefSchema, mac: MacSchema.optional(), link: LinkSchema.optional() }),
  /** Move a NIC to another slot: Ganeti's remove + add, keeping its MAC and uuid. */
  z.strictObject({ action: z.literal("move-nic"), ref: DeviceRefSchema, slot: SlotSchema }),
]);
export type UiIntent = z.infer<typeof UiIntentSchema>;
export type UiIntentInput = z.input<typeof UiIntentSchema>;

export const PlanStepViewSchema = z.object({
  kind: z.string(),
  describe: z.string(),
  /** The exact step (QMP command and arguments, node-side action). */
  detail: z.record(z.string(), z.unknown()),
});

export const PlanPreviewSchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    planId: z.string(),
    nodeId: z.string(),
    instance: z.string(),
    summary: z.string(),
    steps: z.array(PlanStepViewSchema),
    writeGeneration: GenerationSchema,
    fileDiff: z.array(z.string()),
    slot: z.object({ bus: z.enum(["pci", "scsi"]), slot: z.number().int().optional(), scsiId: z.number().int().optional(), guestAddress: z.string() }),
    warnings: z.array(z.string()),
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

export const StepStateSchema = z.enum(["pending", "running", "done", "failed", "undoing", "undone", "waiting-guest"]);

export const OperationProgressSchema = z.object({
  operationId: z.string(),
  planId: z.string(),
  nodeId: z.string(),
  instance: z.string(),
  index: z.number().int(),
  total: z.number().int(),
  kind: z.string(),
  describe: z.string(),
  state: StepStateSchema,
  message: z.string().optional(),
});
export type OperationProgress = z.infer<typeof OperationProgressSchema>;

export const OperationOutcomeSchema = z.object({
  operationId: z.string(),
  planId: z.string(),
  nodeId: z.string(),
  instance: z.string(),
  outcome: z.enum(["succeeded", "failed"]),
  message: z.string(),
  /** What was undone after a failure, in order. */
  undone: z.array(z.string()),
  failedStep: z.string().optional(),
});
export type OperationOutcome = z.infer<typeof OperationOutcomeSchema>;

export const ActivityEntrySchema = z.object({
  id: z.string(),
  at: z.number(),
  nodeId: z.string(),
  instance: z.string().optional(),
  summary: z.string(),
  planId: z.string().optional(),
  outcome: z.enum(["succeeded", "failed", "refused", "info"]),
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
  "nodes.trustHostKey": { request: z.strictObject({ nodeId: NodeIdRef, fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/) }), response: NodeViewSchema },
  "inventory.list": { request: z.strictObject({ nodeId: NodeIdRef.optional() }), response: z.array(InstanceSummarySchema) },
  "instance.get": { request: InstanceKey, response: InstanceViewSchema },
  "runtime.get": { request: InstanceKey, response: RuntimeFileViewSchema },
  "hotplug.plan": { request: z.strictObject({ nodeId: NodeIdRef, instance: InstanceRef, intent: UiIntentSchema }), response: PlanPreviewSchema },
  "hotplug.execute": { request: z.strictObject({ planId: z.string().min(1).max(64) }), response: z.object({ operationId: z.string() }) },
  "activity.list": { request: z.strictObject({ nodeId: NodeIdRef.optional(), instance: InstanceRef.optional() }), response: z.array(ActivityEntrySchema) },
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

/** The API object the UI sees (window.api), identical on both transports. */
export interface HotplugDeskApi {
  call<C extends Channel>(channel: C, request: Request<C>): Promise<Response<C>>;
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}

/** An error that crossed the transport: the message is for people. */
export const ApiErrorSchema = z.object({ message: z.string(), code: z.string().optional() });

export function isChannel(value: unknown): value is Channel {
  return typeof value === "string" && Object.hasOwn(contract, value);
}
