// What the app shows for one instance: its state, its runtime file, and its
// PCI and SCSI buses as the file and the live bus each see them. This is the
// shape that crosses IPC and the CLI's --json output, so it is a zod schema.
import { z } from "zod";
import { GenerationSchema } from "../runtime/generation";
import { NodeVersionSchema } from "../ganeti/node-version";
import { CombinationCountsSchema, ThreeWayDeviceSchema, countCombinations } from "./three-way";

export const SlotReasonSchema = z.object({
  code: z.enum(["reserved-by-qemu", "taken-live", "taken-file", "out-of-range", "wrong-bus", "pending"]),
  message: z.string(),
});

export const DriftSchema = z.enum(["file-only", "live-only", "id-mismatch"]);

export const LivePciDeviceViewSchema = z.object({
  slot: z.number().int(),
  function: z.number().int(),
  qdevId: z.string(),
  vendorId: z.number().int(),
  deviceId: z.number().int(),
  classDesc: z.string().nullable(),
  classCode: z.number().int(),
  isBridge: z.boolean(),
  /** "virtio-net-pci 'nic-…'" or "VGA controller 1234:1111". */
  label: z.string(),
});

export const FileSlotViewSchema = z.object({ slot: z.number().int(), deviceId: z.string() });

export const PciSlotViewSchema = z.object({
  slot: z.number().int().min(0).max(31),
  state: z.enum(["free", "reserved", "pending", "taken-live", "taken-file", "taken-both"]),
  reserved: z.boolean(),
  reasons: z.array(SlotReasonSchema),
  liveDevices: z.array(LivePciDeviceViewSchema),
  fileDevices: z.array(FileSlotViewSchema),
  drift: DriftSchema.optional(),
  driftNote: z.string().optional(),
});
export type PciSlotView = z.infer<typeof PciSlotViewSchema>;

export const ScsiTargetViewSchema = z.object({
  scsiId: z.number().int(),
  state: z.enum(["free", "pending", "taken-live", "taken-file", "taken-both"]),
  reasons: z.array(SlotReasonSchema),
  liveDevice: z.object({ scsiId: z.number().int(), qdevId: z.string(), driver: z.string().optional() }).optional(),
  fileDevice: z.object({ scsiId: z.number().int(), deviceId: z.string() }).optional(),
  drift: DriftSchema.optional(),
  driftNote: z.string().optional(),
});
export type ScsiTargetView = z.infer<typeof ScsiTargetViewSchema>;

export const DeviceViewSchema = z.object({
  kind: z.enum(["nic", "disk"]),
  /** Position in the runtime file's NIC or disk list. */
  index: z.number().int(),
  uuid: z.string().optional(),
  id: z.string().optional(),
  driver: z.string().optional(),
  bus: z.enum(["pci", "scsi", "none"]),
  slot: z.number().int().optional(),
  scsiId: z.number().int().optional(),
  /** "0000:00:10.0", as the guest sees it. */
  guestAddress: z.string().optional(),
  mac: z.string().optional(),
  link: z.string().optional(),
  mode: z.string().optional(),
  /** The disk's path on the node (Ganeti's instance-disks link, or a userspace URI). */
  path: z.string().optional(),
  sizeMiB: z.number().optional(),
  /** Present on the live bus at the recorded place (null: live bus unknown). */
  live: z.boolean().nullable(),
  /** Why it cannot be hot-removed, if it cannot. */
  removeBlocker: z.string().optional(),
  /** Whether Ganeti's configuration has it (by uuid); null: the configuration was not read. */
  config: z.boolean().nullable().optional(),
});
export type DeviceView = z.infer<typeof DeviceViewSchema>;

export const InstanceRunStateSchema = z.enum(["running", "paused", "stopped", "user-shutdown", "busy", "unreachable"]);
export type InstanceRunState = z.infer<typeof InstanceRunStateSchema>;

export const InstanceViewSchema = z.object({
  node: z.string(),
  name: z.string(),
  state: InstanceRunStateSchema,
  /** Why the state is what it is, when that is not obvious (busy, unreachable). */
  stateDetail: z.string().optional(),
  qemuVersion: z.string().optional(),
  generation: GenerationSchema.optional(),
  /** The runtime file could not be read or parsed; what and why. */
  runtimeError: z.string().optional(),
  notes: z.array(z.object({ rule: z.string(), detail: z.string() })),
  reservedCount: z.number().int(),
  reservationNote: z.string(),
  /** Whether the live bus was read (false: stopped, busy, unreachable). */
  liveChecked: z.boolean(),
  pci: z.array(PciSlotViewSchema),
  scsi: z.array(ScsiTargetViewSchema),
  /** Whether the live bus has a SCSI controller (scsi.0). */
  scsiController: z.boolean().nullable(),
  devices: z.array(DeviceViewSchema),
  drift: z.array(z.object({ bus: z.enum(["pci", "scsi"]), at: z.number().int(), kind: DriftSchema, note: z.string() })),
  /** The node's Ganeti version the view was judged by, and where it came from ("assumed": from the runtime file). */
  ganetiVersion: NodeVersionSchema.optional(),
  /** The instance in its Ganeti cluster; absent on a node that belongs to none (no ssconf). */
  ganeti: z
    .object({
      cluster: z.string(),
      /** known: Ganeti's configuration has the instance; absent: it has not; unknown: config.data was not read. */
      config: z.enum(["known", "absent", "unknown"]),
      /** Why, when not known. */
      configNote: z.string().optional(),
      primaryNode: z.string().optional(),
    })
    .optional(),
  /** Every device as Ganeti's configuration, the runtime file and the live bus see it, with the consequence. */
  threeWay: z.array(ThreeWayDeviceSchema),
});
export type InstanceView = z.infer<typeof InstanceViewSchema>;

export const InstanceSummarySchema = InstanceViewSchema.pick({
  node: true,
  name: true,
  state: true,
  stateDetail: true,
  qemuVersion: true,
  generation: true,
  runtimeError: true,
}).extend({
  nics: z.number().int(),
  disks: z.number().int(),
  driftCount: z.number().int(),
  /** Devices per three-way combination (for fleet filters). */
  devicesBy: CombinationCountsSchema,
  /** Devices whose presence in Ganeti's configuration is unknown (config.data not read). */
  configUnknown: z.number().int(),
  cluster: z.string().optional(),
});
export type InstanceSummary = z.infer<typeof InstanceSummarySchema>;

export function summarize(v: InstanceView): InstanceSummary {
  return {
    node: v.node,
    name: v.name,
    state: v.state,
    stateDetail: v.stateDetail,
    qemuVersion: v.qemuVersion,
    generation: v.generation,
    runtimeError: v.runtimeError,
    nics: v.devices.filter((d) => d.kind === "nic").length,
    disks: v.devices.filter((d) => d.kind === "disk").length,
    driftCount: v.drift.length,
    devicesBy: countCombinations(v.threeWay),
    configUnknown: v.threeWay.filter((d) => d.where.config === null).length,
    ...(v.ganeti ? { cluster: v.ganeti.cluster } : {}),
  };
}

