// Choosing and checking a PCI slot for a hot-added device. Ganeti's rule is
// "first free slot at or above the reservation" (GetFreeSlot over a bitarray
// whose low bits are the reservation); everything below is reserved, so that
// is simply the lowest slot whose map state is "free".

import { displayPciAddr, PCI_SLOT_COUNT } from "./pci-addr";
import { type PlacedDevice, type SlotReason, wrongBusReason } from "./reasons";
import { clampReservedCount } from "./reservations";
import { type PciBusInput, pciSlotMap } from "./slot-map";

export type AllocFailureCode = "no-free-slot" | "wrong-bus";

export type AllocResult =
  | { ok: true; slot: number; /** False when the live bus was unknown and only the file was consulted. */ liveChecked: boolean }
  | { ok: false; code: AllocFailureCode; message: string };

export type CheckResult = { ok: true } | { ok: false; reasons: SlotReason[] };

function firstHotplugSlot(input: PciBusInput): number {
  return Math.max(2, clampReservedCount(input.reservedCount));
}

/** Ganeti's choice for a new device, or why there is none. */
export function firstFreePciSlot(input: PciBusInput, device?: PlacedDevice): AllocResult {
  if (device !== undefined && device.bus !== "pci") {
    return { ok: false, code: "wrong-bus", message: wrongBusReason(device, "pci").message };
  }
  const free = pciSlotMap(input).find((e) => e.state === "free");
  if (free !== undefined) return { ok: true, slot: free.slot, liveChecked: input.liveSlots !== null };

  const first = firstHotplugSlot(input);
  if (first >= PCI_SLOT_COUNT) {
    return {
      ok: false,
      code: "no-free-slot",
      message: `No hotplug slots: Ganeti reserves all ${PCI_SLOT_COUNT} PCI slots for this instance. Lower kvm_pci_reservations (e.g. "gnt-instance modify -H kvm_pci_reservations=12") and restart the instance.`,
    };
  }
  const count = PCI_SLOT_COUNT - first;
  const anyPending = (input.pending ?? []).some((s) => s >= first && s < PCI_SLOT_COUNT);
  const slots =
    count === 1
      ? `The only hotplug slot (${displayPciAddr(first)}) is`
      : `All ${count} hotplug slots (${displayPciAddr(first)}–${displayPciAddr(PCI_SLOT_COUNT - 1)}) are`;
  return {
    ok: false,
    code: "no-free-slot",
    message: anyPending
      ? `${slots} taken or held by queued changes: remove a device or cancel a queued change first.`
      : `${slots} taken: remove a device first.`,
  };
}

/**
 * Validates a slot the user picked (e.g. by dropping a device on it). Never
 * ok for a slot that is not an integer 0..31, reserved, taken on the live
 * bus or in the file, or held by a queued plan; ok exactly when the slot's
 * map state is "free" (and the device belongs on PCI).
 */
export function checkPciSlot(input: PciBusInput, slot: number, device?: PlacedDevice): CheckResult {
  const reasons: SlotReason[] = [];
  if (device !== undefined && device.bus !== "pci") reasons.push(wrongBusReason(device, "pci"));
  if (!Number.isInteger(slot) || slot < 0 || slot >= PCI_SLOT_COUNT) {
    reasons.push({
      code: "out-of-range",
      message: `There is no PCI slot ${String(slot)}: pci.0 has slots 0x00 to 0x1f. Pick one of the free slots.`,
    });
    return { ok: false, reasons };
  }
  const entry = pciSlotMap(input)[slot];
  if (entry !== undefined) reasons.push(...entry.reasons);
  return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
}
