// The migration comparator: where a target started from a runtime file
// would put each device, and every way that differs from the live bus.
import { describe, it, expect } from "vitest";
import { checkMigration, checkRuntimeAgainstLive, parseAddr, simulateTargetBus, splitQemuOpts, targetArgvFor } from "../../shared/hotplug/migration-check";
import { emptyRuntime, newDisk, newNic, deviceIdV2, type Runtime } from "../../shared/runtime";
import type { LivePciDevice } from "../../shared/qmp/query-pci";

const NIC = "9e7c85f6-b6e5-4243-b27d-680b78c6d203";
const DISK = "932df160-7a22-4067-a566-7e0ca8386133";
const NIC2 = "003fc157-66a8-4e6d-8b7e-ec4f69751396";
const SDISK = "7c079136-2573-4112-82d0-0d3d2aa90d8f";
const nicId = deviceIdV2("nic", NIC);
const diskId = deviceIdV2("disk", DISK);

const BASE_CMD = ["/usr/bin/qemu-system-x86_64", "-name", "i1", "-m", 256, "-device", "virtio-balloon", "-machine", "pc,accel=tcg", "-display", "none"];

function runtime(extraCmd: (string | number)[] = []): Runtime {
  const rt = emptyRuntime([...BASE_CMD, ...extraCmd], { nic_type: "paravirtual", disk_type: "paravirtual", kvm_pci_reservations: 12 });
  rt.disks.push(newDisk({ uuid: DISK, size: 64, linkName: "/dev/vg/d0", slot: 0x0c }));
  rt.nics.push(newNic({ uuid: NIC, mac: "aa:00:00:00:00:01", link: "br0", slot: 0x0d }));
  return rt;
}

function dev(slot: number, qdevId: string, vendorId: number, deviceId: number, fn = 0): LivePciDevice {
  return { slot, function: fn, qdevId, vendorId, deviceId, classDesc: null, classCode: 0, isBridge: false };
}

/** What query-pci shows for runtime(): i440FX, PIIX3 (+IDE, ACPI functions), VGA, balloon, disk, NIC. */
function liveBase(): LivePciDevice[] {
  return [
    dev(0, "", 0x8086, 0x1237),
    dev(1, "", 0x8086, 0x7000),
    dev(1, "", 0x8086, 0x7010, 1),
    dev(1, "", 0x8086, 0x7113, 3),
    dev(2, "", 0x1234, 0x1111),
    dev(3, "", 0x1af4, 0x1002),
    dev(0x0c, diskId, 0x1af4, 0x1001),
    dev(0x0d, nicId, 0x1af4, 0x1000),
  ];
}

