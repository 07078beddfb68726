// Drop rules on the board: they must say what shared/slots says.
import { describe, expect, it } from "vitest";
import { checkPciSlot, wrongBusReason } from "../../shared/slots/index";
import { deviceRef, judgeAnywhere, judgeDrop, pciSlotName, scsiTargetName, type DragItem } from "../../renderer/src/lib/acceptance";
import { newDisk, newNic, writeRuntime, type Runtime } from "../../shared/runtime/index";
import { buildInstanceView } from "../../shared/inventory/build";
import type { LivePciDevice } from "../../shared/qmp/query-pci";
import type { InstanceView } from "../../shared/inventory/view";

// A realistic InstanceView, built by the real shared code (runtime writer +
// inventory builder), not written by hand.

const NIC_UUID = "9e7c85f6-b6e5-4243-b27d-680b78c6d203";
const DISK_UUID = "932df160-7a22-4067-a5c3-3b3e1c8d6e11";
const SCSI_UUID = "1b2c3d4e-5f60-4718-9a0b-c1d2e3f40516";

function live(slot: number, qdevId: string, vendorId: number, deviceId: number, classDesc: string): LivePciDevice {
  return { slot, function: 0, qdevId, vendorId, deviceId, classDesc, classCode: 0, isBridge: false };
}

function fixtureView(opts: { running?: boolean; extraLive?: LivePciDevice[] } = {}): InstanceView {
  const runtime: Runtime = {
    kvmCmd: ["/usr/bin/kvm", "-name", "t.lab", "-device", "lsi,id=scsi"],
    nics: [newNic({ uuid: NIC_UUID, mac: "aa:00:00:12:34:56", link: "br0", slot: 13 })],
    hvparams: { kvm_pci_reservations: 12, nic_type: "paravirtual", disk_type: "paravirtual", scsi_controller_type: "lsi" },
    disks: [
      newDisk({ uuid: DISK_UUID, size: 64, linkName: "/var/run/ganeti/instance-disks/t.lab:0", slot: 12, ivName: "disk/0" }),
      newDisk({ uuid: SCSI_UUID, size: 64, linkName: "/var/run/ganeti/instance-disks/t.lab:1", scsiId: 0, driver: "scsi-hd", ivName: "disk/1" }),
    ],
  };
  const text = writeRuntime(runtime, "C");
  const nicId = runtime.nics[0]!.hvinfo!.id as string;
  const diskId = runtime.disks[0]!.disk.hvinfo!.id as string;
  const scsiId = runtime.disks[1]!.disk.hvinfo!.id as string;
  const running = opts.running ?? true;
  return buildInstanceView({
    node: "n1",
    name: "t.lab",
    ganetiVersion: "3.0.2",
    runtimeText: text,
    userShutdown: false,
    live: running
      ? {
          status: "running",
          qemuVersion: "7.2.0",
          pci: [
            live(0, "", 0x8086, 0x1237, "Host bridge"),
            live(1, "", 0x8086, 0x7000, "ISA bridge"),
            live(2, "", 0x1234, 0x1111, "VGA controller"),
            live(3, "", 0x1af4, 0x1002, "RAM controller"),
            live(4, "scsi", 0x1000, 0x0012, "SCSI controller"),
            live(12, diskId, 0x1af4, 0x1001, "SCSI controller"),
            live(13, nicId, 0x1af4, 0x1000, "Ethernet controller"),
            ...(opts.extraLive ?? []),
          ],
          scsi: [{ scsiId: 0, qdevId: scsiId, driver: "scsi-hd" }],
          scsiController: true,
          qmpCommands: ["device_add", "device_del", "netdev_add", "netdev_del", "query-pci"],
        }
      : null,
    ...(running ? {} : { liveProblem: { state: "stopped" as const, detail: "QEMU is not running." } }),
  });
}

const nic: DragItem = { type: "new-nic", draft: { mac: "", link: "", model: "" } };
const scsiDisk: DragItem = { type: "new-disk", draft: { path: "/dev/vg0/data", bus: "scsi" } };
const pciDisk: DragItem = { type: "new-disk", draft: { path: "/dev/vg0/data", bus: "pci" } };

