/**
 * What an admin asks for: add a NIC, add a disk, remove a device, modify a
 * NIC. Validated here so the planner only ever sees well-formed values, and
 * every rejection says what is wrong and what a good value looks like.
 */
import { z } from "zod";
import { parsePciAddr } from "../slots";

/** Ganeti uuids are lowercase 8-4-4-4-12; device ids are derived from their groups. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const UuidSchema = z
  .string({ error: "expected a uuid string" })
  .regex(UUID_RE, { error: 'expected a lowercase uuid like "9e7c85f6-b6e5-4243-b27d-680b78c6d203" (Ganeti derives the QEMU device id from it)' });

/**
 * A unicast MAC in colon form. Stored lowercase, as Ganeti writes it. A
 * multicast address (low bit of the first octet set) is rejected: QEMU takes
 * it, but the guest's NIC would never receive unicast frames.
 */
export const MacSchema = z
  .string({ error: "expected a MAC address string" })
  .regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/, { error: 'expected a MAC address in colon form, e.g. "aa:00:00:12:34:56"' })
  .transform((s) => s.toLowerCase())
  .refine((s) => (parseInt(s.slice(0, 2), 16) & 1) === 0, {
    error: "expected a unicast MAC: the first octet is odd, which makes it multicast (use e.g. aa:… or 02:…)",
  })
  .refine((s) => s !== "00:00:00:00:00:00", { error: "00:00:00:00:00:00 is not a usable MAC address" });

/** A bridge / OVS switch / routing table name: a Linux interface name at most. */
export const LinkSchema = z
  .string({ error: "expected a link name" })
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, { error: 'expected a link name of 1-15 letters, digits, "_", "." or "-" (a bridge like "br0", an OVS switch, or a routing table)' });

export const NicModeSchema = z.enum(["bridged", "openvswitch", "routed"], {
  error: 'expected mode "bridged", "openvswitch" or "routed"',
});

/** Ganeti's nicparams vlan: "" (none), ".100" (untagged), ":100:200" (trunk), ".100:200". */
export const VlanSchema = z
  .string({ error: "expected a vlan string" })
  .regex(/^$|^[.:]?\d{1,4}([:]\d{1,4})*$/, { error: 'expected a Ganeti vlan like "", "100", ".100" (untagged) or ":100:200" (tagged)' });

/** nic_type values (HT_KVM_VALID_NIC_TYPES). */
export const NIC_TYPES = ["e1000", "i82551", "i82559er", "i82557b", "ne2k_isa", "ne2k_pci", "paravirtual", "pcnet", "rtl8139"] as const;
/** Ganeti 2.16+ _HOTPLUGGABLE_DEVICE_TYPES for NICs: all but the ISA card. */
export const HOTPLUGGABLE_NIC_TYPES: readonly string[] = NIC_TYPES.filter((t) => t !== "ne2k_isa");
/** Ganeti 2.16+ _HOTPLUGGABLE_DEVICE_TYPES for disks. */
export const HOTPLUGGABLE_DISK_TYPES: readonly string[] = ["paravirtual", "scsi-block", "scsi-generic", "scsi-hd", "scsi-cd"];
/** HT_SCSI_DEVICE_TYPES: disk types that sit on scsi.0. */
export const SCSI_DISK_TYPES: readonly string[] = ["scsi-generic", "scsi-block", "scsi-cd", "scsi-hd"];

export const NicModelSchema = z.enum(NIC_TYPES, { error: `expected a nic_type: ${NIC_TYPES.join(", ")}` });

/** A PCI slot as a number (0-31) or Ganeti/QEMU hex text ("0x10"); bare digit strings are ambiguous. */
export const SlotSchema = z.union([z.int(), z.string()], { error: 'expected a PCI slot: a number 0-31 or hex like "0x10"' }).transform((v, ctx) => {
  if (typeof v === "number") {
    if (v < 0 || v > 31) {
      ctx.addIssue({ code: "custom", message: `PCI slot ${v} does not exist: pci.0 has slots 0-31 (0x00-0x1f)` });
      return z.NEVER;
    }
    return v;
  }
  const r = parsePciAddr(v);
  if (!r.ok) {
    ctx.addIssue({ code: "custom", message: r.message });
    return z.NEVER;
  }
  return r.slot;
});

