// Schema for the return value of QMP `query-pci` (QEMU qapi/pci.json) and
// the reduction to what the slot map needs: which slots of pci.0 are in use.
//
// Objects are loose (unknown keys pass through) so a newer QEMU that adds
// fields still parses. Fields that older QEMU builds omit are optional:
// `irq_pin` (added in QEMU 5.1), `subsystem` / `subsystem-vendor` (3.1),
// `desc`, `irq`, `prefetch`, `mem_type_64`, `pci_bridge`.
//
// Addresses, sizes and bridge windows are 64-bit values that JSON numbers
// cannot hold exactly (and BARs report -1 when unassigned), so they are
// plain numbers, not safe integers. We never compute with them.

import { z } from "zod";

const smallInt = z.number().int();

export const PciMemoryRangeSchema = z.looseObject({
  base: z.number(),
  limit: z.number(),
});

export const PciMemoryRegionSchema = z.looseObject({
  bar: smallInt,
  type: z.string(),
  address: z.number(),
  size: z.number(),
  prefetch: z.boolean().optional(),
  mem_type_64: z.boolean().optional(),
});

export const PciBusInfoSchema = z.looseObject({
  number: smallInt,
  secondary: smallInt,
  subordinate: smallInt,
  io_range: PciMemoryRangeSchema,
  memory_range: PciMemoryRangeSchema,
  prefetchable_range: PciMemoryRangeSchema,
});

export const PciDeviceClassSchema = z.looseObject({
  desc: z.string().optional(),
  class: smallInt,
});

// QEMU spells the subsystem vendor with a hyphen ("subsystem-vendor"). The
// underscore form is accepted too, in case a proxy or stub rewrote keys.
export const PciDeviceIdSchema = z.looseObject({
  device: smallInt,
  vendor: smallInt,
  subsystem: smallInt.optional(),
  "subsystem-vendor": smallInt.optional(),
  subsystem_vendor: smallInt.optional(),
});

// PciDeviceInfo nests through pci_bridge.devices, so the type is declared
// by hand for the recursion and the schema is checked against it.
export interface PciDeviceInfo {
  bus: number;
  slot: number;
  function: number;
  class_info: z.infer<typeof PciDeviceClassSchema>;
  id: z.infer<typeof PciDeviceIdSchema>;
  irq?: number | undefined;
  irq_pin?: number | undefined;
  qdev_id: string;
  pci_bridge?: PciBridgeInfo | undefined;
  regions: z.infer<typeof PciMemoryRegionSchema>[];
  [key: string]: unknown;
}

export interface PciBridgeInfo {
  bus: z.infer<typeof PciBusInfoSchema>;
  devices?: PciDeviceInfo[] | undefined;
  [key: string]: unknown;
}

export const PciDeviceInfoSchema: z.ZodType<PciDeviceInfo> = z.lazy(() =>
  z.looseObject({
    bus: smallInt,
    slot: smallInt,
    function: smallInt,
    class_info: PciDeviceClassSchema,
    id: PciDeviceIdSchema,
    irq: smallInt.optional(),
    irq_pin: smallInt.optional(),
    qdev_id: z.string(),
    pci_bridge: PciBridgeInfoSchema.optional(),
    regions: z.array(PciMemoryRegionSchema),
  }),
);

export const PciBridgeInfoSchema: z.ZodType<PciBridgeInfo> = z.lazy(() =>
  z.looseObject({
    bus: PciBusInfoSchema,
    devices: z.array(PciDeviceInfoSchema).optional(),
  }),
);

export const PciInfoSchema = z.looseObject({
  bus: smallInt,
  devices: z.array(PciDeviceInfoSchema),
});

/** The `return` value of `query-pci`: one entry per root bus. */
export const QueryPciResultSchema = z.array(PciInfoSchema);
export type QueryPciResult = z.infer<typeof QueryPciResultSchema>;
export type PciInfo = z.infer<typeof PciInfoSchema>;

/** One function of one device on pci.0, as the slot map uses it. */
export interface LivePciDevice {
  slot: number;
  function: number;
  /** The qdev id (`id=` of -device / device_add); "" for QEMU's own devices. */
  qdevId: string;
  vendorId: number;
  deviceId: number;
  /** QEMU's class description ("Ethernet controller"); null when omitted. */
  classDesc: string | null;
  classCode: number;
  /** True for a PCI bridge: it occupies its slot; what sits behind it does not. */
  isBridge: boolean;
}

/**
 * The devices on pci.0 (root bus number 0), sorted by slot then function.
 * Devices behind a bridge live on another bus number and never occupy a
 * pci.0 slot, so they are left out; the bridge itself is kept. Other root
 * buses (pxb expanders) are ignored for the same reason.
 */
export function liveSlotsFromQueryPci(result: QueryPciResult): LivePciDevice[] {
  const out: LivePciDevice[] = [];
  for (const info of result) {
    if (info.bus !== 0) continue;
    for (const d of info.devices) {
      if (d.bus !== 0) continue;
      out.push({
        slot: d.slot,
        function: d.function,
        qdevId: d.qdev_id,
        vendorId: d.id.vendor,
        deviceId: d.id.device,
        classDesc: d.class_info.desc ?? null,
        classCode: d.class_info.class,
        isBridge: d.pci_bridge !== undefined,
      });
    }
  }
  return out.sort((a, b) => a.slot - b.slot || a.function - b.function);
}

export type ParseQueryPciResult =
  | { ok: true; result: QueryPciResult; live: LivePciDevice[] }
  | { ok: false; message: string };

/** Validates an untrusted `query-pci` return value and reduces it to pci.0. */
export function parseQueryPci(value: unknown): ParseQueryPciResult {
  const parsed = QueryPciResultSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first ? first.path.map(String).join(".") : "";
    return {
      ok: false,
      message: `QEMU's query-pci answer has an unexpected shape${where ? ` at ${where}` : ""}: ${first?.message ?? "invalid"}. The slot view cannot trust it; reconnect or check the QEMU version.`,
    };
  }
  return { ok: true, result: parsed.data, live: liveSlotsFromQueryPci(parsed.data) };
}
