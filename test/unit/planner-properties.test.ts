// Property: whatever the runtime file, the live bus, the reservation and the
// queued plans say, a successful plan never places a device on a slot any of
// them claims, and the bytes it writes read back with the device there.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planHotplug, type InstanceSnapshot } from "../../shared/hotplug";
import type { LivePciDevice } from "../../shared/qmp/query-pci";
import { emptyRuntime, newDisk, newNic, readRuntime, writeRuntime, type Generation } from "../../shared/runtime";

const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");
const uuidOf = (n: number) => `${hex(n, 8)}-${hex(n % 65536, 4)}-4${hex(n % 4096, 3)}-8${hex(n % 4096, 3)}-${hex(n, 12)}`;

interface World {
  gen: Generation;
  reservations: number;
  /** [uuid seed, slot or scsi target, kind] */
  devices: { seed: number; kind: "nic" | "pci-disk" | "scsi-disk"; at: number }[];
  liveExtra: number[];
  liveMissing: number[];
  pending: number[];
  liveScsiExtra: number[];
  intent: { kind: "nic" | "pci-disk" | "scsi-disk"; seed: number; at: number | null };
}

const worldArb: fc.Arbitrary<World> = fc.record({
  gen: fc.constantFrom<Generation>("B", "C"),
  reservations: fc.integer({ min: 0, max: 32 }),
  devices: fc.uniqueArray(
    fc.record({ seed: fc.integer({ min: 1, max: 2 ** 31 }), kind: fc.constantFrom<"nic" | "pci-disk" | "scsi-disk">("nic", "pci-disk", "scsi-disk"), at: fc.integer({ min: 2, max: 31 }) }),
    { maxLength: 14, selector: (d) => d.seed },
  ),
  liveExtra: fc.array(fc.integer({ min: 0, max: 31 }), { maxLength: 10 }),
  liveMissing: fc.array(fc.integer({ min: 0, max: 31 }), { maxLength: 4 }),
  pending: fc.array(fc.integer({ min: 0, max: 31 }), { maxLength: 6 }),
  liveScsiExtra: fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 6 }),
  intent: fc.record({
    kind: fc.constantFrom<"nic" | "pci-disk" | "scsi-disk">("nic", "pci-disk", "scsi-disk"),
    seed: fc.integer({ min: 1, max: 2 ** 31 }),
    at: fc.option(fc.integer({ min: 0, max: 31 }), { nil: null }),
  }),
});

function build(w: World): { state: InstanceSnapshot; fileSlots: Set<number>; liveSlots: Set<number>; scsiTaken: Set<number>; reserved: number } {
  const hv = { disk_type: "paravirtual", nic_type: "paravirtual", security_model: "none", ...(w.gen === "C" ? { kvm_pci_reservations: w.reservations } : {}) };
  const rt = emptyRuntime(["/usr/bin/kvm", "-name", "i", "-m", 512], hv);
  const pciUsed = new Set<number>();
  const scsiUsed = new Set<number>();
  const ids = new Set<string>();
  for (const d of w.devices) {
    const uuid = uuidOf(d.seed);
    if (d.kind === "scsi-disk") {
      if (w.gen === "B" || scsiUsed.has(d.at % 16)) continue;
      const disk = newDisk({ uuid, size: 1, linkName: `/l:${d.seed}`, scsiId: d.at % 16 });
      if (ids.has(String(disk.disk.hvinfo?.id))) continue;
      ids.add(String(disk.disk.hvinfo?.id));
      scsiUsed.add(d.at % 16);
      rt.disks.push(disk);
      continue;
    }
    if (pciUsed.has(d.at)) continue;
    const idStyle = w.gen === "B" ? "v1" : "v2";
    const nic = d.kind === "nic" ? newNic({ uuid, mac: "aa:00:00:00:00:01", link: "br0", slot: d.at, idStyle }) : null;
    const disk = d.kind === "nic" ? null : newDisk({ uuid, size: 1, linkName: `/l:${d.seed}`, slot: d.at, idStyle });
    const id = String(nic ? nic.hvinfo?.id : disk?.disk.hvinfo?.id);
    if (ids.has(id)) continue;
    ids.add(id);
    pciUsed.add(d.at);
    if (nic) rt.nics.push(nic);
    if (disk) rt.disks.push(disk);
  }
  const text = writeRuntime(rt, w.gen);
  const live: LivePciDevice[] = [];
  const mk = (slot: number, qdevId: string): LivePciDevice => ({ slot, function: 0, qdevId, vendorId: 0x1af4, deviceId: 0x1000, classDesc: null, classCode: 0, isBridge: false });
  for (const s of [0, 1, 2]) live.push(mk(s, ""));
  for (const n of rt.nics) if (!w.liveMissing.includes(parseInt(String(n.hvinfo?.addr), 16))) live.push(mk(parseInt(String(n.hvinfo?.addr), 16), String(n.hvinfo?.id)));
  for (const e of rt.disks) {
    const h = e.disk.hvinfo;
    if (h?.bus === "pci.0" && !w.liveMissing.includes(parseInt(String(h.addr), 16))) live.push(mk(parseInt(String(h.addr), 16), String(h.id)));
  }
  w.liveExtra.forEach((s, i) => live.push(mk(s, `other${i}`)));
  const liveScsi = w.liveScsiExtra.map((t, i) => ({ scsiId: t, qdevId: `scsi-other${i}` }));
  for (const e of rt.disks) if (e.disk.hvinfo?.bus === "scsi.0") liveScsi.push({ scsiId: Number(e.disk.hvinfo["scsi-id"]), qdevId: String(e.disk.hvinfo.id) });
  const state: InstanceSnapshot = {
    name: "i",
    runtime: readRuntime(text),
    livePci: live,
    liveScsi,
    qmpCommands: null,
    qemuVersion: { major: 7, minor: 2, micro: 0 },
    readers: { ganetiVersions: [w.gen === "B" ? "2.15.2" : "3.0.2"] },
    pending: w.pending,
  };
  return {
    state,
    fileSlots: pciUsed,
    liveSlots: new Set(live.map((d) => d.slot)),
    scsiTaken: new Set([...scsiUsed, ...liveScsi.map((t) => t.scsiId)]),
    reserved: w.gen === "B" ? 3 : w.reservations,
  };
}

