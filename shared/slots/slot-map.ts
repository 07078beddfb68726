// The state of each of the 32 slots on pci.0, combining three sources that
// can disagree: Ganeti's reservation, the runtime file (what Ganeti will
// believe on its next hot-add) and the live bus (what QEMU actually has).
// A slot is only free when none of them, nor a queued plan, claims it.

import type { LivePciDevice } from "../qmp/query-pci";
import { describeLiveDevice } from "./live-names";
import { displayPciAddr, isPciSlot, PCI_SLOT_COUNT } from "./pci-addr";
import type { Drift, SlotReason } from "./reasons";
import { clampReservedCount, QEMU_FIXED_SLOTS } from "./reservations";

export interface FilePciSlot {
  slot: number;
  /** The device id the runtime file records (hvinfo "id", or the G-B derived id). */
  deviceId: string;
}

export interface PciBusInput {
  /** Reserved low slots (see reservations.ts); clamped to 0..32. */
  reservedCount: number;
  /** Slots the runtime file records for disks and NICs. */
  fileSlots: readonly FilePciSlot[];
  /** Devices on pci.0 from query-pci; null when the live bus is unknown (instance stopped, QMP busy). */
  liveSlots: readonly LivePciDevice[] | null;
  /** Slots already chosen by another queued plan. */
  pending?: readonly number[];
}

export type PciSlotState = "free" | "reserved" | "pending" | "taken-live" | "taken-file" | "taken-both";

export interface PciSlotEntry {
  slot: number;
  /**
   * Occupancy wins over reservation (slot 0x02 holding the VGA card shows as
   * taken-live, so the UI can name it); reservation wins over pending.
   */
  state: PciSlotState;
  /** True when Ganeti or QEMU keeps this slot, whatever else is in it. */
  reserved: boolean;
  /** Every reason the slot cannot take a device; empty exactly when state is "free". */
  reasons: SlotReason[];
  /** The function-0 device (or the lowest function) QEMU reports in this slot. */
  liveDevice?: LivePciDevice;
  /** All functions in this slot (slot 0x01 on `pc` has ISA, IDE and ACPI). */
  liveDevices: LivePciDevice[];
  /** The runtime-file entry for this slot (the first, if the file has several). */
  fileDevice?: FilePciSlot;
  fileDevices: FilePciSlot[];
  drift?: Drift;
  /** A sentence explaining the drift and what to do about it. */
  driftNote?: string;
}

function reservedReason(slot: number, reservedCount: number): SlotReason {
  const addr = displayPciAddr(slot);
  if (slot < reservedCount) {
    const last = displayPciAddr(reservedCount - 1);
    return {
      code: "reserved-by-qemu",
      message: `Slot ${addr} is reserved: Ganeti keeps the first ${reservedCount} slots (0x00–${last}) for QEMU's own devices. ${
        reservedCount < PCI_SLOT_COUNT
          ? `Pick a slot from ${displayPciAddr(reservedCount)} up.`
          : "No slot is left for hotplug: lower kvm_pci_reservations and restart the instance."
      }`,
    };
  }
  const what = slot === 0 ? "host bridge" : "ISA bridge";
  return {
    code: "reserved-by-qemu",
    message: `Slot ${addr} is reserved: QEMU's ${what} always sits there on the pc machine. Pick a higher slot.`,
  };
}

function liveReason(slot: number, d: LivePciDevice): SlotReason {
  const fn = d.function === 0 ? "" : ` (function ${d.function})`;
  // QEMU's own devices (no id) cannot be unplugged through Ganeti.
  const next = d.qdevId === "" ? "pick a free slot" : "unplug it first or pick a free slot";
  return {
    code: "taken-live",
    message: `Slot ${displayPciAddr(slot)} is in use on the live bus by ${describeLiveDevice(d)}${fn}: ${next}.`,
  };
}

function fileReason(slot: number, f: FilePciSlot): SlotReason {
  return {
    code: "taken-file",
    message: `Slot ${displayPciAddr(slot)} is recorded in the runtime file for ${f.deviceId}: Ganeti will not reuse it until that device is removed. Pick a free slot.`,
  };
}

