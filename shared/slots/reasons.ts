// Why a slot or SCSI target can or cannot take a device. Every reason has a
// stable code (for logic and tests) and a sentence for people that names the
// slot and what to do next.

export type SlotReasonCode =
  | "reserved-by-qemu"
  | "taken-live"
  | "taken-file"
  | "out-of-range"
  | "wrong-bus"
  | "pending";

export interface SlotReason {
  code: SlotReasonCode;
  message: string;
}

/** The bus a device belongs on; used to refuse e.g. a scsi-hd disk on a PCI slot. */
export type BusKind = "pci" | "scsi";

/** The device a caller wants to place, for wrong-bus checks and messages. */
export interface PlacedDevice {
  bus: BusKind;
  /** How people know it, e.g. "disk-932df160-7a22-4067 (scsi-hd)". */
  label: string;
}

/** How the runtime file and the live bus disagree about one slot or target. */
export type Drift = "file-only" | "live-only" | "id-mismatch";

export function wrongBusReason(device: PlacedDevice, asked: BusKind): SlotReason {
  const message =
    asked === "pci"
      ? `${device.label} is a SCSI disk: it goes on a SCSI target of scsi.0, not a PCI slot. Drop it on a SCSI target instead.`
      : `${device.label} is a PCI device: it takes a PCI slot on pci.0, not a SCSI target. Drop it on a free PCI slot instead.`;
  return { code: "wrong-bus", message };
}
