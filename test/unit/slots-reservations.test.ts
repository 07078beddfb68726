import { describe, expect, it } from "vitest";
import { clampReservedCount, isReservedSlot, pciReservations } from "../../shared/slots";

function count(version: string, hv?: number | null): number {
  const r = pciReservations(version, hv);
  if (!r.ok) throw new Error(r.message);
  return r.count;
}

describe("pciReservations by Ganeti version", () => {
  it("2.10.0 and 2.10.1 reserve 4 slots", () => {
    expect(count("2.10.0")).toBe(4);
    expect(count("2.10.1")).toBe(4);
  });
  it("2.10.2 to 2.15.x reserve 3 and ignore the (not yet existing) hvparam", () => {
    for (const v of ["2.10.2", "2.11.6", "2.13.0", "2.15.2", "2.15.2-1", "2.16.0~beta1-1"]) expect(count(v), v).toBe(3);
    expect(count("2.15.2", 20)).toBe(3);
  });
  it("2.16+ and 3.x use kvm_pci_reservations, default 12", () => {
    for (const v of ["2.16.0", "2.16.2", "3.0", "3.0.2", "3.1.0", "2.16.0~rc1"]) expect(count(v), v).toBe(12);
    expect(count("3.0.2", null)).toBe(12);
    expect(count("3.0.2", 16)).toBe(16);
    expect(count("3.0.2", 0)).toBe(0);
    expect(count("3.0.2", 32)).toBe(32);
    const r = pciReservations("3.0.2", 16);
    expect(r.ok && r.source).toBe("hvparam");
  });
  it("refuses an hvparam Ganeti would not accept, naming the fix", () => {
    for (const bad of [-1, 33, 2.5, Number.NaN]) {
      const r = pciReservations("3.0.2", bad);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe("bad-hvparam");
        expect(r.message).toContain("gnt-instance modify");
      }
    }
  });
  it("says hotplug does not exist before 2.10, and refuses unreadable versions", () => {
    const old = pciReservations("2.9.6");
    expect(old.ok === false && old.code).toBe("no-hotplug");
    const bad = pciReservations("latest");
    expect(bad.ok === false && bad.code).toBe("bad-version");
  });
});

describe("isReservedSlot", () => {
  it("always holds slots 0 and 1, plus everything below the count", () => {
    expect(isReservedSlot(0, 0)).toBe(true);
    expect(isReservedSlot(1, 0)).toBe(true);
    expect(isReservedSlot(2, 0)).toBe(false);
    expect(isReservedSlot(11, 12)).toBe(true);
    expect(isReservedSlot(12, 12)).toBe(false);
  });
  it("clamps counts and fails safe on NaN", () => {
    expect(clampReservedCount(-3)).toBe(0);
    expect(clampReservedCount(40)).toBe(32);
    expect(clampReservedCount(Number.NaN)).toBe(32);
  });
});