describe("judgeDrop", () => {
  const view = fixtureView({ extraLive: [{ slot: 20, function: 0, qdevId: "stray", vendorId: 0x1af4, deviceId: 0x1000, classDesc: "Ethernet controller", classCode: 0, isBridge: false }] });

  it("accepts a new NIC exactly on the slots the view marks free, with the view's reasons elsewhere", () => {
    for (const e of view.pci) {
      const v = judgeDrop(view, nic, { type: "pci", slot: e.slot });
      expect(v.ok, `slot ${e.slot}`).toBe(e.state === "free");
      if (!v.ok) expect(v.reasons).toEqual(e.reasons);
    }
  });

  it("gives the same reasons as checkPciSlot over the same bus", () => {
    const input = {
      reservedCount: view.reservedCount,
      fileSlots: view.pci.flatMap((e) => e.fileDevices),
      liveSlots: view.pci.flatMap((e) => e.liveDevices.map(({ label: _l, ...d }) => d)),
    };
    for (const slot of [0, 5, 12, 13, 16, 20]) {
      const mine = judgeDrop(view, nic, { type: "pci", slot });
      const shared = checkPciSlot(input, slot);
      expect(mine.ok).toBe(shared.ok);
      if (!mine.ok && !shared.ok) expect(mine.reasons.map((r) => r.message)).toEqual(shared.reasons.map((r) => r.message));
    }
  });

  it("builds the intent for a free slot", () => {
    expect(judgeDrop(view, nic, { type: "pci", slot: 16 })).toEqual({ ok: true, intent: { action: "add-nic", slot: 16 } });
    const typed: DragItem = { type: "new-nic", draft: { mac: "AA:00:00:01:02:03", link: "br1", model: "e1000" } };
    expect(judgeDrop(view, typed, { type: "pci", slot: 17 })).toEqual({ ok: true, intent: { action: "add-nic", slot: 17, mac: "AA:00:00:01:02:03", link: "br1", model: "e1000" } });
    expect(judgeDrop(view, pciDisk, { type: "pci", slot: 16 })).toEqual({ ok: true, intent: { action: "add-disk", path: "/dev/vg0/data", bus: "pci", slot: 16 } });
    expect(judgeDrop(view, scsiDisk, { type: "scsi", scsiId: 3 })).toEqual({ ok: true, intent: { action: "add-disk", path: "/dev/vg0/data", bus: "scsi", scsiId: 3 } });
  });

  it("a SCSI disk over a PCI slot says wrong bus (shared/slots wording), and a NIC over a SCSI target too", () => {
    const v = judgeDrop(view, scsiDisk, { type: "pci", slot: 16 });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reasons[0]).toEqual(wrongBusReason({ bus: "scsi", label: "The new disk (scsi-hd)" }, "pci"));
    const n = judgeDrop(view, nic, { type: "scsi", scsiId: 3 });
    expect(!n.ok && n.reasons[0]?.code).toBe("wrong-bus");
  });

  it("a taken SCSI target refuses with its reason", () => {
    const v = judgeDrop(view, scsiDisk, { type: "scsi", scsiId: 0 });
    expect(!v.ok && v.reasons.map((r) => r.code)).toEqual(["taken-live", "taken-file"]);
  });

  it("rejects what was typed wrong with the schema's message", () => {
    const bad: DragItem = { type: "new-nic", draft: { mac: "01:00:00:00:00:01", link: "", model: "" } };
    const v = judgeDrop(view, bad, { type: "pci", slot: 16 });
    expect(!v.ok && v.reasons[0]?.message).toMatch(/^MAC: expected a unicast MAC/);
    const noPath: DragItem = { type: "new-disk", draft: { path: "", bus: "pci" } };
    expect(judgeDrop(view, noPath, { type: "pci", slot: 16 }).ok).toBe(false);
  });

  it("in a Ganeti cluster, a disk without a path is one Ganeti creates: its size (1024 MiB unless typed), at the chosen place; a path stays a path", () => {
    const sized: DragItem = { type: "new-disk", draft: { path: "", bus: "pci", ganeti: true } };
    expect(judgeDrop(view, sized, { type: "pci", slot: 16 })).toEqual({ ok: true, intent: { action: "add-disk", sizeMiB: 1024, bus: "pci", slot: 16 } });
    const typed: DragItem = { type: "new-disk", draft: { path: "", bus: "pci", sizeMiB: " 64 ", ganeti: true } };
    expect(judgeDrop(view, typed, { type: "pci", slot: 16 })).toEqual({ ok: true, intent: { action: "add-disk", sizeMiB: 64, bus: "pci", slot: 16 } });
    const zero: DragItem = { type: "new-disk", draft: { path: "", bus: "pci", sizeMiB: "0", ganeti: true } };
    const z = judgeDrop(view, zero, { type: "pci", slot: 16 });
    expect(!z.ok && z.reasons[0]?.message).toMatch(/^Disk size: a whole number of MiB, at least 1/);
    const own: DragItem = { type: "new-disk", draft: { path: "/srv/own.img", bus: "pci", sizeMiB: "64", ganeti: true } };
    expect(judgeDrop(view, own, { type: "pci", slot: 16 })).toEqual({ ok: true, intent: { action: "add-disk", path: "/srv/own.img", bus: "pci", slot: 16 } });
  });

  it("moves a NIC to a free slot, not onto itself; disks do not move; Remove unplugs", () => {
    const device = view.devices.find((d) => d.kind === "nic")!;
    const item: DragItem = { type: "device", device };
    expect(judgeDrop(view, item, { type: "pci", slot: 16 })).toEqual({ ok: true, intent: { action: "move-nic", ref: deviceRef(device), slot: 16 } });
    const self = judgeDrop(view, item, { type: "pci", slot: 13 });
    expect(!self.ok && self.reasons.map((r) => r.code)).toEqual(["same-slot"]);
    const disk: DragItem = { type: "device", device: view.devices.find((d) => d.kind === "disk" && d.bus === "pci")! };
    expect(!judgeDrop(view, disk, { type: "pci", slot: 16 }).ok).toBe(true);
    expect(judgeDrop(view, item, { type: "remove" })).toEqual({ ok: true, intent: { action: "remove", kind: "nic", ref: deviceRef(device) } });
    expect(judgeDrop(view, nic, { type: "remove" }).ok).toBe(false);
    expect(device.uuid).toBe(NIC_UUID);
  });

  it("refuses everything on a stopped instance and says so", () => {
    const stopped = fixtureView({ running: false });
    const v = judgeDrop(stopped, nic, { type: "pci", slot: 16 });
    expect(!v.ok && v.reasons.map((r) => r.code)).toContain("instance-state");
    expect(judgeAnywhere(stopped, nic).ok).toBe(false);
    expect(judgeAnywhere(view, nic)).toEqual({ ok: true, intent: { action: "add-nic" } });
  });
});

describe("accessible slot names", () => {
  const view = fixtureView();
  it("free, reserved with the reason, and taken with the device", () => {
    expect(pciSlotName(view, 0x10)).toBe("Slot 0x10, free");
    expect(pciSlotName(view, 0x05)).toMatch(/^Slot 0x05, reserved: Ganeti keeps the first 12 slots \(0x00–0x0b\)/);
    expect(pciSlotName(view, 0x0d)).toMatch(/^Slot 0x0d, in use by nic-9e7c85f6-b6e5-4243 \(virtio-net-pci\)$/);
    expect(pciSlotName(view, 0x02)).toMatch(/^Slot 0x02, in use by .*, reserved$/);
    expect(scsiTargetName(view, 0)).toMatch(/^SCSI target 0, in use by disk-/);
    expect(scsiTargetName(view, 5)).toBe("SCSI target 5, free");
  });
  it("names drift", () => {
    const drifted = fixtureView({ extraLive: [{ slot: 20, function: 0, qdevId: "stray", vendorId: 0x1af4, deviceId: 0x1000, classDesc: "Ethernet controller", classCode: 0, isBridge: false }] });
    expect(pciSlotName(drifted, 0x14)).toMatch(/drift: The live bus has .* but the runtime file does not record it/);
  });
});
