import { describe, expect, it } from "vitest";
import type { LivePciDevice } from "../../shared/qmp/query-pci";
import { checkPciSlot, checkScsiId, firstFreePciSlot, firstFreeScsiId, pciSlotMap, scsiTargetMap, strayFileSlots } from "../../shared/slots";

function nic(slot: number, qdevId: string): LivePciDevice {
  return { slot, function: 0, qdevId, vendorId: 0x1af4, deviceId: 0x1000, classDesc: "Ethernet controller", classCode: 0x200, isBridge: false };
}
const qemuOwn: LivePciDevice[] = [
  { slot: 0, function: 0, qdevId: "", vendorId: 0x8086, deviceId: 0x1237, classDesc: "Host bridge", classCode: 0x600, isBridge: false },
  { slot: 1, function: 0, qdevId: "", vendorId: 0x8086, deviceId: 0x7000, classDesc: "ISA bridge", classCode: 0x601, isBridge: false },
];

describe("pciSlotMap", () => {
  it("explains a reserved slot with the range and the next step", () => {
    const map = pciSlotMap({ reservedCount: 12, fileSlots: [], liveSlots: null });
    expect(map).toHaveLength(32);
    expect(map[3]?.state).toBe("reserved");
    expect(map[3]?.reasons).toEqual([
      {
        code: "reserved-by-qemu",
        message: "Slot 0x03 is reserved: Ganeti keeps the first 12 slots (0x00–0x0b) for QEMU's own devices. Pick a slot from 0x0c up.",
      },
    ]);
    expect(map[12]).toMatchObject({ state: "free", reasons: [], reserved: false });
  });

  it("holds slots 0 and 1 even with no reservation", () => {
    const map = pciSlotMap({ reservedCount: 0, fileSlots: [], liveSlots: null });
    expect(map.slice(0, 3).map((e) => e.state)).toEqual(["reserved", "reserved", "free"]);
    expect(map[1]?.reasons[0]?.message).toContain("ISA bridge");
  });

  it("reports the three kinds of drift between file and live bus", () => {
    const map = pciSlotMap({
      reservedCount: 12,
      fileSlots: [
        { slot: 0xc, deviceId: "disk-932df160-7a22-4067" },
        { slot: 0xd, deviceId: "nic-003fc157-66a8-4e6d" },
        { slot: 0xf, deviceId: "nic-aaaaaaaa-66a8-4e6d" },
      ],
      liveSlots: [...qemuOwn, nic(0xd, "nic-003fc157-66a8-4e6d"), nic(0xe, "nic-unrecorded"), nic(0xf, "nic-bbbbbbbb-1111-2222")],
    });
    expect(map[0xc]).toMatchObject({ state: "taken-file", drift: "file-only" });
    expect(map[0xc]?.reasons[0]?.message).toBe(
      "Slot 0x0c is recorded in the runtime file for disk-932df160-7a22-4067: Ganeti will not reuse it until that device is removed. Pick a free slot.",
    );
    expect(map[0xd]).toMatchObject({ state: "taken-both" });
    expect(map[0xd]?.drift).toBeUndefined();
    expect(map[0xe]).toMatchObject({ state: "taken-live", drift: "live-only" });
    expect(map[0xe]?.driftNote).toContain("Ganeti's next hot-add may pick this slot");
    expect(map[0xf]).toMatchObject({ state: "taken-both", drift: "id-mismatch" });
    expect(map[0]?.drift).toBeUndefined();
  });

  it("does not call a file entry drift when the live bus is unknown", () => {
    const map = pciSlotMap({ reservedCount: 12, fileSlots: [{ slot: 0xc, deviceId: "disk-a" }], liveSlots: null });
    expect(map[0xc]?.state).toBe("taken-file");
    expect(map[0xc]?.drift).toBeUndefined();
  });

  it("shows a queued plan's slot as pending", () => {
    const map = pciSlotMap({ reservedCount: 12, fileSlots: [], liveSlots: [], pending: [0xc] });
    expect(map[0xc]?.state).toBe("pending");
    expect(map[0xc]?.reasons[0]?.code).toBe("pending");
  });

  it("leaves out-of-range file entries off the map but lets callers list them", () => {
    const input = { reservedCount: 12, fileSlots: [{ slot: 40, deviceId: "nic-x" }], liveSlots: null };
    expect(pciSlotMap(input).every((e) => e.state !== "taken-file")).toBe(true);
    expect(strayFileSlots(input)).toEqual([{ slot: 40, deviceId: "nic-x" }]);
  });
});