describe("planner properties", () => {
  it("a successful add never lands on a reserved, file-taken, live-taken or pending slot, and reads back there", () => {
    let planned = 0;
    fc.assert(
      fc.property(worldArb, (w) => {
        const b = build(w);
        const uuid = uuidOf(w.intent.seed);
        const intent =
          w.intent.kind === "nic"
            ? { action: "add-nic", uuid, mac: "aa:00:00:00:00:02", link: "br0", ...(w.intent.at !== null ? { slot: w.intent.at } : {}) }
            : w.intent.kind === "pci-disk"
              ? { action: "add-disk", uuid, path: "/dev/vg/x", bus: "pci", ...(w.intent.at !== null ? { slot: w.intent.at } : {}) }
              : { action: "add-disk", uuid, path: "/dev/vg/x", bus: "scsi", ...(w.intent.at !== null ? { scsiId: w.intent.at % 16 } : {}) };
        const p = planHotplug(b.state, intent);
        if (!p.ok) {
          for (const r of p.refusals) expect(r.message.length).toBeGreaterThan(20);
          return;
        }
        planned++;
        const back = readRuntime(p.fileTextAfter);
        const found = [...back.runtime.nics, ...back.runtime.disks.map((e) => e.disk)].find((d) => d.uuid === uuid);
        expect(found).toBeDefined();
        if (p.slot.bus === "pci") {
          const slot = p.slot.slot as number;
          expect(slot).toBeGreaterThanOrEqual(2);
          expect(slot).toBeGreaterThanOrEqual(b.reserved);
          expect(b.fileSlots.has(slot)).toBe(false);
          expect(b.liveSlots.has(slot)).toBe(false);
          expect(w.pending.includes(slot)).toBe(false);
          expect(found?.hvinfo).toMatchObject({ bus: "pci.0", addr: `0x${slot.toString(16)}` });
          expect(back.generation).toBe(w.gen);
          if (w.gen === "B") expect(found?.hvinfo?.id).toBe(`hot${w.intent.kind === "nic" ? "nic" : "disk"}-${uuid.slice(0, 8)}-pci-${slot}`);
          if (w.intent.at !== null) expect(slot).toBe(w.intent.at);
        } else {
          expect(w.gen).toBe("C");
          expect(b.scsiTaken.has(p.slot.scsiId as number)).toBe(false);
          expect(found?.hvinfo).toMatchObject({ bus: "scsi.0", "scsi-id": p.slot.scsiId, channel: 0, lun: 0 });
        }
        // The plan's last step writes exactly these bytes for this generation.
        expect(p.steps.at(-1)).toMatchObject({ kind: "write-runtime", generation: w.gen });
      }),
      { numRuns: 400 },
    );
    expect(planned).toBeGreaterThan(50);
  });
});
