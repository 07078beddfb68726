// Plans for adding NICs and disks: slot choice, exact QMP arguments, ids per
// write generation, fd passing, the SCSI controller, and the file written.
import { describe, expect, it } from "vitest";
import { planHotplug, qmpStepsOf, FDSET_PLACEHOLDER, type InstanceSnapshot, type Plan, type PlanOk, type PlanStep } from "../../shared/hotplug";
import type { LivePciDevice } from "../../shared/qmp/query-pci";
import { emptyRuntime, newDisk, newNic, readRuntime, writeRuntime, type HvParams } from "../../shared/runtime";
import { FX, readFixture, readUpstream } from "./runtime-fixtures";

const KVM = ["/usr/bin/kvm", "-name", "inst1", "-m", 1024, "-device", "virtio-balloon"];
const HV: HvParams = { disk_type: "paravirtual", kvm_pci_reservations: 12, nic_type: "paravirtual", security_model: "none", use_chroot: false, vhost_net: false };
const NIC0 = "003fc157-66a8-4e6d-8b7e-ec4f69751396";
const DISK0 = "7c079136-2573-4112-82d0-0d3d2aa90d8f";
const NEW = "9e7c85f6-b6e5-4243-b27d-680b78c6d203";
const ALL_QMP = ["getfd", "add-fd", "remove-fd", "netdev_add", "netdev_del", "device_add", "device_del", "blockdev-add", "blockdev-del", "query-pci"];

function live(slot: number, qdevId = "", vendorId = 0x8086): LivePciDevice {
  return { slot, function: 0, qdevId, vendorId, deviceId: 0x1000, classDesc: null, classCode: 0, isBridge: false };
}
/** QEMU's own devices in 0-4 plus what the runtime records. */
function liveFor(text: string, extra: LivePciDevice[] = []): LivePciDevice[] {
  const rt = readRuntime(text).runtime;
  const out = [0, 1, 2, 3, 4].map((s) => live(s));
  for (const d of [...rt.nics, ...rt.disks.map((e) => e.disk)]) {
    const h = d.hvinfo;
    if (h?.bus === "pci.0" && typeof h.addr === "string" && typeof h.id === "string") out.push(live(parseInt(h.addr, 16), h.id, 0x1af4));
  }
  return [...out, ...extra];
}
function baseText(hv: HvParams = HV): string {
  const rt = emptyRuntime(KVM, hv);
  rt.disks.push(newDisk({ uuid: DISK0, size: 1024, linkName: "/var/run/ganeti/instance-disks/inst1:0", slot: 12 }));
  rt.nics.push(newNic({ uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "br0", slot: 13 }));
  return writeRuntime(rt, "C");
}
function state(text: string, over: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
  return {
    name: "inst1",
    runtime: readRuntime(text),
    livePci: liveFor(text),
    qmpCommands: ALL_QMP,
    qemuVersion: { major: 7, minor: 2, micro: 0 },
    readers: { ganetiVersions: ["3.0.2"] },
    ...over,
  };
}
function ok(p: Plan): PlanOk {
  if (!p.ok) throw new Error(`refused: ${p.refusals.map((r) => r.message).join(" | ")}`);
  return p;
}
const qmpCalls = (steps: PlanStep[]) => qmpStepsOf(steps).map((s) => [s.command, s.arguments]);