export const ScsiIdSchema = z.int({ error: "expected a SCSI target id 0-15" }).min(0, { error: "expected a SCSI target id 0-15" }).max(15, { error: "expected a SCSI target id 0-15 (Ganeti manages 16 targets on scsi.0)" });

/**
 * A file or block device path on the node. Commas are refused because
 * Ganeti restarts (and migration targets start) the disk with
 * `-drive file=<path>,…`, where a comma would split the option.
 */
export const NodePathSchema = z
  .string({ error: "expected an absolute path on the node" })
  .min(2, { error: "expected an absolute path on the node, e.g. /dev/vg0/data or /srv/disks/data.img" })
  .refine((p) => p.startsWith("/"), { error: "expected an absolute path (starting with /) on the node" })
  .refine((p) => !/[\0\n\r]/.test(p), { error: "the path contains a NUL or newline character" })
  .refine((p) => !p.includes(","), { error: "the path contains a comma: QEMU's -drive file=… option (used when Ganeti restarts or migrates the instance) would split it; rename or symlink the file" })
  .refine((p) => !p.split("/").includes(".."), { error: 'the path contains "..": give the real path' })
  .refine((p) => !p.endsWith("/"), { error: "the path ends with /: expected a file or block device, not a directory" });

export const AddNicIntentSchema = z
  .strictObject({
    action: z.literal("add-nic"),
    uuid: UuidSchema,
    mac: MacSchema,
    link: LinkSchema.optional(),
    mode: NicModeSchema.optional(),
    vlan: VlanSchema.optional(),
    /** nic_type of the new NIC (default: the instance's hvparams nic_type). */
    model: NicModelSchema.optional(),
    slot: SlotSchema.optional(),
    /** Tap name on the node (default: derived from the uuid). */
    tap: LinkSchema.optional(),
  })
  .superRefine((v, ctx) => {
    if ((v.mode ?? "bridged") !== "routed" && v.link === undefined) {
      ctx.addIssue({ code: "custom", path: ["link"], message: `a ${v.mode ?? "bridged"} NIC needs a link (the ${v.mode === "openvswitch" ? "OVS switch" : "bridge"} to attach the tap to, e.g. "br0")` });
    }
  });
export type AddNicIntent = z.infer<typeof AddNicIntentSchema>;

export const AddDiskIntentSchema = z
  .strictObject({
    action: z.literal("add-disk"),
    uuid: UuidSchema,
    path: NodePathSchema,
    bus: z.enum(["pci", "scsi"], { error: 'expected bus "pci" (virtio-blk) or "scsi" (on scsi.0)' }),
    slot: SlotSchema.optional(),
    scsiId: ScsiIdSchema.optional(),
    sizeMiB: z.int({ error: "expected the size in MiB (integer)" }).min(0, { error: "expected a size in MiB >= 0" }).optional(),
    /** File or block device; default: block when the path is under /dev/. */
    pathKind: z.enum(["file", "block"]).optional(),
    /**
     * A disk Ganeti's configuration has (recorded just before): its template,
     * its index there and where its storage is, for the runtime file's entry
     * as Ganeti writes it; `path` is then its instance-disks link.
     */
    recordedAs: z.strictObject({ devType: z.enum(["file", "sharedfile"]), index: z.int().min(0), storagePath: z.string().startsWith("/") }).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.bus === "pci" && v.scsiId !== undefined) ctx.addIssue({ code: "custom", path: ["scsiId"], message: "scsiId is for bus scsi; a PCI disk takes a slot" });
    if (v.bus === "scsi" && v.slot !== undefined) ctx.addIssue({ code: "custom", path: ["slot"], message: "slot is for bus pci; a SCSI disk takes a scsiId (0-15)" });
  });
export type AddDiskIntent = z.infer<typeof AddDiskIntentSchema>;

/** A device reference: its uuid, or the QEMU id it runs with (hvinfo.id). */
export const DeviceRefSchema = z
  .string({ error: "expected a device uuid or device id" })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'expected a device uuid or QEMU device id such as "nic-9e7c85f6-b6e5-4243"' });

