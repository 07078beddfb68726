// Every refusal the planner makes (Ganeti's own, §6, and ours), each with a
// message that names the device or slot and the next step.
import { describe, expect, it } from "vitest";
import { planHotplug, parseIntent, type InstanceSnapshot, type Plan, type RefusalCode } from "../../shared/hotplug";
import { emptyRuntime, newDisk, newNic, readRuntime, writeRuntime, type HvParams } from "../../shared/runtime";
import { FX, readFixture } from "./runtime-fixtures";
import { DISK0, HV, KVM, NEW, NIC0, SCSI0, live } from "./planner-instance";

const ADD_NIC = { action: "add-nic", uuid: NEW, mac: "aa:00:00:12:34:56", link: "br0" };
const ADD_DISK = { action: "add-disk", uuid: NEW, path: "/dev/vg0/data", bus: "pci" };

function text(hv: HvParams = HV, scsi = false): string {
  const rt = emptyRuntime(KVM, hv);
  rt.disks.push(newDisk({ uuid: DISK0, size: 1024, linkName: "/l:0", slot: 12 }));
  if (scsi) rt.disks.push(newDisk({ uuid: SCSI0, size: 10, linkName: "/l:1", scsiId: 0 }));
  rt.nics.push(newNic({ uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "br0", slot: 13 }));
  return writeRuntime(rt, "C");
}
const LIVE = [live(0), live(1), live(2), live(3), live(12, "disk-7c079136-2573-4112"), live(13, "nic-003fc157-66a8-4e6d")];
function state(over: Partial<InstanceSnapshot> = {}, t = text()): InstanceSnapshot {
  return { name: "inst1", runtime: readRuntime(t), livePci: LIVE, qmpCommands: null, qemuVersion: { major: 7, minor: 2, micro: 0 }, readers: { ganetiVersions: ["3.0.2"] }, ...over };
}
function refused(p: Plan, code: RefusalCode, ...mustMention: (string | RegExp)[]): string {
  if (p.ok) throw new Error(`expected refusal ${code}, got a plan`);
  const r = p.refusals.find((x) => x.code === code);
  if (!r) throw new Error(`expected ${code}, got ${p.refusals.map((x) => `${x.code}: ${x.message}`).join(" | ")}`);
  for (const m of mustMention) expect(r.message).toMatch(m);
  return r.message;
}

describe("intent validation", () => {
  it.each([
    [{ ...ADD_NIC, mac: "01:00:5e:00:00:01" }, /unicast/],
    [{ ...ADD_NIC, mac: "aa-00-00-12-34-56" }, /colon form/],
    [{ ...ADD_NIC, uuid: "not-a-uuid" }, /uuid/],
    [{ ...ADD_NIC, link: undefined }, /needs a link/],
    [{ ...ADD_NIC, slot: "12" }, /ambiguous/],
    [{ ...ADD_NIC, slot: 40 }, /0-31/],
    [{ ...ADD_NIC, frob: 1 }, /frob/],
    [{ ...ADD_DISK, path: "relative/x" }, /absolute/],
    [{ ...ADD_DISK, path: "/dev/a\nb" }, /newline/],
    [{ ...ADD_DISK, path: "/srv/a,b.img" }, /comma/],
    [{ ...ADD_DISK, scsiId: 1 }, /scsiId is for bus scsi/],
    [{ ...ADD_DISK, bus: "scsi", slot: 20 }, /slot is for bus pci/],
    [{ action: "modify-nic", ref: NIC0 }, /nothing to modify/],
    [{ action: "explode" }, /add-nic/],
  ])("%j is refused with a clear message", (intent, msg) => {
    const r = parseIntent(intent);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.join("\n")).toMatch(msg);
    refused(planHotplug(state(), intent), "invalid-intent", msg);
  });

  it("normalises the MAC to lowercase", () => {
    const r = parseIntent({ ...ADD_NIC, mac: "AA:BB:CC:00:00:01" });
    expect(r.ok && r.intent.action === "add-nic" && r.intent.mac).toBe("aa:bb:cc:00:00:01");
  });
});

