/**
 * The plan the executor runs, step by step, in order. Every step carries
 * `describe`, one sentence for the preview ("what will happen"), so the UI
 * shows exactly what the executor does. The schemas are the types: a plan
 * crosses the contract to the review dialog as these steps, typed by kind.
 */
import { z } from "zod";
import { GenerationSchema } from "../runtime/generation";
import { argvText } from "../ganeti/config-change";

/** A QMP command exactly as it goes on the wire (`{"execute": command, "arguments": arguments}`). */
export const QmpCallSchema = z.object({
  command: z.string(),
  arguments: z.record(z.string(), z.unknown()),
});
export type QmpCall = z.infer<typeof QmpCallSchema>;

/**
 * In a node-pass-fd step's commands, a string argument equal to this is
 * replaced by the fdset id `add-fd` returned (as a number), and inside a
 * longer string (`/dev/fdset/{fdset-id}`) by its decimal text.
 */
export const FDSET_PLACEHOLDER = "{fdset-id}";

export const QmpStepSchema = z.object({
  kind: z.literal("qmp"),
  ...QmpCallSchema.shape,
  /** What undoes this command if a later step fails. */
  undo: QmpCallSchema.optional(),
  /**
   * True when "not found" from QEMU is success: a disk started with -drive
   * loses its block backend together with its device, so blockdev-del has
   * nothing left to delete.
   */
  tolerateMissing: z.boolean().optional(),
  describe: z.string(),
});
export type QmpStep = z.infer<typeof QmpStepSchema>;

/** Create a persistent tap (ip tuntap add … mode tap vnet_hdr), attach it per mode, set it up. */
export const NodeTapCreateStepSchema = z.object({
  kind: z.literal("node-tap-create"),
  /** Interface name, at most 15 characters. */
  tap: z.string(),
  /** Bridge (bridged), OVS switch (openvswitch) or routing table (routed); "" for none. */
  link: z.string(),
  mode: z.enum(["bridged", "openvswitch", "routed"]),
  /** Ganeti nicparams vlan ("" for none). */
  vlan: z.string(),
  describe: z.string(),
});
export type NodeTapCreateStep = z.infer<typeof NodeTapCreateStepSchema>;

/** Delete the tap if it still exists (a tap Ganeti opened vanishes with its netdev). */
export const NodeTapRemoveStepSchema = z.object({
  kind: z.literal("node-tap-remove"),
  /** null when the name is unknown: read it from nic/<instance>/<seq>. */
  tap: z.string().nullable(),
  seq: z.number().int(),
  describe: z.string(),
});
export type NodeTapRemoveStep = z.infer<typeof NodeTapRemoveStepSchema>;

export const FdSourceSchema = z.discriminatedUnion("type", [
  /** Open /dev/net/tun, TUNSETIFF to this tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR); with vhost also /dev/vhost-net. */
  z.object({ type: z.literal("tap"), tap: z.string(), vhost: z.boolean() }),
  /** open(path, O_RDWR) on the node, as root. */
  z.object({ type: z.literal("path"), path: z.string() }),
]);
export type FdSource = z.infer<typeof FdSourceSchema>;

/**
 * File descriptors travel with SCM_RIGHTS over a local UNIX socket, so this
 * runs on the node (python3 over SSH), connected to ctrl/<instance>.qmp:
 * greeting, qmp_capabilities, then for each fd one byte " " with the fd in
 * SCM_RIGHTS followed by `getfd {fdname}` (per fdnames) or `add-fd`.
 * `commands` run in that same QMP connection, because QEMU keeps getfd
 * names per monitor connection and drops an add-fd set when the adding
 * connection closes before a block device holds it. The executor's own QMP
 * session must be closed meanwhile (.qmp takes one client at a time).
 */
export const NodePassFdStepSchema = z.object({
  kind: z.literal("node-pass-fd"),
  mechanism: z.enum(["getfd", "add-fd"]),
  socket: z.literal("qmp"),
  source: FdSourceSchema,
  /** getfd names, in the order the fds are sent (tap fd first, then vhost). */
  fdnames: z.array(z.string()),
  commands: z.array(QmpStepSchema),
  describe: z.string(),
});
export type NodePassFdStep = z.infer<typeof NodePassFdStepSchema>;

/** Done on DEVICE_DELETED for this id, or when the id leaves query-pci; DEVICE_UNPLUG_GUEST_ERROR fails. */
export const WaitDeviceDeletedStepSchema = z.object({
  kind: z.literal("wait-device-deleted"),
  id: z.string(),
  /** Give up after this long; the removal is then NOT recorded. */
  timeoutMs: z.number().int(),
  /**
   * What plugs the released device back where it was if a later step fails
   * (a NIC re-plugged under another id, as adopt does): without it, a
   * released device stays released.
   */
  restore: z.array(z.discriminatedUnion("kind", [QmpStepSchema, NodeTapRemoveStepSchema, NodeTapCreateStepSchema, NodePassFdStepSchema])).optional(),
  describe: z.string(),
});
export type WaitDeviceDeletedStep = z.infer<typeof WaitDeviceDeletedStepSchema>;

export const VerifyStepSchema = z.object({
  kind: z.literal("verify"),
  expect: z.enum(["present", "absent"]),
  id: z.string(),
  bus: z.enum(["pci", "scsi"]),
  /** PCI: the slot the device must occupy (present). */
  slot: z.number().int().optional(),
  /** SCSI: the target id (present). */
  scsiId: z.number().int().optional(),
  describe: z.string(),
});
export type VerifyStep = z.infer<typeof VerifyStepSchema>;

