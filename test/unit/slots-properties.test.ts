// Property tests: whatever the file, the live bus, queued plans and the
// reservation say, the allocator never hands out a slot any of them claims,
// and only fails when nothing is free.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LivePciDevice } from "../../shared/qmp/query-pci";
import {
  checkPciSlot,
  checkScsiId,
  firstFreePciSlot,
  firstFreeScsiId,
  type PciBusInput,
  pciSlotMap,
  type ScsiBusInput,
  scsiTargetMap,
} from "../../shared/slots";

const slotArb = fc.integer({ min: 0, max: 31 });
const liveArb: fc.Arbitrary<LivePciDevice> = fc.record({
  slot: slotArb,
  function: fc.integer({ min: 0, max: 7 }),
  qdevId: fc.constantFrom("", "nic-a", "disk-b", "balloon"),
  vendorId: fc.constantFrom(0x1af4, 0x8086),
  deviceId: fc.integer({ min: 0, max: 0xffff }),
  classDesc: fc.option(fc.constant("Ethernet controller"), { nil: null }),
  classCode: fc.integer({ min: 0, max: 0xffff }),
  isBridge: fc.boolean(),
});
const pciInputArb: fc.Arbitrary<PciBusInput> = fc.record({
  reservedCount: fc.integer({ min: 0, max: 32 }),
  // Mostly upper slots, so full buses come up often.
  fileSlots: fc.array(fc.record({ slot: fc.oneof(slotArb, fc.integer({ min: 12, max: 31 })), deviceId: fc.constantFrom("nic-a", "disk-b", "nic-c") }), { maxLength: 30 }),
  liveSlots: fc.option(fc.array(liveArb, { maxLength: 30 }), { nil: null }),
  pending: fc.array(fc.integer({ min: 8, max: 31 }), { maxLength: 12 }),
});

function claimed(input: PciBusInput, slot: number): boolean {
  return (
    slot < 2 ||
    slot < input.reservedCount ||
    input.fileSlots.some((f) => f.slot === slot) ||
    (input.liveSlots ?? []).some((d) => d.slot === slot) ||
    (input.pending ?? []).includes(slot)
  );
}

describe("PCI allocator properties", () => {
  it("the map always has 32 entries in slot order, with reasons empty exactly when free", () => {
    fc.assert(
      fc.property(pciInputArb, (input) => {
        const map = pciSlotMap(input);
        expect(map.map((e) => e.slot)).toEqual(Array.from({ length: 32 }, (_, i) => i));
        for (const e of map) {
          expect(e.reasons.length === 0).toBe(e.state === "free");
          expect(e.state === "free").toBe(!claimed(input, e.slot));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("firstFreePciSlot never returns a reserved, taken or pending slot, and fails only when none is free", () => {
    fc.assert(
      fc.property(pciInputArb, (input) => {
        const r = firstFreePciSlot(input);
        const free = Array.from({ length: 32 }, (_, i) => i).filter((s) => !claimed(input, s));
        if (r.ok) {
          expect(claimed(input, r.slot)).toBe(false);
          // Ganeti's order: the lowest free slot.
          expect(r.slot).toBe(free[0]);
          expect(r.slot).toBeGreaterThanOrEqual(Math.max(2, input.reservedCount));
        } else {
          expect(free).toEqual([]);
          expect(r.code).toBe("no-free-slot");
        }
      }),
      { numRuns: 500 },
    );
  });

  it("checkPciSlot is ok exactly for slots whose map state is free", () => {
    fc.assert(
      fc.property(pciInputArb, fc.oneof(slotArb, fc.integer({ min: -5, max: 40 }), fc.double()), (input, slot) => {
        const r = checkPciSlot(input, slot);
        const entry = Number.isInteger(slot) ? pciSlotMap(input)[slot] : undefined;
        expect(r.ok).toBe(entry?.state === "free");
        if (!r.ok) expect(r.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});

const scsiIdArb = fc.integer({ min: 0, max: 15 });
const scsiInputArb: fc.Arbitrary<ScsiBusInput> = fc.record({
  fileTargets: fc.array(fc.record({ scsiId: scsiIdArb, deviceId: fc.constantFrom("disk-a", "disk-b") }), { maxLength: 20 }),
  liveTargets: fc.option(fc.array(fc.record({ scsiId: scsiIdArb, qdevId: fc.constantFrom("disk-a", "disk-c") }), { maxLength: 20 }), { nil: null }),
  pending: fc.array(scsiIdArb, { maxLength: 8 }),
});

function scsiClaimed(input: ScsiBusInput, id: number): boolean {
  return (
    input.fileTargets.some((t) => t.scsiId === id) ||
    (input.liveTargets ?? []).some((t) => t.scsiId === id) ||
    (input.pending ?? []).includes(id)
  );
}

describe("SCSI allocator properties", () => {
  it("the map has max entries, free exactly when unclaimed", () => {
    fc.assert(
      fc.property(scsiInputArb, fc.integer({ min: 1, max: 16 }), (input, max) => {
        const map = scsiTargetMap(input, max);
        expect(map).toHaveLength(max);
        for (const e of map) {
          expect(e.state === "free").toBe(!scsiClaimed(input, e.scsiId));
          expect(e.reasons.length === 0).toBe(e.state === "free");
        }
      }),
      { numRuns: 500 },
    );
  });

  it("firstFreeScsiId returns the lowest unclaimed id or fails only when none is free", () => {
    fc.assert(
      fc.property(scsiInputArb, (input) => {
        const r = firstFreeScsiId(input);
        const free = Array.from({ length: 16 }, (_, i) => i).filter((id) => !scsiClaimed(input, id));
        if (r.ok) {
          expect(r.scsiId).toBe(free[0]);
          expect([r.channel, r.lun]).toEqual([0, 0]);
        } else {
          expect(free).toEqual([]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("checkScsiId is ok exactly for targets whose map state is free", () => {
    fc.assert(
      fc.property(scsiInputArb, fc.integer({ min: -2, max: 18 }), (input, id) => {
        const r = checkScsiId(input, id);
        const entry = id >= 0 ? scsiTargetMap(input)[id] : undefined;
        expect(r.ok).toBe(entry?.state === "free");
      }),
      { numRuns: 500 },
    );
  });
});