describe("NIC add", () => {
  it("auto slot: first free above the reservation, exact QMP arguments, runtime written", () => {
    const p = ok(planHotplug(state(baseText()), { action: "add-nic", uuid: NEW, mac: "AA:00:00:12:34:56", link: "br0" }));
    expect(p.slot).toEqual({ bus: "pci", slot: 14, guestAddress: "0000:00:0e.0" });
    // The tap fd is passed even though QEMU runs as root here: the tap must die with QEMU.
    expect(p.steps.map((s) => s.kind)).toEqual(["node-tap-create", "node-pass-fd", "node-nic-file", "verify", "write-runtime"]);
    expect(p.steps[0]).toMatchObject({ kind: "node-tap-create", tap: "tap9e7c85f6", link: "br0", mode: "bridged", vlan: "" });
    const pass = p.steps[1];
    if (pass?.kind !== "node-pass-fd") throw new Error("expected node-pass-fd");
    expect(pass).toMatchObject({ mechanism: "getfd", source: { type: "tap", tap: "tap9e7c85f6", vhost: false }, fdnames: ["nic-9e7c85f6-b6e5-4243-0"] });
    expect(qmpCalls(pass.commands)).toEqual([
      ["netdev_add", { type: "tap", id: "nic-9e7c85f6-b6e5-4243", fd: "nic-9e7c85f6-b6e5-4243-0" }],
      ["device_add", { driver: "virtio-net-pci", id: "nic-9e7c85f6-b6e5-4243", bus: "pci.0", addr: "0xe", netdev: "nic-9e7c85f6-b6e5-4243", mac: "aa:00:00:12:34:56" }],
    ]);
    expect(pass.commands[1]).toMatchObject({ undo: { command: "device_del", arguments: { id: "nic-9e7c85f6-b6e5-4243" } } });
    expect(p.steps[3]).toMatchObject({ kind: "verify", expect: "present", id: "nic-9e7c85f6-b6e5-4243", slot: 14 });
    expect(p.steps[4]).toMatchObject({ kind: "write-runtime", generation: "C" });
    expect(p.writeGeneration).toBe("C");
    const back = readRuntime(p.fileTextAfter);
    expect(back.runtime.nics[1]?.hvinfo).toEqual({ driver: "virtio-net-pci", id: "nic-9e7c85f6-b6e5-4243", bus: "pci.0", addr: "0xe" });
    expect(back.runtime.nics[1]?.mac).toBe("aa:00:00:12:34:56");
    expect(p.fileDiff).toEqual(["+ nics[1]: nic-9e7c85f6-b6e5-4243 virtio-net-pci at pci.0 slot 0xe, mac aa:00:00:12:34:56, bridged br0"]);
    // Untouched entries keep their bytes.
    expect(p.fileTextAfter.startsWith(baseText().slice(0, baseText().indexOf("}]") ))).toBe(true);
  });

  it("chosen slot as hex text or number", () => {
    for (const slot of ["0x10", 16]) {
      const p = ok(planHotplug(state(baseText()), { action: "add-nic", uuid: NEW, mac: "aa:00:00:12:34:56", link: "br0", slot }));
      expect(p.slot.slot).toBe(16);
        expect(qmpCalls(p.steps)[1]?.[1]).toMatchObject({ addr: "0x10" });
    }
  });

  it("skips a slot that only the live bus has taken (Ganeti's forgotten QGA device, #1620)", () => {
    const text = baseText();
    const p = ok(planHotplug(state(text, { livePci: liveFor(text, [live(14, "qga0", 0x1af4)]) }), { action: "add-nic", uuid: NEW, mac: "aa:00:00:12:34:56", link: "br0" }));
    expect(p.slot.slot).toBe(15);
  });

  it("honours pending slots and hvparams model/vhost; openvswitch vlan goes to the tap step", () => {
    const p = ok(
      planHotplug(state(baseText({ ...HV, vhost_net: true, nic_type: "e1000" }), { pending: [14] }), {
        action: "add-nic",
        uuid: NEW,
        mac: "aa:00:00:12:34:56",
        link: "ovs0",
        mode: "openvswitch",
        vlan: ".100",
      }),
    );
    expect(p.slot.slot).toBe(15);
    expect(p.steps[0]).toMatchObject({ kind: "node-tap-create", mode: "openvswitch", link: "ovs0", vlan: ".100" });
    const pass = p.steps.find((st) => st.kind === "node-pass-fd");
    if (pass?.kind !== "node-pass-fd") throw new Error("expected node-pass-fd");
    expect(pass.fdnames).toEqual(["nic-9e7c85f6-b6e5-4243-0", "nic-9e7c85f6-b6e5-4243-vhost-0"]);
    expect(qmpCalls(pass.commands)).toEqual([
      ["netdev_add", { type: "tap", id: "nic-9e7c85f6-b6e5-4243", fd: "nic-9e7c85f6-b6e5-4243-0", vhost: true, vhostfd: "nic-9e7c85f6-b6e5-4243-vhost-0" }],
      ["device_add", { driver: "e1000", id: "nic-9e7c85f6-b6e5-4243", bus: "pci.0", addr: "0xf", netdev: "nic-9e7c85f6-b6e5-4243", mac: "aa:00:00:12:34:56" }],
    ]);
  });

  it("passes the tap fd on the node when QEMU runs unprivileged (uid pool), netdev_add in the same session", () => {
    const p = ok(planHotplug(state(baseText({ ...HV, security_model: "pool" })), { action: "add-nic", uuid: NEW, mac: "aa:00:00:12:34:56", link: "br0" }));
    expect(p.steps.map((s) => s.kind)).toEqual(["node-tap-create", "node-pass-fd", "node-nic-file", "verify", "write-runtime"]);
    const fd = p.steps[1];
    if (fd?.kind !== "node-pass-fd") throw new Error("expected node-pass-fd");
    expect(fd).toMatchObject({ mechanism: "getfd", socket: "qmp", source: { type: "tap", tap: "tap9e7c85f6", vhost: false }, fdnames: ["nic-9e7c85f6-b6e5-4243-0"] });
    expect(fd.describe).toContain("security_model=pool");
    expect(qmpCalls(fd.commands)).toEqual([
      ["netdev_add", { type: "tap", id: "nic-9e7c85f6-b6e5-4243", fd: "nic-9e7c85f6-b6e5-4243-0" }],
      ["device_add", { driver: "virtio-net-pci", id: "nic-9e7c85f6-b6e5-4243", bus: "pci.0", addr: "0xe", netdev: "nic-9e7c85f6-b6e5-4243", mac: "aa:00:00:12:34:56" }],
    ]);
  });

  it("chroot: fd passing with vhost fds, and a warning about the option ROM", () => {
    const p = ok(planHotplug(state(baseText({ ...HV, use_chroot: true, vhost_net: true })), { action: "add-nic", uuid: NEW, mac: "aa:00:00:12:34:56", link: "br0" }));
    const fd = p.steps[1];
    if (fd?.kind !== "node-pass-fd") throw new Error("expected node-pass-fd");
    expect(fd.fdnames).toEqual(["nic-9e7c85f6-b6e5-4243-0", "nic-9e7c85f6-b6e5-4243-vhost-0"]);
    expect(fd.commands[0]?.arguments).toEqual({ type: "tap", id: "nic-9e7c85f6-b6e5-4243", fd: "nic-9e7c85f6-b6e5-4243-0", vhost: true, vhostfd: "nic-9e7c85f6-b6e5-4243-vhost-0" });
    expect(p.warnings.join("\n")).toMatch(/romfile/);
  });

  it("generation B readers: old-style id with the slot, pci int in the file, 3 reserved slots", () => {
    const text = readFixture(FX.b);
    const livePci = [live(0), live(1), live(2), live(3, "balloon", 0x1af4), live(4, "hotdisk-7c079136-pci-4"), live(5, "hotnic-003fc157-pci-5"), live(6, "hotnic-9e7c85f6-pci-6"), live(7, "hotdisk-9f5c5bd4-pci-7")];
    const p = ok(
      planHotplug(state(text, { livePci, readers: { ganetiVersions: ["2.15.2", "3.0.2"] } }), { action: "add-nic", uuid: "11111111-2222-4333-8444-555555555555", mac: "aa:00:00:00:00:01", link: "br0" }),
    );
    expect(p.writeGeneration).toBe("B");
    expect(p.slot.slot).toBe(8);
    expect(qmpCalls(p.steps)[1]?.[1]).toMatchObject({ id: "hotnic-11111111-pci-8", addr: "0x8" });
    expect(p.fileTextAfter).toContain('"pci": 8');
    expect(p.fileTextAfter).not.toContain("hvinfo");
    expect(readRuntime(p.fileTextAfter).generation).toBe("B");
    // The existing py2-ordered entries are untouched.
    expect(p.fileTextAfter).toContain('{"mac": "aa:00:00:bf:2f:16", "pci": 5, "nicparams": {"vlan": "", "link": "br0", "mode": "bridged"}, "uuid": "003fc157-66a8-4e6d-8b7e-ec4f69751396"}');
  });

  it("a floor of B on 3.x nodes still uses the 3.x reservation (12) but writes B", () => {
    const text = readFixture(FX.b);
    const livePci = [0, 1, 2, 3].map((s) => live(s)).concat([live(4, "hotdisk-7c079136-pci-4"), live(5, "hotnic-003fc157-pci-5"), live(6, "hotnic-9e7c85f6-pci-6"), live(7, "hotdisk-9f5c5bd4-pci-7")]);
    const p = ok(planHotplug(state(text, { livePci, readers: { ganetiVersions: ["3.0.2"], floor: "B" } }), { action: "add-nic", uuid: "11111111-2222-4333-8444-555555555555", mac: "aa:00:00:00:00:01", link: "br0" }));
    expect(p.writeGeneration).toBe("B");
    expect(p.slot.slot).toBe(12);
    expect(p.fileTextAfter).toContain('"pci": 12');
  });
});