describe("firstFreePciSlot and checkPciSlot failures", () => {
  it("says how many hotplug slots there are when all are taken", () => {
    const fileSlots = Array.from({ length: 20 }, (_, i) => ({ slot: 12 + i, deviceId: `nic-${i}` }));
    const r = firstFreePciSlot({ reservedCount: 12, fileSlots, liveSlots: null });
    expect(r).toEqual({ ok: false, code: "no-free-slot", message: "All 20 hotplug slots (0x0c–0x1f) are taken: remove a device first." });
    const withPending = firstFreePciSlot({ reservedCount: 12, fileSlots: fileSlots.slice(1), liveSlots: null, pending: [12] });
    expect(withPending.ok === false && withPending.message).toContain("cancel a queued change");
  });

  it("explains a reservation of all 32 slots", () => {
    const r = firstFreePciSlot({ reservedCount: 32, fileSlots: [], liveSlots: null });
    expect(r.ok === false && r.message).toContain("kvm_pci_reservations");
  });

  it("refuses a SCSI disk on a PCI slot and a NIC on a SCSI target", () => {
    const disk = { bus: "scsi" as const, label: "disk-932df160-7a22-4067 (scsi-hd)" };
    const r = checkPciSlot({ reservedCount: 12, fileSlots: [], liveSlots: [] }, 0xc, disk);
    expect(r.ok === false && r.reasons.map((x) => x.code)).toEqual(["wrong-bus"]);
    expect(firstFreePciSlot({ reservedCount: 12, fileSlots: [], liveSlots: [] }, disk).ok).toBe(false);
    const nicDev = { bus: "pci" as const, label: "nic-003fc157-66a8-4e6d" };
    const s = checkScsiId({ fileTargets: [] }, 0, 16, nicDev);
    expect(s.ok === false && s.reasons[0]?.message).toContain("not a SCSI target");
    expect(firstFreeScsiId({ fileTargets: [] }, 16, nicDev).ok).toBe(false);
  });

  it("refuses slots that are not integers 0..31", () => {
    for (const bad of [-1, 32, 12.5, Number.NaN]) {
      const r = checkPciSlot({ reservedCount: 12, fileSlots: [], liveSlots: null }, bad);
      expect(r.ok === false && r.reasons[0]?.code).toBe("out-of-range");
    }
  });
});

describe("SCSI map", () => {
  it("has 16 targets by default and explains taken ones", () => {
    const map = scsiTargetMap({ fileTargets: [{ scsiId: 2, deviceId: "disk-a" }], liveTargets: [{ scsiId: 3, qdevId: "disk-b", driver: "scsi-hd" }] });
    expect(map).toHaveLength(16);
    expect(map[2]).toMatchObject({ state: "taken-file", drift: "file-only" });
    expect(map[3]).toMatchObject({ state: "taken-live", drift: "live-only" });
    expect(map[3]?.reasons[0]?.message).toBe("SCSI target 3 is in use on the live bus by scsi-hd 'disk-b': unplug it first or pick a free target.");
  });

  it("refuses a non-zero channel or lun", () => {
    const r = checkScsiId({ fileTargets: [] }, { scsiId: 0, lun: 1 });
    expect(r.ok === false && r.reasons[0]?.code).toBe("out-of-range");
    expect(checkScsiId({ fileTargets: [] }, 16).ok).toBe(false);
  });

  it("says all targets are taken", () => {
    const fileTargets = Array.from({ length: 16 }, (_, i) => ({ scsiId: i, deviceId: `disk-${i}` }));
    expect(firstFreeScsiId({ fileTargets })).toEqual({ ok: false, code: "no-free-slot", message: "All 16 SCSI targets (0–15) are taken: remove a disk first." });
  });
});