describe("Ganeti's refusals (§6)", () => {
  it("device type not hotpluggable: nic_type / disk_type / model", () => {
    refused(planHotplug(state({}, text({ ...HV, nic_type: "ne2k_isa" })), ADD_NIC), "device-type-not-hotpluggable", /nic_type=ne2k_isa/, /restart/);
    refused(planHotplug(state({}, text({ ...HV, disk_type: "ide" })), ADD_DISK), "device-type-not-hotpluggable", /disk_type=ide/);
    refused(planHotplug(state({}, text({ ...HV, disk_type: "ide" })), { action: "remove", kind: "disk", ref: DISK0 }), "device-type-not-hotpluggable");
    refused(planHotplug(state(), { ...ADD_NIC, model: "ne2k_isa" }), "device-type-not-hotpluggable", /ne2k_isa/);
  });

  it("generation A devices cannot be removed (no slot, no id)", () => {
    const a = readFixture(FX.a);
    refused(planHotplug(state({}, a), { action: "remove", kind: "nic", ref: NIC0 }), "not-removable", /no recorded slot/, /nics\[0\]/, /instance stopped/);
  });

  it("a NIC without uuid cannot be removed", () => {
    const t = text().replace(`, "uuid": "${NIC0}"}]`, "}]");
    const s = state({}, t);
    expect(s.runtime.runtime.nics[0]?.uuid).toBeUndefined();
    refused(planHotplug(s, { action: "remove", kind: "nic", ref: "nic-003fc157-66a8-4e6d" }), "not-removable", /no uuid/);
  });

  it("missing QMP commands", () => {
    refused(planHotplug(state({ qmpCommands: ["device_add", "device_del"] }), ADD_NIC), "qmp-command-missing", /netdev_add/, /nic-9e7c85f6-b6e5-4243/);
    refused(planHotplug(state({ qmpCommands: ["device_add", "device_del", "netdev_del"] }), { action: "remove", kind: "disk", ref: DISK0 }), "qmp-command-missing", /blockdev-del/);
  });

  it("QEMU older than 1.7", () => {
    refused(planHotplug(state({ qemuVersion: { major: 1, minor: 6, micro: 2 } }), ADD_NIC), "qemu-too-old", /1\.6\.2/, /1\.7/);
  });

  it("chroot / uid pool: fd passing needs getfd / add-fd, and says so", () => {
    const pool = text({ ...HV, security_model: "pool" });
    refused(planHotplug(state({ qmpCommands: ["netdev_add", "device_add"] }, pool), ADD_NIC), "qmp-command-missing", /getfd/);
    refused(
      planHotplug(state({ qmpCommands: ["blockdev-add", "device_add"] }, text({ ...HV, use_chroot: true })), ADD_DISK),
      "qmp-command-missing",
      /add-fd/,
      /chroot/,
    );
  });

  it("instance not running (live PCI unknown) for add and remove", () => {
    refused(planHotplug(state({ livePci: null }), ADD_NIC), "instance-not-running", /inst1/, /start the instance/);
    refused(planHotplug(state({ livePci: null }), { action: "remove", kind: "nic", ref: NIC0 }), "instance-not-running");
  });

  it("removing a device that is not on the live bus is drift", () => {
    const livePci = LIVE.filter((d) => d.qdevId !== "nic-003fc157-66a8-4e6d");
    refused(planHotplug(state({ livePci }), { action: "remove", kind: "nic", ref: NIC0 }), "not-on-live-bus", /Drift/, /0x0d/, /nic-003fc157-66a8-4e6d/);
    refused(planHotplug(state({ liveScsi: [] }, text(HV, true)), { action: "remove", kind: "disk", ref: SCSI0 }), "not-on-live-bus", /SCSI target 0/);
  });

  it("unknown ref and wrong kind", () => {
    refused(planHotplug(state(), { action: "remove", kind: "nic", ref: "nic-aaaaaaaa-bbbb-cccc" }), "unknown-ref", /nic-aaaaaaaa-bbbb-cccc/);
    refused(planHotplug(state(), { action: "remove", kind: "nic", ref: DISK0 }), "wrong-kind", /is a disk/);
  });
});