function pendingReason(slot: number): SlotReason {
  return {
    code: "pending",
    message: `Slot ${displayPciAddr(slot)} is held by a queued change: apply or cancel that change first, or pick another slot.`,
  };
}

function driftOf(
  slot: number,
  reserved: boolean,
  live: LivePciDevice[],
  files: FilePciSlot[],
  liveKnown: boolean,
): { drift: Drift; driftNote: string } | null {
  const addr = displayPciAddr(slot);
  const first = files[0];
  if (first !== undefined && liveKnown && live.length === 0) {
    return {
      drift: "file-only",
      driftNote: `The runtime file records ${first.deviceId} at ${addr} but the live bus has nothing there: the device may have been unplugged without updating the file, or a hot-add failed. Check the instance before reusing the slot.`,
    };
  }
  const head = live[0];
  if (first !== undefined && head !== undefined) {
    const ids = new Set(live.map((d) => d.qdevId));
    if (!files.some((f) => ids.has(f.deviceId))) {
      return {
        drift: "id-mismatch",
        driftNote: `The runtime file says ${first.deviceId} is at ${addr} but the live bus has ${describeLiveDevice(head)} there: one of them is stale. Check which device the guest sees before changing this slot.`,
      };
    }
    return null;
  }
  // Below the reservation QEMU places its own devices (balloon, SCSI
  // controller, VGA) that the file never records: that is expected. Above
  // it, Ganeti picks hot-add slots from the file alone, so an unrecorded
  // live device is a collision waiting to happen.
  if (head !== undefined && first === undefined && !reserved) {
    return {
      drift: "live-only",
      driftNote: `The live bus has ${describeLiveDevice(head)} at ${addr} but the runtime file does not record it: Ganeti's next hot-add may pick this slot and fail. Unplug the device or record it in the runtime file.`,
    };
  }
  return null;
}

/** One entry per slot 0..31, in slot order. */
export function pciSlotMap(input: PciBusInput): PciSlotEntry[] {
  const reservedCount = clampReservedCount(input.reservedCount);
  const liveKnown = input.liveSlots !== null;
  const pending = new Set(input.pending ?? []);
  const entries: PciSlotEntry[] = [];
  for (let slot = 0; slot < PCI_SLOT_COUNT; slot++) {
    const live = (input.liveSlots ?? []).filter((d) => d.slot === slot).sort((a, b) => a.function - b.function);
    const files = input.fileSlots.filter((f) => f.slot === slot);
    const reserved = QEMU_FIXED_SLOTS.includes(slot) || slot < reservedCount;
    const isPending = pending.has(slot);

    const reasons: SlotReason[] = [];
    if (reserved) reasons.push(reservedReason(slot, reservedCount));
    for (const d of live) reasons.push(liveReason(slot, d));
    for (const f of files) reasons.push(fileReason(slot, f));
    if (isPending) reasons.push(pendingReason(slot));

    let state: PciSlotState;
    if (live.length > 0 && files.length > 0) state = "taken-both";
    else if (live.length > 0) state = "taken-live";
    else if (files.length > 0) state = "taken-file";
    else if (reserved) state = "reserved";
    else if (isPending) state = "pending";
    else state = "free";

    const entry: PciSlotEntry = { slot, state, reserved, reasons, liveDevices: live, fileDevices: files };
    if (live[0] !== undefined) entry.liveDevice = live[0];
    if (files[0] !== undefined) entry.fileDevice = files[0];
    const drift = driftOf(slot, reserved, live, files, liveKnown);
    if (drift !== null) {
      entry.drift = drift.drift;
      entry.driftNote = drift.driftNote;
    }
    entries.push(entry);
  }
  return entries;
}

/** File entries whose slot is not 0..31: they cannot be shown on the map, but a caller should say so. */
export function strayFileSlots(input: Pick<PciBusInput, "fileSlots">): FilePciSlot[] {
  return input.fileSlots.filter((f) => !isPciSlot(f.slot));
}
