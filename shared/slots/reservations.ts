// How many low PCI slots Ganeti keeps for QEMU's own devices, by Ganeti
// version: the version table's pciReservation (shared/ganeti/versions.ts).
// Slots 0 and 1 (host bridge, ISA bridge on the `pc` machine) are held
// regardless of the count: see slot-map.ts.

import { DEFAULT_KVM_PCI_RESERVATIONS, formatGanetiVersion, ganetiRelease, parseGanetiVersion } from "../ganeti/versions";
import { PCI_SLOT_COUNT } from "./pci-addr";

export const QEMU_DEFAULT_PCI_RESERVATIONS = DEFAULT_KVM_PCI_RESERVATIONS;

/** Slots QEMU itself places on the `pc` machine, whatever Ganeti reserves. */
export const QEMU_FIXED_SLOTS: readonly number[] = [0, 1];

export type ReservationSource = "version-default" | "hvparam";

export type PciReservationResult =
  | { ok: true; count: number; source: ReservationSource; explanation: string }
  | { ok: false; code: "bad-version" | "no-hotplug" | "bad-hvparam"; message: string };

/**
 * The reserved slot count for an instance. `kvmPciReservations` is the
 * hvparam from the instance's runtime hvparams (Ganeti reads it from there
 * on hot-add); undefined/null means the file does not carry it, and the
 * version default applies. It only exists from 2.16 on and is ignored before.
 */
export function pciReservations(
  ganetiVersion: string,
  kvmPciReservations?: number | null,
): PciReservationResult {
  const v = parseGanetiVersion(ganetiVersion);
  if (v === null) {
    return {
      ok: false,
      code: "bad-version",
      message: `Cannot read Ganeti version "${ganetiVersion}": expected e.g. "2.16.2" or "3.0.2". Check the node's gnt-cluster version output.`,
    };
  }
  const shown = formatGanetiVersion(v);
  const res = ganetiRelease(v).pciReservation;
  if (res.kind === "none") {
    return {
      ok: false,
      code: "no-hotplug",
      message: `Ganeti ${shown} has no device hotplug (it came in 2.10): upgrade the cluster, or add the device with the instance stopped.`,
    };
  }
  if (res.kind === "fixed") {
    return { ok: true, count: res.count, source: "version-default", explanation: `Ganeti ${shown} reserves ${res.why}.` };
  }
  if (kvmPciReservations === undefined || kvmPciReservations === null) {
    return {
      ok: true,
      count: res.default,
      source: "version-default",
      explanation: `Ganeti ${shown} reserves slots 0x00–0x${(res.default - 1).toString(16).padStart(2, "0")} (kvm_pci_reservations not set, default ${res.default}).`,
    };
  }
  // Ganeti validates the hvparam as 0 <= x <= 32; anything else did not come
  // from Ganeti, so refuse rather than guess.
  if (!Number.isInteger(kvmPciReservations) || kvmPciReservations < 0 || kvmPciReservations > PCI_SLOT_COUNT) {
    return {
      ok: false,
      code: "bad-hvparam",
      message: `kvm_pci_reservations=${String(kvmPciReservations)} is not a whole number from 0 to 32, so free slots cannot be worked out. Fix it with "gnt-instance modify -H kvm_pci_reservations=12 <instance>".`,
    };
  }
  const n = kvmPciReservations;
  return {
    ok: true,
    count: n,
    source: "hvparam",
    explanation:
      n === 0
        ? `kvm_pci_reservations=0: Ganeti reserves no slots (QEMU still holds 0x00 and 0x01).`
        : `kvm_pci_reservations=${n}: Ganeti reserves slots 0x00–0x${(n - 1).toString(16).padStart(2, "0")}.`,
  };
}

/** Clamps a reservation count to 0..32; a non-number reserves everything (fail safe). */
export function clampReservedCount(n: number): number {
  if (!Number.isFinite(n)) return PCI_SLOT_COUNT;
  return Math.min(PCI_SLOT_COUNT, Math.max(0, Math.trunc(n)));
}

/** Slots that no device may be placed in: 0, 1, and everything below the count. */
export function isReservedSlot(slot: number, reservedCount: number): boolean {
  return QEMU_FIXED_SLOTS.includes(slot) || slot < clampReservedCount(reservedCount);
}