describe("disk add", () => {
  it("a path under /dev/shm is a file (tmpfs), not a block device", () => {
    const p = ok(planHotplug(state(baseText()), { action: "add-disk", uuid: NEW, path: "/dev/shm/images/data.img", bus: "pci", sizeMiB: 8 }));
    expect(qmpCalls(p.steps)[0]).toEqual(["blockdev-add", { driver: "raw", "node-name": "disk-9e7c85f6-b6e5-4243", file: { driver: "file", filename: "/dev/shm/images/data.img" } }]);
    expect(readRuntime(p.fileTextAfter).runtime.disks[1]?.disk).toMatchObject({ dev_type: "file" });
  });

  it("PCI: blockdev-add + virtio-blk-pci, exact arguments", () => {
    const p = ok(planHotplug(state(baseText()), { action: "add-disk", uuid: NEW, path: "/dev/vg0/data", bus: "pci", sizeMiB: 2048 }));
    expect(p.slot).toEqual({ bus: "pci", slot: 14, guestAddress: "0000:00:0e.0" });
    expect(qmpCalls(p.steps)).toEqual([
      ["blockdev-add", { driver: "raw", "node-name": "disk-9e7c85f6-b6e5-4243", file: { driver: "host_device", filename: "/dev/vg0/data" } }],
      ["device_add", { driver: "virtio-blk-pci", id: "disk-9e7c85f6-b6e5-4243", bus: "pci.0", addr: "0xe", drive: "disk-9e7c85f6-b6e5-4243" }],
    ]);
    expect(p.steps[0]).toMatchObject({ undo: { command: "blockdev-del", arguments: { "node-name": "disk-9e7c85f6-b6e5-4243" } } });
    const back = readRuntime(p.fileTextAfter).runtime.disks[1];
    expect(back?.linkName).toBe("/dev/vg0/data");
    expect(back?.disk).toMatchObject({ dev_type: "blockdev", size: 2048, uuid: NEW, hvinfo: { driver: "virtio-blk-pci", id: "disk-9e7c85f6-b6e5-4243", bus: "pci.0", addr: "0xe" } });
  });

  it("a file image uses the file driver", () => {
    const p = ok(planHotplug(state(baseText()), { action: "add-disk", uuid: NEW, path: "/srv/img/data.img", bus: "pci", slot: "0x1f" }));
    expect(qmpCalls(p.steps)[0]?.[1]).toMatchObject({ file: { driver: "file", filename: "/srv/img/data.img" } });
    expect(p.slot.slot).toBe(31);
  });

  it("under chroot: add-fd on the node, blockdev-add on /dev/fdset, remove-fd, all in one session", () => {
    const p = ok(planHotplug(state(baseText({ ...HV, use_chroot: true })), { action: "add-disk", uuid: NEW, path: "/dev/vg0/data", bus: "pci" }));
    const fd = p.steps[0];
    if (fd?.kind !== "node-pass-fd") throw new Error("expected node-pass-fd");
    expect(fd).toMatchObject({ mechanism: "add-fd", source: { type: "path", path: "/dev/vg0/data" } });
    expect(qmpCalls(fd.commands)).toEqual([
      ["blockdev-add", { driver: "raw", "node-name": "disk-9e7c85f6-b6e5-4243", file: { driver: "host_device", filename: `/dev/fdset/${FDSET_PLACEHOLDER}` } }],
      ["device_add", { driver: "virtio-blk-pci", id: "disk-9e7c85f6-b6e5-4243", bus: "pci.0", addr: "0xe", drive: "disk-9e7c85f6-b6e5-4243" }],
      ["remove-fd", { "fdset-id": FDSET_PLACEHOLDER }],
    ]);
  });

  it("SCSI: controller added once, recorded in kvm_cmd; scsi-hd on scsi.0", () => {
    const text = baseText();
    const p = ok(planHotplug(state(text, { liveScsi: [] }), { action: "add-disk", uuid: NEW, path: "/dev/vg0/data", bus: "scsi" }));
    expect(p.slot).toEqual({ bus: "scsi", scsiId: 0, guestAddress: "scsi.0 channel 0, target 0, lun 0" });
    expect(qmpCalls(p.steps)).toEqual([
      ["device_add", { driver: "lsi", id: "scsi", bus: "pci.0", addr: "0x5" }],
      ["blockdev-add", { driver: "raw", "node-name": "disk-9e7c85f6-b6e5-4243", file: { driver: "host_device", filename: "/dev/vg0/data" } }],
      ["device_add", { driver: "scsi-hd", id: "disk-9e7c85f6-b6e5-4243", bus: "scsi.0", channel: 0, "scsi-id": 0, lun: 0, drive: "disk-9e7c85f6-b6e5-4243" }],
    ]);
    expect(p.fileDiff[0]).toBe("+ kvm_cmd: -device lsi,id=scsi,bus=pci.0,addr=0x5");
    const back = readRuntime(p.fileTextAfter);
    expect(back.runtime.kvmCmd.slice(-2)).toEqual(["-device", "lsi,id=scsi,bus=pci.0,addr=0x5"]);
    expect(back.runtime.disks[1]?.disk.hvinfo).toEqual({ driver: "scsi-hd", id: "disk-9e7c85f6-b6e5-4243", bus: "scsi.0", channel: 0, "scsi-id": 0, lun: 0 });

    // Second SCSI disk, planned on the state after the first: no controller step.
    const after = p.fileTextAfter;
    const livePci = liveFor(after, [live(5, "scsi", 0x1000)]);
    const q = ok(
      planHotplug(state(after, { livePci, liveScsi: [{ scsiId: 0, qdevId: "disk-9e7c85f6-b6e5-4243" }] }), { action: "add-disk", uuid: "11111111-2222-4333-8444-555555555555", path: "/dev/vg0/two", bus: "scsi" }),
    );
    expect(qmpCalls(q.steps).map((c) => c[0])).toEqual(["blockdev-add", "device_add"]);
    expect(q.slot.scsiId).toBe(1);
    expect(q.fileDiff.some((l) => l.includes("kvm_cmd"))).toBe(false);
  });

  it("SCSI on lsi (Ganeti's default controller): only targets 0-6 exist, and the refusal says why", () => {
    const text = baseText();
    const p = planHotplug(state(text, { liveScsi: [] }), { action: "add-disk", uuid: NEW, path: "/dev/vg0/data", bus: "scsi", scsiId: 8 });
    expect(p.ok).toBe(false);
    expect(!p.ok && p.refusals[0]?.message).toMatch(/SCSI target 8: the lsi controller .* targets 0 to 6.*Pick a target from 0 to 6/);
    // With targets 0-6 all taken, there is no free one (not 7..15).
    const taken = Array.from({ length: 7 }, (_, i) => ({ scsiId: i, qdevId: `disk-${i}` }));
    const full = planHotplug(state(text, { liveScsi: taken }), { action: "add-disk", uuid: NEW, path: "/dev/vg0/data", bus: "scsi" });
    expect(full.ok).toBe(false);
    expect(!full.ok && full.refusals[0]?.message).toMatch(/All 7 SCSI targets \(0–6\) are taken/);
  });

  it("SCSI: uses scsi_controller_type and keeps the in-memory upgrades out of kvm_cmd", () => {
    const text = readUpstream().replace('"soundhw": ""', '"scsi_controller_type": "virtio-scsi-pci", "soundhw": ""');
    const p = ok(planHotplug(state(text), { action: "add-disk", uuid: NEW, path: "/dev/vg0/data", bus: "scsi", scsiId: 3 }));
    expect(qmpCalls(p.steps)[0]).toEqual(["device_add", { driver: "virtio-scsi-pci", id: "scsi", bus: "pci.0", addr: "0x5" }]);
    // "-balloon virtio" stays as written (each reader upgrades it itself).
    expect(p.fileTextAfter).toContain('"-balloon", "virtio"');
    expect(p.slot.scsiId).toBe(3);
  });
});