/** Ganeti's bookkeeping file nic/<instance>/<seq> holding the tap name. */
export const NodeNicFileStepSchema = z.object({
  kind: z.literal("node-nic-file"),
  action: z.enum(["write", "remove"]),
  instance: z.string(),
  seq: z.number().int(),
  tap: z.string().optional(),
  describe: z.string(),
});
export type NodeNicFileStep = z.infer<typeof NodeNicFileStepSchema>;

/**
 * Replace conf/<instance>.runtime with the plan's fileTextAfter (temp +
 * fsync + rename, 0600) only if the file still holds the bytes the plan
 * was made from.
 */
export const WriteRuntimeStepSchema = z.object({
  kind: z.literal("write-runtime"),
  instance: z.string(),
  generation: GenerationSchema,
  describe: z.string(),
});
export type WriteRuntimeStep = z.infer<typeof WriteRuntimeStepSchema>;

/**
 * A change to Ganeti's configuration, made on the master with its own
 * command (an argument vector; see shared/ganeti/config-change.ts).
 * - add-nic records a NIC without --hotplug (configuration only). Ganeti
 *   gives it a uuid: every later step and the runtime file then take that
 *   uuid (and the QEMU id and tap name derived from it) in place of `uuid`,
 *   which is provisional until then. Undone by removing it from the
 *   configuration again (configuration only), found by uuid, else by MAC.
 * - remove-nic and modify-nic act on a NIC Ganeti knows, by its uuid. With
 *   `hotplug` Ganeti changes the running instance and saves its runtime
 *   file itself; that cannot be undone.
 * - add-disk records a new disk without --hotplug: Ganeti creates its
 *   storage and gives it a uuid (provisional here, as for a NIC), then its
 *   disks are assembled (activate-disks) so its instance-disks link exists;
 *   it must land at `index`. Undone by Ganeti's hot-remove of it, which
 *   deletes the storage it created (found by uuid, else as the disk that
 *   was not there before the job).
 * - remove-disk takes a disk Ganeti knows out through its own hotplug: its
 *   storage is deleted; that cannot be undone.
 */
export const GanetiConfigStepSchema = z.object({
  kind: z.literal("ganeti-config"),
  op: z.enum(["add-nic", "remove-nic", "modify-nic", "add-disk", "remove-disk"]),
  instance: z.string(),
  /** The master it runs on, as known when planned (for people). */
  master: z.string().optional(),
  hotplug: z.boolean(),
  argv: z.array(z.string()),
  /** The device's uuid (add-nic, add-disk: provisional, see above). */
  uuid: z.string(),
  /** add-nic: the MAC that finds the NIC in Ganeti's configuration. */
  mac: z.string().optional(),
  /** add-disk: the index the disk gets in Ganeti's configuration. */
  index: z.number().int().optional(),
  /** What undoes it, for people; absent: it cannot be undone. */
  undo: z.string().optional(),
  describe: z.string(),
});
export type GanetiConfigStep = z.infer<typeof GanetiConfigStepSchema>;

export const PlanStepSchema = z.discriminatedUnion("kind", [
  NodeTapCreateStepSchema,
  NodeTapRemoveStepSchema,
  NodePassFdStepSchema,
  QmpStepSchema,
  WaitDeviceDeletedStepSchema,
  VerifyStepSchema,
  NodeNicFileStepSchema,
  WriteRuntimeStepSchema,
  GanetiConfigStepSchema,
]);
export type PlanStep = z.infer<typeof PlanStepSchema>;
export type PlanStepKind = PlanStep["kind"];
/** One plan step of the given kind. */
export type PlanStepOf<K extends PlanStepKind> = Extract<PlanStep, { kind: K }>;

/** Where the added device goes (for a remove: where it was). */
export const PlannedSlotSchema = z.object({
  bus: z.enum(["pci", "scsi"]),
  /** PCI slot (bus pci). */
  slot: z.number().int().optional(),
  /** SCSI target (bus scsi); channel and lun are always 0. */
  scsiId: z.number().int().optional(),
  /** Guest-side: "0000:00:10.0" for PCI; "scsi.0 channel 0, target 3, lun 0" for SCSI. */
  guestAddress: z.string(),
});
export type PlannedSlot = z.infer<typeof PlannedSlotSchema>;

/** Every QMP command a plan sends, in order, including those sent inside a node-pass-fd step. */
export function qmpStepsOf(steps: readonly PlanStep[]): QmpStep[] {
  return steps.flatMap((s) => (s.kind === "qmp" ? [s] : s.kind === "node-pass-fd" ? s.commands : []));
}

/** A QMP call as QEMU receives it (arguments left out when there are none, as QEMU allows). */
export function qmpWireText(call: QmpCall): string {
  return JSON.stringify(Object.keys(call.arguments).length > 0 ? { execute: call.command, arguments: call.arguments } : { execute: call.command });
}

/**
 * A step as it goes on the wire, for people to check before they apply it:
 * a QMP step as QEMU receives it; a node-side fd pass as its request, then
 * each QMP command it sends after passing the fd, one per line; any other
 * step as its JSON (its sentence is shown beside it, so it is left out).
 */
export function stepWireText(step: PlanStep): string {
  switch (step.kind) {
    case "qmp":
      return qmpWireText(step);
    case "node-pass-fd": {
      const { describe: _d, commands, ...request } = step;
      return [JSON.stringify(request), ...commands.map(qmpWireText)].join("\n");
    }
    case "ganeti-config":
      return [`${step.master ? `on ${step.master}: ` : ""}${argvText(step.argv)}`, ...(step.undo ? [`undo: ${step.undo}`] : [])].join("\n");
    default: {
      const { describe: _d, ...rest } = step;
      return JSON.stringify(rest);
    }
  }
}
