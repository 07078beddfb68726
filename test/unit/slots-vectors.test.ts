// PCI and SCSI allocator vectors, transcribed from Ganeti's own unit tests
// (TestPCIAllocator, TestSCSIAllocator, TestGenerateDeviceHVInfo). "reserve"
// in Ganeti's allocator is modelled two ways here: as a queued plan (pending)
// and as a runtime-file entry, since both must stop the slot being handed out
// again.
import { describe, expect, it } from "vitest";
import {
  checkPciSlot,
  checkScsiId,
  firstFreePciSlot,
  firstFreeScsiId,
  formatPciAddr,
  type PciBusInput,
  type ScsiBusInput,
} from "../../shared/slots";

function nextPci(input: PciBusInput): string {
  const r = firstFreePciSlot(input);
  if (!r.ok) throw new Error(r.message);
  return formatPciAddr(r.slot);
}

function nextScsi(input: ScsiBusInput): number {
  const r = firstFreeScsiId(input);
  if (!r.ok) throw new Error(r.message);
  return r.scsiId;
}

describe("PCI allocator vectors (TestPCIAllocator, max 32, reserved 12)", () => {
  it("get twice without reserving gives 0xc both times, then 0xd, 0xe as slots are reserved", () => {
    const input: PciBusInput = { reservedCount: 12, fileSlots: [], liveSlots: null, pending: [] };
    expect(nextPci(input)).toBe("0xc");
    expect(nextPci(input)).toBe("0xc");
    const p1 = { ...input, pending: [0xc] };
    expect(nextPci(p1)).toBe("0xd");
    const p2 = { ...input, pending: [0xc, 0xd] };
    expect(nextPci(p2)).toBe("0xe");
  });

  it("the same sequence when reservations are runtime-file entries", () => {
    const file = (slots: number[]) => slots.map((slot, i) => ({ slot, deviceId: `nic-dev${i}` }));
    expect(nextPci({ reservedCount: 12, fileSlots: file([]), liveSlots: null })).toBe("0xc");
    expect(nextPci({ reservedCount: 12, fileSlots: file([0xc]), liveSlots: null })).toBe("0xd");
    expect(nextPci({ reservedCount: 12, fileSlots: file([0xc, 0xd]), liveSlots: null })).toBe("0xe");
  });

  it("release: reserve 0xc and 0xd, release 0xc, get gives 0xc", () => {
    expect(nextPci({ reservedCount: 12, fileSlots: [{ slot: 0xd, deviceId: "disk-b" }], liveSlots: null })).toBe("0xc");
  });

  it("initialised from hvinfo 0xc, 0xd, 0xf: 0xe, then 0x10", () => {
    const fileSlots = [
      { slot: 0xc, deviceId: "disk-a" },
      { slot: 0xd, deviceId: "disk-b" },
      { slot: 0xf, deviceId: "nic-c" },
    ];
    const input: PciBusInput = { reservedCount: 12, fileSlots, liveSlots: null };
    expect(nextPci(input)).toBe("0xe");
    expect(nextPci({ ...input, pending: [0xe] })).toBe("0x10");
    expect(checkPciSlot(input, 0xe)).toEqual({ ok: true });
    expect(checkPciSlot(input, 0xf).ok).toBe(false);
  });

  it("fresh instance with default reservations: first NIC gets addr 0xc (TestGenerateDeviceHVInfo.testPCI)", () => {
    expect(nextPci({ reservedCount: 12, fileSlots: [], liveSlots: null })).toBe(formatPciAddr(12));
  });
});

describe("SCSI allocator vectors (TestSCSIAllocator, max 16, reserved 0)", () => {
  it("0, then 1, then 2 as ids are reserved", () => {
    const input: ScsiBusInput = { fileTargets: [] };
    expect(nextScsi(input)).toBe(0);
    expect(nextScsi(input)).toBe(0);
    expect(nextScsi({ ...input, pending: [0] })).toBe(1);
    expect(nextScsi({ ...input, pending: [0, 1] })).toBe(2);
  });

  it("initialised from scsi-id 0, 1, 3: 2, then 4", () => {
    const fileTargets = [0, 1, 3].map((scsiId) => ({ scsiId, deviceId: `disk-${scsiId}` }));
    expect(nextScsi({ fileTargets })).toBe(2);
    expect(nextScsi({ fileTargets, pending: [2] })).toBe(4);
  });

  it("fresh instance: first SCSI disk is channel 0, scsi-id 0, lun 0 (testSCSI)", () => {
    expect(firstFreeScsiId({ fileTargets: [] })).toEqual({ ok: true, scsiId: 0, channel: 0, lun: 0, liveChecked: false });
    expect(checkScsiId({ fileTargets: [] }, { scsiId: 0, channel: 0, lun: 0 })).toEqual({ ok: true });
  });
});
