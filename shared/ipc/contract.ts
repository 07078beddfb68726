// The one API between the UI and the main process. Both transports (Electron
// IPC and the loopback web host) carry exactly these channels, and main
// validates every request with these schemas before anything else runs.
import { z } from "zod";
import { AddNodeRequestSchema, DiskPathAllowSchema, NodeConfigSchema, NodeStatusSchema } from "../node-registry/schema";
import { InstanceSummarySchema, InstanceViewSchema } from "../inventory/view";
import { GenerationSchema } from "../runtime/generation";
import { ChangeRequestSchema } from "../hotplug/change-request";
import { PlanStepSchema, PlannedSlotSchema } from "../hotplug/steps";
import { StepProgressSchema } from "../hotplug/progress";
import { ChangeOutcomeSchema } from "../hotplug/outcome";

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