export const RemoveIntentSchema = z.strictObject({
  action: z.literal("remove"),
  kind: z.enum(["nic", "disk"], { error: 'expected kind "nic" or "disk"' }),
  ref: DeviceRefSchema,
  /** A NIC: if a later part of the change fails, plug it back at its slot (adopt re-plugs it under another id). */
  restoreOnUndo: z.boolean().optional(),
});
export type RemoveIntent = z.infer<typeof RemoveIntentSchema>;

/** Ganeti's hot-modify: the NIC is removed and added again at the same slot. */
export const ModifyNicIntentSchema = z
  .strictObject({
    action: z.literal("modify-nic"),
    ref: DeviceRefSchema,
    mac: MacSchema.optional(),
    link: LinkSchema.optional(),
    tap: LinkSchema.optional(),
  })
  .refine((v) => v.mac !== undefined || v.link !== undefined, { error: "nothing to modify: give a new mac and/or link" });
export type ModifyNicIntent = z.infer<typeof ModifyNicIntentSchema>;

/**
 * A NIC change in Ganeti's configuration, made by Ganeti on the master:
 * add records a NIC (configuration only; `uuid` is provisional, the add-nic
 * intent after it uses the same one until Ganeti names its own); remove and
 * modify act on a NIC Ganeti knows, by its uuid, through Ganeti's own
 * hotplug (`hotplug`) or in the configuration only.
 */
export const GanetiNicIntentSchema = z
  .strictObject({
    action: z.literal("ganeti-nic"),
    op: z.enum(["add", "remove", "modify"], { error: 'expected op "add", "remove" or "modify"' }),
    uuid: UuidSchema,
    mac: MacSchema.optional(),
    link: LinkSchema.optional(),
    mode: NicModeSchema.optional(),
    vlan: VlanSchema.optional(),
    hotplug: z.boolean().optional(),
    /** The master's name, for people. */
    master: z.string().max(253).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.op === "add" && v.mac === undefined) ctx.addIssue({ code: "custom", path: ["mac"], message: "a NIC Ganeti records needs its MAC (it finds the NIC by it)" });
    if (v.op === "add" && v.hotplug) ctx.addIssue({ code: "custom", path: ["hotplug"], message: "a NIC is recorded in Ganeti's configuration only; the hot-add at the chosen slot is the add-nic that follows" });
    if (v.op === "add" && (v.mode ?? "bridged") !== "routed" && v.link === undefined) ctx.addIssue({ code: "custom", path: ["link"], message: "a bridged or openvswitch NIC needs a link" });
    if (v.op === "modify" && v.mac === undefined && v.link === undefined) ctx.addIssue({ code: "custom", message: "nothing to modify: give a new mac and/or link" });
  });
export type GanetiNicIntent = z.infer<typeof GanetiNicIntentSchema>;

/**
 * A disk change in Ganeti's configuration, made by Ganeti on the master:
 * add records a new disk of `sizeMiB` (configuration only; Ganeti creates
 * its storage and names its uuid, `uuid` is provisional as for a NIC) at
 * `index` (the number of disks it has); remove takes a disk Ganeti knows
 * out through its own hotplug, which deletes its storage.
 */
export const GanetiDiskIntentSchema = z
  .strictObject({
    action: z.literal("ganeti-disk"),
    op: z.enum(["add", "remove"], { error: 'expected op "add" or "remove"' }),
    uuid: UuidSchema,
    sizeMiB: z.int({ error: "expected the size in MiB (integer)" }).min(1, { error: "expected a size of at least 1 MiB" }).optional(),
    index: z.int().min(0).optional(),
    /** The master's name, for people. */
    master: z.string().max(253).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.op === "add" && v.sizeMiB === undefined) ctx.addIssue({ code: "custom", path: ["sizeMiB"], message: "a disk Ganeti creates needs its size in MiB" });
    if (v.op === "add" && v.index === undefined) ctx.addIssue({ code: "custom", path: ["index"], message: "a disk Ganeti records needs the index it gets (the number of disks its configuration has)" });
  });