describe("migration check", () => {
  it("a file that matches the live bus: ok, with QEMU's own devices and auto-placed ones predicted", () => {
    const r = checkRuntimeAgainstLive(runtime(), liveBase());
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.target.map((d) => [d.slot, d.driver, d.id, d.pinned])).toEqual([
      [0, "i440FX", null, true],
      [1, "PIIX3", null, true],
      [2, "VGA", null, false],
      [3, "virtio-balloon-pci", null, false],
      [0x0c, "virtio-blk-pci", diskId, true],
      [0x0d, "virtio-net-pci", nicId, true],
    ]);
  });

  it("a hot-added NIC the file does not record: live-only (the migration would fail with an unknown ramblock)", () => {
    const live = [...liveBase(), dev(0x10, "nic-hot", 0x1af4, 0x1000)];
    const r = checkRuntimeAgainstLive(runtime(), live);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ code: "live-only", id: "nic-hot", slot: 0x10 })]);
  });

  it("a device the file records but the instance does not run: target-only", () => {
    const rt = runtime();
    rt.nics.push(newNic({ uuid: NIC2, mac: "aa:00:00:00:00:02", link: "br0", slot: 0x10 }));
    const r = checkRuntimeAgainstLive(rt, liveBase());
    expect(r.problems).toEqual([expect.objectContaining({ code: "target-only", id: deviceIdV2("nic", NIC2), slot: 0x10 })]);
  });

  it("the same device at another slot: slot-mismatch", () => {
    const live = liveBase().map((d) => (d.qdevId === nicId ? { ...d, slot: 0x11 } : d));
    const r = checkRuntimeAgainstLive(runtime(), live);
    expect(r.problems).toEqual([expect.objectContaining({ code: "slot-mismatch", id: nicId, slot: 0x11 })]);
    expect(r.problems[0]!.message).toContain("0x0d");
  });

  it("another model under the same id: model-mismatch", () => {
    const live = liveBase().map((d) => (d.qdevId === nicId ? { ...d, vendorId: 0x8086, deviceId: 0x100e } : d));
    expect(checkRuntimeAgainstLive(runtime(), live).problems).toEqual([expect.objectContaining({ code: "model-mismatch", id: nicId })]);
  });

  it("-vga none moves the auto-placed balloon to slot 2: the unnamed devices no longer line up", () => {
    const r = checkRuntimeAgainstLive(runtime(["-vga", "none"]), liveBase());
    expect(r.target.find((d) => d.driver === "virtio-balloon-pci")?.slot).toBe(2);
    expect(r.problems.map((p) => [p.code, p.slot])).toEqual([
      ["unnamed-mismatch", 2],
      ["unnamed-mismatch", 3],
    ]);
  });

  it("an explicit slot already taken by an earlier auto-placed device: the target would not start", () => {
    const sim = simulateTargetBus(["qemu", "-device", "virtio-balloon", "-device", "e1000,id=n1,bus=pci.0,addr=0x3"]);
    expect(sim.problems).toEqual([expect.objectContaining({ code: "target-conflict", id: "n1", slot: 3 })]);
  });

  it("legacy -drive if=virtio disks are placed after every -device, and -balloon virtio is a PCI device", () => {
    const sim = simulateTargetBus(["qemu", "-balloon", "virtio", "-drive", "file=/d,if=virtio", "-device", "e1000,id=n1"]);
    expect(sim.pci.map((d) => [d.slot, d.driver, d.id])).toEqual([
      [0, "i440FX", null],
      [1, "PIIX3", null],
      [2, "VGA", null],
      [3, "virtio-balloon-pci", null],
      [4, "e1000", "n1"],
      [5, "virtio-blk-pci", null],
    ]);
  });

  it("SCSI disks: compared by target id when the live SCSI bus is known", () => {
    const rt = runtime(["-device", "lsi,id=scsi,bus=pci.0,addr=0x4"]);
    rt.disks.push(newDisk({ uuid: SDISK, size: 16, linkName: "/dev/vg/d1", scsiId: 2, driver: "scsi-hd" }));
    const sid = deviceIdV2("disk", SDISK);
    const live = [...liveBase(), dev(4, "scsi", 0x1000, 0x0012)];
    expect(checkRuntimeAgainstLive(rt, live, [{ scsiId: 2, qdevId: sid, driver: "scsi-hd" }]).problems).toEqual([]);
    expect(checkRuntimeAgainstLive(rt, live, [{ scsiId: 3, qdevId: sid }]).problems).toEqual([expect.objectContaining({ code: "scsi-mismatch", id: sid })]);
    expect(checkRuntimeAgainstLive(rt, live, [{ scsiId: 2, qdevId: sid }, { scsiId: 5, qdevId: "disk-other" }]).problems).toEqual([
      expect.objectContaining({ code: "scsi-live-only", id: "disk-other" }),
    ]);
    expect(checkRuntimeAgainstLive(rt, live, []).problems).toEqual([expect.objectContaining({ code: "scsi-target-only", id: sid })]);
    const unknown = checkRuntimeAgainstLive(rt, live, null);
    expect(unknown.ok).toBe(true);
    expect(unknown.notes.join(" ")).toMatch(/SCSI disks were not compared/);
    // Without the controller on the live bus, the file's controller is target-only.
    expect(checkRuntimeAgainstLive(rt, liveBase(), [{ scsiId: 2, qdevId: sid }]).problems).toEqual([expect.objectContaining({ code: "target-only", id: "scsi" })]);
  });

  it("drivers it cannot place are noted, never guessed", () => {
    const r = checkMigration({ argv: ["qemu", "-device", "mystery-dev,id=m"], live: [dev(0, "", 0x8086, 0x1237), dev(1, "", 0x8086, 0x7000), dev(2, "", 0x1234, 0x1111)] });
    expect(r.ok).toBe(true);
    expect(r.notes.join(" ")).toContain("mystery-dev");
  });

  it("the target argv is Ganeti's: NICs, -incoming, then disks", () => {
    const argv = targetArgvFor(runtime());
    expect(argv).toContain("-incoming");
    expect(argv.indexOf(`virtio-blk-pci,id=${diskId},bus=pci.0,addr=0xc,drive=${diskId}`)).toBeGreaterThan(argv.indexOf("-incoming"));
  });

  it("reads QEMU option strings and PCI addresses", () => {
    expect(splitQemuOpts("virtio-net-pci,id=a,,b,addr=0x10")).toEqual({ first: "virtio-net-pci", opts: new Map([["id", "a,b"], ["addr", "0x10"]]) });
    expect(splitQemuOpts("driver=e1000,multifunction").opts.get("multifunction")).toBe("on");
    expect(parseAddr("0x10")).toEqual({ slot: 16, fn: 0 });
    expect(parseAddr("1f.3")).toEqual({ slot: 31, fn: 3 });
    expect(parseAddr("0x20")).toBeNull();
    expect(parseAddr("bogus")).toBeNull();
  });
});
