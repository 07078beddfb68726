/**
 * zod schemas for the parts of a Ganeti KVM runtime file, and the in-memory
 * model (`Runtime`). Objects are loose: every key we do not model is kept.
 * The schemas validate the *plain* view of the file (see pyjson `toPlain`);
 * exact bytes (key order, float-ness) are recovered from the source text at
 * write time (write.ts).
 */
import { z } from "zod";

export const PCI_BUS = "pci.0";
export const SCSI_BUS = "scsi.0";
export const PCI_SLOTS = 32;
export const SCSI_SLOTS = 16;

/** `objects.NIC.__slots__` (2.16+), in ToDict order. */
export const NIC_SLOTS = ["name", "mac", "ip", "network", "nicparams", "netinfo", "pci", "hvinfo", "uuid"] as const;
/** `objects.Disk.__slots__` (2.16+ / 3.0), in ToDict order. */
export const DISK_SLOTS = [
  "forthcoming", "name", "dev_type", "logical_id", "children", "nodes", "iv_name", "size", "mode", "params",
  "spindles", "pci", "hvinfo", "serial_no", "dynamic_params", "uuid", "ctime", "mtime",
] as const;

const SLOT_MSG = "expected integer 0-31";
/** G-B `pci`: an integer PCI slot. */
export const PciSlotSchema = z.int({ error: SLOT_MSG }).min(0, { error: SLOT_MSG }).max(PCI_SLOTS - 1, { error: SLOT_MSG });

const ADDR_MSG = 'expected a PCI slot as a hex string "0x0"-"0x1f"';
/** G-C `hvinfo.addr`: Python `hex(slot)`; Ganeti parses it with int(x, 16). */
export const PciAddrSchema = z
  .string({ error: ADDR_MSG })
  .regex(/^0[xX][0-9a-fA-F]{1,2}$/, { error: ADDR_MSG })
  .refine((s) => parseInt(s, 16) < PCI_SLOTS, { error: ADDR_MSG });

const smallInt = (max: number, what: string) =>
  z.int({ error: `expected integer 0-${max} (${what})` }).min(0, { error: `expected integer 0-${max} (${what})` }).max(max, { error: `expected integer 0-${max} (${what})` });

/**
 * G-C `hvinfo`: `{}` (device not placed by Ganeti), or
 * PCI: `{driver, id, bus: "pci.0", addr}`, or
 * SCSI: `{driver, id, bus: "scsi.0", channel, "scsi-id", lun}`.
 */
export const HvinfoSchema = z
  .looseObject({
    driver: z.string().optional(),
    id: z.string().optional(),
    bus: z.string().optional(),
    addr: PciAddrSchema.optional(),
    channel: smallInt(0, "SCSI channel").optional(),
    "scsi-id": smallInt(SCSI_SLOTS - 1, "SCSI target").optional(),
    lun: smallInt(0, "SCSI lun").optional(),
  })
  .superRefine((h, ctx) => {
    if (Object.keys(h).length === 0) return;
    for (const k of ["driver", "id", "bus"] as const) {
      if (h[k] === undefined) ctx.addIssue({ code: "custom", path: [k], message: `missing (a non-empty hvinfo needs driver, id and bus)` });
    }
    if (h.bus === PCI_BUS) {
      if (h.addr === undefined) ctx.addIssue({ code: "custom", path: ["addr"], message: "missing: a device on pci.0 needs its slot (addr)" });
    } else if (h.bus === SCSI_BUS) {
      for (const k of ["channel", "scsi-id", "lun"] as const) {
        if (h[k] === undefined) ctx.addIssue({ code: "custom", path: [k], message: "missing: a device on scsi.0 needs channel, scsi-id and lun" });
      }
    } else if (h.bus !== undefined) {
      ctx.addIssue({ code: "custom", path: ["bus"], message: `expected "pci.0" or "scsi.0", got ${JSON.stringify(h.bus)}` });
    }
  });
export type Hvinfo = z.infer<typeof HvinfoSchema>;
export type PciHvinfo = Hvinfo & { driver: string; id: string; bus: "pci.0"; addr: string };
export type ScsiHvinfo = Hvinfo & { driver: string; id: string; bus: "scsi.0"; channel: number; "scsi-id": number; lun: number };

export function isPciHvinfo(h: Hvinfo | undefined): h is PciHvinfo {
  return !!h && h.bus === PCI_BUS && typeof h.addr === "string";
}
export function isScsiHvinfo(h: Hvinfo | undefined): h is ScsiHvinfo {
  return !!h && h.bus === SCSI_BUS && typeof h["scsi-id"] === "number";
}
/** The PCI slot number of a PCI hvinfo. */
export function hvinfoSlot(h: PciHvinfo): number {
  return parseInt(h.addr, 16);
}

