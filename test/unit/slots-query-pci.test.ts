import { describe, expect, it } from "vitest";
import { liveSlotsFromQueryPci, parseQueryPci, QueryPciResultSchema } from "../../shared/qmp/query-pci";
import { pciSlotMap } from "../../shared/slots";

// Shaped like QEMU 7.2's answer on `-machine pc` (hand-written, shortened):
// slot 1 is multifunction, slot 5 is a pci-bridge with a NIC behind it, and
// 0xc holds a Ganeti-hotplugged NIC. Fields QEMU added later are mixed in
// (irq_pin, subsystem-vendor) along with an unknown key.
const range = { base: 0, limit: 0 };
function dev(slot: number, fn: number, cls: number, desc: string | undefined, vendor: number, device: number, qdevId: string) {
  return {
    bus: 0,
    slot,
    function: fn,
    class_info: desc === undefined ? { class: cls } : { class: cls, desc },
    id: { vendor, device, subsystem: 0x1100, "subsystem-vendor": 0x1af4 },
    irq_pin: 0,
    qdev_id: qdevId,
    regions: [{ bar: 0, type: "memory", address: -1, size: 4096, prefetch: false, mem_type_64: true }],
  };
}
const answer = [
  {
    bus: 0,
    devices: [
      dev(0, 0, 0x600, "Host bridge", 0x8086, 0x1237, ""),
      dev(1, 0, 0x601, "ISA bridge", 0x8086, 0x7000, ""),
      dev(1, 1, 0x101, "IDE controller", 0x8086, 0x7010, ""),
      dev(1, 3, 0x680, "Bridge", 0x8086, 0x7113, ""),
      dev(2, 0, 0x300, "VGA controller", 0x1234, 0x1111, ""),
      dev(3, 0, 0xff, undefined, 0x1af4, 0x1002, "balloon"),
      {
        ...dev(5, 0, 0x604, "PCI bridge", 0x1b36, 0x0001, "bridge1"),
        pci_bridge: {
          bus: {
            number: 0,
            secondary: 1,
            subordinate: 1,
            io_range: range,
            memory_range: range,
            prefetchable_range: { base: 0, limit: 1.8446744073709552e19 } // 2^64 - 1 as JSON.parse reads it,
          },
          devices: [{ ...dev(3, 0, 0x200, "Ethernet controller", 0x8086, 0x100e, "behind-bridge"), bus: 1 }],
        },
      },
      { ...dev(0xc, 0, 0x200, "Ethernet controller", 0x1af4, 0x1000, "nic-003fc157-66a8-4e6d"), irq: 11, future_field: [1] },
    ],
  },
];

describe("query-pci schema", () => {
  it("parses a QEMU 7.2-shaped answer, keeping unknown keys", () => {
    const r = QueryPciResultSchema.parse(answer);
    const nic = r[0]?.devices.find((d) => d.qdev_id.startsWith("nic-"));
    expect(nic?.["future_field"]).toEqual([1]);
    expect(nic?.id["subsystem-vendor"]).toBe(0x1af4);
  });

  it("accepts an older QEMU answer without irq_pin, subsystem ids or desc", () => {
    const old = [{ bus: 0, devices: [{ bus: 0, slot: 4, function: 0, class_info: { class: 0x200 }, id: { vendor: 0x1af4, device: 0x1000 }, qdev_id: "hotnic-003fc157-pci-4", regions: [] }] }];
    const r = parseQueryPci(old);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.live).toEqual([{ slot: 4, function: 0, qdevId: "hotnic-003fc157-pci-4", vendorId: 0x1af4, deviceId: 0x1000, classDesc: null, classCode: 0x200, isBridge: false }]);
  });

  it("rejects a malformed answer with a message that says where", () => {
    const r = parseQueryPci([{ bus: 0, devices: [{ bus: 0, slot: "0xc" }] }]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/query-pci.*0\.devices\.0/);
    expect(parseQueryPci({ return: [] }).ok).toBe(false);
  });
});

describe("liveSlotsFromQueryPci", () => {
  const live = liveSlotsFromQueryPci(QueryPciResultSchema.parse(answer));

  it("keeps every function on pci.0 and the bridge itself, not what is behind it", () => {
    expect(live.map((d) => [d.slot, d.function])).toEqual([[0, 0], [1, 0], [1, 1], [1, 3], [2, 0], [3, 0], [5, 0], [0xc, 0]]);
    expect(live.find((d) => d.slot === 5)?.isBridge).toBe(true);
    expect(live.some((d) => d.qdevId === "behind-bridge")).toBe(false);
  });

  it("ignores other root buses", () => {
    const two = QueryPciResultSchema.parse([...answer, { bus: 0x80, devices: [{ ...dev(0, 0, 0x200, undefined, 0x1af4, 0x1000, "on-pxb"), bus: 0x80 }] }]);
    expect(liveSlotsFromQueryPci(two)).toHaveLength(live.length);
  });

  it("feeds the slot map: names QEMU's and Ganeti's devices in reasons", () => {
    const map = pciSlotMap({ reservedCount: 12, fileSlots: [{ slot: 0xc, deviceId: "nic-003fc157-66a8-4e6d" }], liveSlots: live });
    expect(map[1]?.liveDevices).toHaveLength(3);
    expect(map[1]?.state).toBe("taken-live");
    expect(map[0xc]?.state).toBe("taken-both");
    expect(map[0xc]?.drift).toBeUndefined();
    const msg = map[0xc]?.reasons.find((r) => r.code === "taken-live")?.message;
    expect(msg).toBe("Slot 0x0c is in use on the live bus by virtio-net-pci 'nic-003fc157-66a8-4e6d': unplug it first or pick a free slot.");
    expect(map[0]?.reasons.map((r) => r.message).join(" ")).toContain("QEMU's i440FX host bridge (no device id)");
    // Below the reservation, QEMU's own unrecorded devices are not drift.
    expect(map[3]?.drift).toBeUndefined();
    expect(map[5]?.drift).toBeUndefined();
  });
});