export type GanetiDiskIntent = z.infer<typeof GanetiDiskIntentSchema>;

/**
 * The repairs of a drift among the three sources (shared/hotplug/repair.ts
 * says which apply where): adopt (live and in the file, into Ganeti's
 * configuration), record (live, into the file), unplug (live, off the bus),
 * replug (in the file, back on the bus), forget (out of the file), plug (only
 * in Ganeti's configuration, onto the bus), unrecord (out of Ganeti's
 * configuration).
 */
export const REPAIR_KINDS = ["adopt", "record", "unplug", "replug", "forget", "plug", "unrecord"] as const;
export const RepairKindSchema = z.enum(REPAIR_KINDS, { error: `expected a repair: ${REPAIR_KINDS.join(", ")}` });
export type RepairKind = z.infer<typeof RepairKindSchema>;

/**
 * Repairs of a drift between the runtime file and the live bus (see
 * shared/hotplug/repair.ts), each acting on one source only:
 * - replug: a device the runtime file records but the live bus lacks is
 *   plugged again live, at its recorded slot, under its recorded id;
 * - forget: such a device is dropped from the runtime file (and its nic file);
 * - record-nic: a NIC on the live bus that the runtime file lacks is written
 *   into the file at its live slot under its live id;
 * - unplug: a device on the live bus that the runtime file lacks is unplugged.
 */
export const ReplugIntentSchema = z.strictObject({ action: z.literal("replug"), kind: z.enum(["nic", "disk"], { error: 'expected kind "nic" or "disk"' }), ref: DeviceRefSchema });
export type ReplugIntent = z.infer<typeof ReplugIntentSchema>;
export const ForgetIntentSchema = z.strictObject({ action: z.literal("forget"), kind: z.enum(["nic", "disk"], { error: 'expected kind "nic" or "disk"' }), ref: DeviceRefSchema });
export type ForgetIntent = z.infer<typeof ForgetIntentSchema>;
export const RecordNicIntentSchema = z
  .strictObject({
    action: z.literal("record-nic"),
    /** The QEMU id it runs with on the live bus. */
    id: DeviceRefSchema,
    uuid: UuidSchema,
    mac: MacSchema,
    link: LinkSchema.optional(),
    mode: NicModeSchema.optional(),
    vlan: VlanSchema.optional(),
  })
  .superRefine((v, ctx) => {
    if ((v.mode ?? "bridged") !== "routed" && v.link === undefined) ctx.addIssue({ code: "custom", path: ["link"], message: "a bridged or openvswitch NIC needs its link (the bridge its tap is on)" });
  });
export type RecordNicIntent = z.infer<typeof RecordNicIntentSchema>;
export const UnplugIntentSchema = z.strictObject({ action: z.literal("unplug"), id: DeviceRefSchema });
export type UnplugIntent = z.infer<typeof UnplugIntentSchema>;

export const HotplugIntentSchema = z.discriminatedUnion(
  "action",
  [
    AddNicIntentSchema,
    AddDiskIntentSchema,
    RemoveIntentSchema,
    ModifyNicIntentSchema,
    GanetiNicIntentSchema,
    GanetiDiskIntentSchema,
    ReplugIntentSchema,
    ForgetIntentSchema,
    RecordNicIntentSchema,
    UnplugIntentSchema,
  ],
  {
    error: 'expected an intent with action "add-nic", "add-disk", "remove", "modify-nic", "ganeti-nic", "ganeti-disk", "replug", "forget", "record-nic" or "unplug"',
  },
);
export type HotplugIntent = z.infer<typeof HotplugIntentSchema>;
/** What callers write before validation (slots may still be hex strings). */
export type HotplugIntentInput = z.input<typeof HotplugIntentSchema>;

/** Validation messages as "field: message" lines. */
export function intentIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message));
}

export type ParseIntentResult = { ok: true; intent: HotplugIntent } | { ok: false; issues: string[] };

export function parseIntent(value: unknown): ParseIntentResult {
  const r = HotplugIntentSchema.safeParse(value);
  return r.success ? { ok: true, intent: r.data } : { ok: false, issues: intentIssues(r.error) };
}