export const NicParamsSchema = z.looseObject({
  mode: z.string().optional(),
  link: z.string().optional(),
  vlan: z.string().optional(),
});

/** `objects.NIC.ToDict()`. */
export const NicSchema = z.looseObject({
  name: z.string().nullable().optional(),
  mac: z.string().optional(),
  ip: z.string().nullable().optional(),
  network: z.string().nullable().optional(),
  nicparams: NicParamsSchema.optional(),
  netinfo: z.record(z.string(), z.unknown()).nullable().optional(),
  pci: PciSlotSchema.optional(),
  hvinfo: HvinfoSchema.optional(),
  uuid: z.string().min(1, { error: "expected a non-empty uuid" }).optional(),
});
export type Nic = z.infer<typeof NicSchema>;

/** `objects.Disk.ToDict()` (children are nested Disk dicts, kept loose). */
export const DiskSchema = z.looseObject({
  forthcoming: z.boolean().optional(),
  name: z.string().nullable().optional(),
  dev_type: z.string().optional(),
  logical_id: z.array(z.unknown()).optional(),
  children: z.array(z.record(z.string(), z.unknown())).optional(),
  nodes: z.array(z.string()).optional(),
  iv_name: z.string().optional(),
  size: z.int({ error: "expected integer (MiB)" }).min(0).optional(),
  mode: z.string().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  spindles: z.int().nullable().optional(),
  pci: PciSlotSchema.optional(),
  hvinfo: HvinfoSchema.optional(),
  serial_no: z.int().optional(),
  uuid: z.string({ error: "expected a uuid string (Ganeti needs it to upgrade and find the disk)" }).min(1),
  ctime: z.number().optional(),
  mtime: z.number().optional(),
});
export type Disk = z.infer<typeof DiskSchema>;

/** One `disks` entry: `[Disk.ToDict(), link_name, uri]`. */
export const DiskEntrySchema = z.object({
  disk: DiskSchema,
  linkName: z.string({ error: "expected the disk symlink path (string)" }),
  uri: z.string({ error: "expected a string or null" }).nullable(),
});
export type DiskEntry = z.infer<typeof DiskEntrySchema>;

/** `kvm_cmd`: strings, and integers such as the `-m` value. */
export const KvmCmdSchema = z.array(z.union([z.string(), z.int()], { error: "expected a string or an integer" }));
export type KvmCmd = z.infer<typeof KvmCmdSchema>;

/** The filled hvparams dict; unknown keys kept. */
export const HvParamsSchema = z.record(z.string(), z.unknown());
export type HvParams = z.infer<typeof HvParamsSchema>;

/** Where a model came from, so an unchanged write is byte-identical. */
export const RuntimeOriginSchema = z.object({ text: z.string() });

/** The in-memory runtime, upgraded to generation C's shape. */
export const RuntimeSchema = z.object({
  kvmCmd: KvmCmdSchema,
  nics: z.array(NicSchema),
  hvparams: HvParamsSchema,
  disks: z.array(DiskEntrySchema),
  origin: RuntimeOriginSchema.optional(),
});
export type Runtime = z.infer<typeof RuntimeSchema>;

// ---- The three generations' top-level shapes (plain view of the file) ----

const NicAShape = NicSchema.refine((n) => n.pci === undefined && n.hvinfo === undefined, {
  error: "generation A NICs carry neither pci nor hvinfo",
});
const DiskEntryTuple = z.tuple([DiskSchema, z.string(), z.string().nullable()]);

/** G-A (≤ 2.9): `[kvm_cmd, nics, hvparams]`. */
export const RuntimeFileASchema = z.tuple([KvmCmdSchema, z.array(NicAShape), HvParamsSchema]);
/** G-B (2.10 – 2.15): 4 entries; devices carry `pci`, never `hvinfo`. */
export const RuntimeFileBSchema = z.tuple([
  KvmCmdSchema,
  z.array(NicSchema.refine((n) => n.hvinfo === undefined, { error: "generation B has no hvinfo" })),
  HvParamsSchema,
  z.array(z.tuple([DiskSchema.refine((d) => d.hvinfo === undefined, { error: "generation B has no hvinfo" }), z.string(), z.string().nullable()])),
]);
/** G-C (2.16+): 4 entries; devices carry `hvinfo` (old `pci` devices are still read). */
export const RuntimeFileCSchema = z.tuple([KvmCmdSchema, z.array(NicSchema), HvParamsSchema, z.array(DiskEntryTuple)]);

export const NoteSchema = z.object({ rule: z.string(), detail: z.string() });
/** One change the reader made in memory, or one thing it noticed. */
export type RuntimeNote = z.infer<typeof NoteSchema>;