describe("slot and identity refusals", () => {
  it("never a slot the reservation, the file or the live bus takes", () => {
    refused(planHotplug(state(), { ...ADD_NIC, slot: 5 }), "slot-unavailable", /0x05/, /reserved/);
    refused(planHotplug(state(), { ...ADD_NIC, slot: 13 }), "slot-unavailable", /0x0d/);
    refused(planHotplug(state({ livePci: [...LIVE, live(20, "rogue")] }), { ...ADD_NIC, slot: 20 }), "slot-unavailable", /0x14/, /live bus/);
    const fileOnly = LIVE.filter((d) => d.slot !== 12);
    refused(planHotplug(state({ livePci: fileOnly }), { ...ADD_NIC, slot: 12 }), "slot-unavailable", /runtime file/);
    refused(planHotplug(state({ pending: [14] }), { ...ADD_NIC, slot: 14 }), "slot-unavailable", /queued/);
    refused(planHotplug(state({ liveScsi: [{ scsiId: 0, qdevId: "x" }] }), { ...ADD_DISK, bus: "scsi", scsiId: 0 }), "slot-unavailable", /SCSI target 0/);
  });

  it("no free slot", () => {
    const full = [...LIVE, ...Array.from({ length: 18 }, (_, i) => live(14 + i, `x${i}`))];
    refused(planHotplug(state({ livePci: full }), ADD_NIC), "no-free-slot", /remove a device/);
  });

  it("duplicate uuid and id collisions", () => {
    refused(planHotplug(state(), { ...ADD_NIC, uuid: NIC0 }), "duplicate-uuid", /nics\[0\]/);
    refused(planHotplug(state({ livePci: [...LIVE, live(20, "nic-9e7c85f6-b6e5-4243")] }), ADD_NIC), "id-in-use", /0x14/);
  });
});

describe("readers and generations", () => {
  it("generation B target refuses a SCSI disk: nothing live that cannot be recorded", () => {
    const b = readFixture(FX.b);
    const livePci = [live(0), live(1), live(2), live(3, "balloon"), live(4, "hotdisk-7c079136-pci-4"), live(5, "hotnic-003fc157-pci-5"), live(6, "hotnic-9e7c85f6-pci-6"), live(7, "hotdisk-9f5c5bd4-pci-7")];
    const msg = refused(
      planHotplug(state({ livePci, readers: { ganetiVersions: ["2.15.2", "3.0.2"] } }, b), { action: "add-disk", uuid: "11111111-2222-4333-8444-555555555555", path: "/dev/vg0/x", bus: "scsi" }),
      "write-refused",
      /generation B/,
      /scsi\.0/,
      /Nothing was done live/,
    );
    expect(msg).toMatch(/2\.15\.2/);
  });

  it("generation B target refuses a non-virtio NIC model (2.10–2.15 derive the driver from nic_type)", () => {
    const b = readFixture(FX.b);
    const livePci = [live(0), live(1), live(2), live(3), live(4, "hotdisk-7c079136-pci-4"), live(5, "hotnic-003fc157-pci-5"), live(6, "hotnic-9e7c85f6-pci-6"), live(7, "hotdisk-9f5c5bd4-pci-7")];
    refused(planHotplug(state({ livePci, readers: { ganetiVersions: ["2.15.2"] } }, b), { ...ADD_NIC, uuid: "11111111-2222-4333-8444-555555555555", model: "e1000" }), "write-refused", /driver/);
  });

  it("a generation C file with new-style ids cannot be written for 2.15 readers", () => {
    refused(planHotplug(state({ readers: { ganetiVersions: ["2.15.2"] } }), ADD_NIC), "write-refused", /nic-003fc157-66a8-4e6d/, /old-style/);
  });

  it("readers: none, unreadable, ≤ 2.9", () => {
    refused(planHotplug(state({ readers: { ganetiVersions: [] } }), ADD_NIC), "no-readers", /inst1/);
    refused(planHotplug(state({ readers: { ganetiVersions: ["banana"] } }), ADD_NIC), "bad-version", /banana/);
    refused(planHotplug(state({ readers: { ganetiVersions: ["2.9.7", "3.0.2"] } }), ADD_NIC), "no-hotplug", /2\.9/);
    refused(planHotplug(state({ readers: { ganetiVersions: ["3.0.2"], floor: "A" } }), ADD_NIC), "no-hotplug", /generation A/);
  });

  it("a bad kvm_pci_reservations is refused, not guessed", () => {
    refused(planHotplug(state({}, text({ ...HV, kvm_pci_reservations: 40 })), ADD_NIC), "bad-hvparam", /kvm_pci_reservations=40/);
  });

  it("SCSI controller drift: live controller not in kvm_cmd", () => {
    refused(planHotplug(state({ livePci: [...LIVE, live(5, "scsi")] }), { ...ADD_DISK, bus: "scsi" }), "scsi-controller", /0x05/, /device_del scsi|restart/);
  });
});
