// How many low PCI slots Ganeti keeps for QEMU's own devices, by Ganeti
// version (research/ganeti-kvm.md §5.1, §5.5).
//
//   2.10.0 - 2.10.1  "1111" + 28*"0"   -> 4 (slots 0-3)
//   2.10.2 - 2.15.x  "111"  + 29*"0"   -> 3 (host bridge, ISA bridge, VGA)
//   2.16+ / 3.x      hvparam kvm_pci_reservations (0..32), default 12
//
// Before 2.10 Ganeti has no hotplug. Slots 0 and 1 (host bridge, ISA bridge
// on the `pc` machine) are held regardless of the count: see slot-map.ts.

import { PCI_SLOT_COUNT } from "./pci-addr";

export const QEMU_DEFAULT_PCI_RESERVATIONS = 12;

/** Slots QEMU itself places on the `pc` machine, whatever Ganeti reserves. */
export const QEMU_FIXED_SLOTS: readonly number[] = [0, 1];

export interface GanetiVersion {
  major: number;
  minor: number;
  patch: number;
}

/**
 * Reads "2.16.2", "3.0", "2.15.2-1" (Debian revision) or "2.16.0~rc1" /
 * "2.16.0beta1" (pre-release suffix, ignored). Returns null otherwise.
 */
export function parseGanetiVersion(text: string): GanetiVersion | null {
  const m = /^\s*(\d+)\.(\d+)(?:\.(\d+))?(?:[~+\-a-z].*)?\s*$/i.exec(text);
  if (m === null) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) };
}

function cmp(a: GanetiVersion, b: GanetiVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

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
  const shown = `${v.major}.${v.minor}.${v.patch}`;
  if (cmp(v, { major: 2, minor: 10, patch: 0 }) < 0) {
    return {
      ok: false,
      code: "no-hotplug",
      message: `Ganeti ${shown} has no device hotplug (it came in 2.10): upgrade the cluster, or add the device with the instance stopped.`,
    };
  }
  if (cmp(v, { major: 2, minor: 10, patch: 2 }) < 0) {
    return { ok: true, count: 4, source: "version-default", explanation: `Ganeti ${shown} reserves slots 0x00–0x03.` };
  }
  if (cmp(v, { major: 2, minor: 16, patch: 0 }) < 0) {
    return {
      ok: true,
      count: 3,
      source: "version-default",
      explanation: `Ganeti ${shown} reserves slots 0x00–0x02 (host bridge, ISA bridge, VGA).`,
    };
  }
  if (kvmPciReservations === undefined || kvmPciReservations === null) {
    return {
      ok: true,
      count: QEMU_DEFAULT_PCI_RESERVATIONS,
      source: "version-default",
      explanation: `Ganeti ${shown} reserves slots 0x00–0x0b (kvm_pci_reservations not set, default 12).`,
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
