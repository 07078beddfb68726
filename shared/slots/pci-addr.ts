// PCI slot numbers and the three ways they are written down.
//
// - formatPciAddr: what goes on the wire and into runtime files. Ganeti writes
//   `hex(slot)` (Python: lowercase, no padding, "0xc"), and QEMU's addr=
//   property takes the same string, so this must match byte for byte.
// - displayPciAddr: what people read ("0x0c"). Two digits line up in tables
//   and match the guest's `lspci` view.
// - guestPciAddress: the guest-side address ("0000:00:0c.0"), as it appears
//   under /sys/bus/pci/devices inside the guest.

/** Slots on pci.0 (QEMU_PCI_SLOTS in Ganeti). */
export const PCI_SLOT_COUNT = 32;

export function isPciSlot(slot: number): boolean {
  return Number.isInteger(slot) && slot >= 0 && slot < PCI_SLOT_COUNT;
}

function assertSlot(slot: number): void {
  if (!isPciSlot(slot)) {
    throw new RangeError(`PCI slot ${String(slot)} is not an integer from 0 to ${PCI_SLOT_COUNT - 1}`);
  }
}

/** Ganeti's `hex(slot)`: "0xc", "0x10". Throws RangeError outside 0..31. */
export function formatPciAddr(slot: number): string {
  assertSlot(slot);
  return `0x${slot.toString(16)}`;
}

/** Human form for messages and tables: "0x0c". Throws RangeError outside 0..31. */
export function displayPciAddr(slot: number): string {
  assertSlot(slot);
  return `0x${slot.toString(16).padStart(2, "0")}`;
}

/** "0000:00:0c.0": domain 0, bus 0 (pci.0), the slot, the function. */
export function guestPciAddress(slot: number, fn = 0): string {
  assertSlot(slot);
  if (!Number.isInteger(fn) || fn < 0 || fn > 7) {
    throw new RangeError(`PCI function ${String(fn)} is not an integer from 0 to 7`);
  }
  return `0000:00:${slot.toString(16).padStart(2, "0")}.${fn}`;
}

export type ParsePciAddrResult =
  | { ok: true; slot: number }
  | { ok: false; code: "empty" | "ambiguous-decimal" | "not-hex" | "out-of-range"; message: string };

const HEX_ADDR = /^0x([0-9a-f]+)$/i;
const BARE_DIGITS = /^[0-9]+$/;

/**
 * Parses a PCI slot written as hex with a "0x" prefix, in either case and
 * with or without padding: "0xc", "0x0c", "0X0C", "0x1f". Surrounding
 * whitespace is ignored.
 *
 * Rejected on purpose:
 * - bare digits ("12"): Ganeti's G-B `pci` field and people mean decimal,
 *   but QEMU's addr= reads "12" as hex 0x12. Guessing would put a device in
 *   the wrong slot, so the caller must say which.
 * - a function suffix ("0xc.1"), bus or domain parts ("00:0c.0"): Ganeti
 *   only places function 0 on pci.0, so those never name a hotplug slot.
 * - values above 0x1f.
 */
export function parsePciAddr(input: string): ParsePciAddrResult {
  const text = input.trim();
  if (text === "") {
    return { ok: false, code: "empty", message: 'No PCI slot given: write it as hex, e.g. "0xc" for slot 12.' };
  }
  if (BARE_DIGITS.test(text)) {
    const n = Number.parseInt(text, 10);
    const asHex = Number.parseInt(text, 16);
    const decimalHint = isPciSlot(n) ? `"${formatPciAddr(n)}" for slot ${n}` : null;
    const hexHint = isPciSlot(asHex) ? `"0x${text}" for slot ${asHex}` : null;
    const hints = [decimalHint, hexHint].filter((h): h is string => h !== null);
    const suggestion = hints.length > 0 ? `: write ${hints.join(" or ")}` : "";
    return {
      ok: false,
      code: "ambiguous-decimal",
      message: `PCI slot "${text}" is ambiguous (QEMU reads it as hex, Ganeti's pci field as decimal)${suggestion}.`,
    };
  }
  const m = HEX_ADDR.exec(text);
  if (m === null || m[1] === undefined) {
    return {
      ok: false,
      code: "not-hex",
      message: `"${text}" is not a PCI slot: write the slot number as hex with "0x", e.g. "0xc" (no bus or function part).`,
    };
  }
  const slot = Number.parseInt(m[1], 16);
  if (!isPciSlot(slot)) {
    return {
      ok: false,
      code: "out-of-range",
      message: `PCI slot "${text}" is out of range: pci.0 has slots 0x00 to 0x1f.`,
    };
  }
  return { ok: true, slot };
}
