// Plans for removing and modifying devices: device_del → wait → netdev_del /
// blockdev-del, the running id (old-style ids after a B→C upgrade), and the
// NIC modify = remove + add at the same slot.
import { describe, expect, it } from "vitest";
import { planHotplug, qmpStepsOf, type InstanceSnapshot, type Plan, type PlanOk, type PlanStep } from "../../shared/hotplug";
import type { LivePciDevice } from "../../shared/qmp/query-pci";
import { emptyRuntime, newDisk, newNic, readRuntime, writeRuntime } from "../../shared/runtime";
import { FX, readFixture } from "./runtime-fixtures";
import { DISK0, HV, KVM, NIC0, SCSI0, live } from "./planner-instance";


function text(): string {
  const rt = emptyRuntime(KVM, HV);
  rt.disks.push(newDisk({ uuid: DISK0, size: 1024, linkName: "/l:0", slot: 12 }));
  rt.disks.push(newDisk({ uuid: SCSI0, size: 10, linkName: "/l:1", scsiId: 2 }));
  rt.nics.push(newNic({ uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "br0", slot: 13 }));
  return writeRuntime(rt, "C");
}
function state(t: string, livePci: LivePciDevice[], over: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
  return { name: "inst1", runtime: readRuntime(t), livePci, qmpCommands: null, qemuVersion: { major: 7, minor: 2, micro: 0 }, readers: { ganetiVersions: ["3.0.2"] }, ...over };
}
const LIVE = [live(0), live(1), live(2), live(3), live(4, "scsi"), live(12, "disk-7c079136-2573-4112"), live(13, "nic-003fc157-66a8-4e6d")];
function ok(p: Plan): PlanOk {
  if (!p.ok) throw new Error(`refused: ${p.refusals.map((r) => r.message).join(" | ")}`);
  return p;
}
const brief = (steps: PlanStep[]) => steps.map((s) => (s.kind === "qmp" ? `${s.command} ${JSON.stringify(s.arguments)}` : s.kind));

describe("remove", () => {
  it("NIC by uuid: device_del, wait for DEVICE_DELETED, netdev_del, tap, verify absent, then write", () => {
    const p = ok(planHotplug(state(text(), LIVE, { nicTaps: ["tap0"] }), { action: "remove", kind: "nic", ref: NIC0 }));
    expect(brief(p.steps)).toEqual([
      'device_del {"id":"nic-003fc157-66a8-4e6d"}',
      "wait-device-deleted",
      'netdev_del {"id":"nic-003fc157-66a8-4e6d"}',
      "node-tap-remove",
      "verify",
      "node-nic-file",
      "write-runtime",
    ]);
    expect(p.steps[1]).toMatchObject({ id: "nic-003fc157-66a8-4e6d", timeoutMs: 10000 });
    expect(p.steps[3]).toMatchObject({ tap: "tap0", seq: 0 });
    expect(p.steps[4]).toMatchObject({ expect: "absent", id: "nic-003fc157-66a8-4e6d" });
    expect(p.slot).toEqual({ bus: "pci", slot: 13, guestAddress: "0000:00:0d.0" });
    expect(readRuntime(p.fileTextAfter).runtime.nics).toEqual([]);
    expect(p.fileDiff).toEqual(["- nics[0]: nic-003fc157-66a8-4e6d virtio-net-pci at pci.0 slot 0xd, mac aa:00:00:bf:2f:16, bridged br0"]);
  });

  it("PCI disk by id: blockdev-del tolerates a -drive disk that is already gone", () => {
    const p = ok(planHotplug(state(text(), LIVE), { action: "remove", kind: "disk", ref: "disk-7c079136-2573-4112" }));
    expect(brief(p.steps)).toEqual([
      'device_del {"id":"disk-7c079136-2573-4112"}',
      "wait-device-deleted",
      'blockdev-del {"node-name":"disk-7c079136-2573-4112"}',
      "verify",
      "write-runtime",
    ]);
    expect(p.steps[2]).toMatchObject({ tolerateMissing: true });
    expect(readRuntime(p.fileTextAfter).runtime.disks.map((e) => e.disk.uuid)).toEqual([SCSI0]);
  });

  it("SCSI disk: checked against the live SCSI targets", () => {
    const p = ok(planHotplug(state(text(), LIVE, { liveScsi: [{ scsiId: 2, qdevId: "disk-932df160-7a22-4067" }] }), { action: "remove", kind: "disk", ref: SCSI0 }));
    expect(p.slot).toMatchObject({ bus: "scsi", scsiId: 2 });
    expect(p.steps[3]).toMatchObject({ kind: "verify", expect: "absent", bus: "scsi" });
  });

  it("after a B→C upgrade the running old-style id is used, not Ganeti 2.16+'s regenerated one", () => {
    const b = readFixture(FX.b);
    const livePci = [live(0), live(1), live(2), live(3, "balloon"), live(4, "hotdisk-7c079136-pci-4"), live(5, "hotnic-003fc157-pci-5"), live(6, "hotnic-9e7c85f6-pci-6"), live(7, "hotdisk-9f5c5bd4-pci-7")];
    const p = ok(planHotplug(state(b, livePci), { action: "remove", kind: "nic", ref: NIC0 }));
    expect(p.writeGeneration).toBe("C");
    expect(brief(p.steps).slice(0, 3)).toEqual(['device_del {"id":"hotnic-003fc157-pci-5"}', "wait-device-deleted", 'netdev_del {"id":"hotnic-003fc157-pci-5"}']);
    expect(p.warnings.join("\n")).toContain("nic-003fc157-66a8-4e6d");
    // The remaining upgraded devices keep their old ids in hvinfo, written as generation C.
    const after = readRuntime(p.fileTextAfter);
    expect(after.generation).toBe("C");
    expect(after.runtime.nics.map((n) => n.hvinfo?.id)).toEqual(["hotnic-9e7c85f6-pci-6"]);
    expect(p.fileDiff[0]).toMatch(/^~ format: generation B/);
    // By the old id works too.
    expect(ok(planHotplug(state(b, livePci), { action: "remove", kind: "disk", ref: "hotdisk-9f5c5bd4-pci-7" })).slot.slot).toBe(7);
    // And with 2.15 readers the file stays B.
    const q = ok(planHotplug(state(b, livePci, { readers: { ganetiVersions: ["2.15.2"] } }), { action: "remove", kind: "nic", ref: NIC0 }));
    expect(q.writeGeneration).toBe("B");
    expect(q.fileTextAfter).not.toContain("003fc157-66a8");
  });
});

describe("modify NIC", () => {
  it("remove then add at the same slot, one plan, one write, NIC keeps its place", () => {
    const p = ok(planHotplug(state(text(), LIVE), { action: "modify-nic", ref: "nic-003fc157-66a8-4e6d", mac: "aa:00:00:00:00:99", link: "br1" }));
    const kinds = p.steps.map((s) => s.kind);
    expect(kinds).toEqual(["qmp", "wait-device-deleted", "qmp", "node-tap-remove", "verify", "node-tap-create", "node-pass-fd", "node-nic-file", "verify", "write-runtime"]);
    expect(kinds.filter((k) => k === "write-runtime")).toHaveLength(1);
    expect(p.steps[5]).toMatchObject({ kind: "node-tap-create", link: "br1" });
    expect(qmpStepsOf(p.steps).find((s) => s.command === "device_add")).toMatchObject({ arguments: { id: "nic-003fc157-66a8-4e6d", addr: "0xd", mac: "aa:00:00:00:00:99" } });
    expect(p.slot.slot).toBe(13);
    const nic = readRuntime(p.fileTextAfter).runtime.nics[0];
    expect(nic).toMatchObject({ mac: "aa:00:00:00:00:99", nicparams: { link: "br1", mode: "bridged" }, uuid: NIC0, hvinfo: { addr: "0xd" } });
    expect(p.fileDiff).toHaveLength(1);
    expect(p.fileDiff[0]).toMatch(/^~ nics\[0\]: .*aa:00:00:bf:2f:16.* → .*aa:00:00:00:00:99, bridged br1$/);
  });

  it("an upgraded NIC gets its new-style id back when written as C (heals the §4 bug)", () => {
    const b = readFixture(FX.b);
    const livePci = [live(0), live(1), live(2), live(3, "balloon"), live(4, "hotdisk-7c079136-pci-4"), live(5, "hotnic-003fc157-pci-5"), live(6, "hotnic-9e7c85f6-pci-6"), live(7, "hotdisk-9f5c5bd4-pci-7")];
    const p = ok(planHotplug(state(b, livePci), { action: "modify-nic", ref: NIC0, link: "br1" }));
    const adds = qmpStepsOf(p.steps).filter((s) => s.command === "device_add");
    expect(adds[0]?.arguments).toMatchObject({ id: "nic-003fc157-66a8-4e6d", addr: "0x5" });
    expect(p.steps[0]).toMatchObject({ command: "device_del", arguments: { id: "hotnic-003fc157-pci-5" } });
    // Slot 5 is below 3.0's reservation, but it is the NIC's own slot.
    expect(p.warnings.join("\n")).toMatch(/goes back to 0x05/);
  });
});
