import { describe, it, expect } from "vitest";
import {
  RuntimeReadError,
  RuntimeWriteError,
  emptyRuntime,
  newDisk,
  newNic,
  readRuntime,
  writeRuntime,
  type Runtime,
} from "../../shared/runtime";
import { FX, readFixture } from "./runtime-fixtures";

const KVM = ["/usr/bin/kvm", "-name", "inst1", "-m", 1024, "-vnc", "0.0.0.0:5100"];
const HV = { disk_type: "paravirtual", kvm_pci_reservations: 12, nic_type: "paravirtual" };
const NIC_UUID = "9e7c85f6-b6e5-4243-b27d-680b78c6d203";
const DISK_UUID = "932df160-7a22-4067-a566-7e0ca8386133";

function refusal(fn: () => unknown): RuntimeWriteError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RuntimeWriteError);
    return e as RuntimeWriteError;
  }
  throw new Error("expected a RuntimeWriteError");
}

describe("creating runtimes", () => {
  it("newNic/newDisk produce Ganeti 3.x-shaped objects (slot order, hvinfo order)", () => {
    const rt = emptyRuntime(KVM, HV);
    rt.nics.push(newNic({ uuid: NIC_UUID, mac: "aa:00:00:12:34:56", link: "br0", slot: 12 }));
    rt.disks.push(newDisk({ uuid: DISK_UUID, size: 1024, linkName: "/var/run/ganeti/instance-disks/inst1:0", slot: 13 }));
    rt.disks.push(newDisk({ uuid: "7c079136-2573-4112-82d0-0d3d2aa90d8f", size: 10, linkName: "/l:1", scsiId: 0, driver: "scsi-block" }));
    const out = writeRuntime(rt, "C");
    expect(out).toBe(
      '[["/usr/bin/kvm", "-name", "inst1", "-m", 1024, "-vnc", "0.0.0.0:5100"], ' +
        '[{"mac": "aa:00:00:12:34:56", "nicparams": {"mode": "bridged", "link": "br0", "vlan": ""}, ' +
        '"hvinfo": {"driver": "virtio-net-pci", "id": "nic-9e7c85f6-b6e5-4243", "bus": "pci.0", "addr": "0xc"}, "uuid": "9e7c85f6-b6e5-4243-b27d-680b78c6d203"}], ' +
        '{"disk_type": "paravirtual", "kvm_pci_reservations": 12, "nic_type": "paravirtual"}, ' +
        '[[{"dev_type": "plain", "logical_id": ["xenvg", "932df160-7a22-4067-a566-7e0ca8386133.disk"], "iv_name": "disk/0", "size": 1024, "mode": "rw", "params": {"stripes": 1}, ' +
        '"hvinfo": {"driver": "virtio-blk-pci", "id": "disk-932df160-7a22-4067", "bus": "pci.0", "addr": "0xd"}, "uuid": "932df160-7a22-4067-a566-7e0ca8386133"}, "/var/run/ganeti/instance-disks/inst1:0", null], ' +
        '[{"dev_type": "plain", "logical_id": ["xenvg", "7c079136-2573-4112-82d0-0d3d2aa90d8f.disk"], "iv_name": "disk/0", "size": 10, "mode": "rw", "params": {"stripes": 1}, ' +
        '"hvinfo": {"driver": "scsi-block", "id": "disk-7c079136-2573-4112", "bus": "scsi.0", "channel": 0, "scsi-id": 0, "lun": 0}, "uuid": "7c079136-2573-4112-82d0-0d3d2aa90d8f"}, "/l:1", null]]]\n',
    );
    expect(readRuntime(out).runtime.nics).toEqual(rt.nics);
  });

  it("idStyle v1 devices write to B as pci ints with the id the lab runs", () => {
    const rt = emptyRuntime(KVM, HV);
    rt.nics.push(newNic({ uuid: NIC_UUID, mac: "aa:00:00:12:34:56", link: "br0", slot: 5, idStyle: "v1" }));
    rt.disks.push(newDisk({ uuid: DISK_UUID, size: 1024, linkName: "/l:0", slot: 4, idStyle: "v1" }));
    expect(rt.nics[0]?.hvinfo?.id).toBe("hotnic-9e7c85f6-pci-5");
    const b = writeRuntime(rt, "B");
    expect(b).toContain('"nicparams": {"mode": "bridged", "link": "br0", "vlan": ""}, "pci": 5, "uuid"');
    expect(b).toContain('"params": {"stripes": 1}, "pci": 4, "uuid"');
    const back = readRuntime(b);
    expect(back.generation).toBe("B");
    expect(back.runtime.nics[0]?.hvinfo).toEqual({ driver: "virtio-net-pci", id: "hotnic-9e7c85f6-pci-5", addr: "0x5", bus: "pci.0" });
  });

  it("adding a NIC to an existing file keeps every old byte", () => {
    const t = readFixture(FX.cPy2);
    const doc = readRuntime(t);
    const rt: Runtime = { ...doc.runtime, nics: [...doc.runtime.nics, newNic({ uuid: "11111111-2222-3333-4444-555555555555", mac: "aa:00:00:00:00:01", link: "br0", slot: 16 })] };
    const out = writeRuntime(rt, "C");
    const oldNics = t.slice(t.indexOf("[{"), t.indexOf("}], {") + 1);
    expect(out).toContain(oldNics + ", {");
    expect(readRuntime(out).runtime.nics).toHaveLength(3);
  });
});

describe("refusals", () => {
  it("SCSI disk to generation B", () => {
    const rt = emptyRuntime(KVM, HV);
    rt.disks.push(newDisk({ uuid: DISK_UUID, size: 1, linkName: "/l", scsiId: 2 }));
    const e = refusal(() => writeRuntime(rt, "B"));
    expect(e.reasons).toEqual([
      expect.objectContaining({ device: "disk disk-932df160-7a22-4067", reason: expect.stringContaining("is on scsi.0; generation B (Ganeti 2.10–2.15) can only record PCI slots") }),
    ]);
  });

  it("new-style id to generation B", () => {
    const rt = emptyRuntime(KVM, HV);
    rt.nics.push(newNic({ uuid: NIC_UUID, mac: "m", link: "br0", slot: 5 }));
    const e = refusal(() => writeRuntime(rt, "B"));
    expect(e.reasons[0]?.reason).toMatch(/live id "nic-9e7c85f6-b6e5-4243" is not the old-style id hotnic-9e7c85f6-pci-5/);
  });

  it("driver that B cannot record", () => {
    const rt = emptyRuntime(KVM, HV);
    rt.nics.push(newNic({ uuid: NIC_UUID, mac: "m", link: "br0", slot: 5, idStyle: "v1", driver: "e1000" }));
    expect(refusal(() => writeRuntime(rt, "B")).reasons[0]?.reason).toMatch(/differs from "virtio-net-pci"/);
  });

  it("any hot-plugged device into generation A; disks in A", () => {
    const t = readFixture(FX.a);
    const doc = readRuntime(t);
    const rt: Runtime = { ...doc.runtime, nics: [...doc.runtime.nics, newNic({ uuid: NIC_UUID, mac: "m", link: "br0", slot: 5, idStyle: "v1" })] };
    const e = refusal(() => writeRuntime(rt, "A"));
    expect(e.reasons[0]?.reason).toMatch(/generation A \(Ganeti ≤ 2.9\) cannot record PCI slots/);
    rt.nics.pop();
    rt.disks.push(newDisk({ uuid: DISK_UUID, size: 1, linkName: "/l", slot: 4 }));
    expect(refusal(() => writeRuntime(rt, "A")).reasons[0]?.reason).toMatch(/has no disk list/);
  });

  it("a device without a slot, slot collisions, duplicate ids, bad ids", () => {
    const rt = emptyRuntime(KVM, HV);
    rt.nics.push({ mac: "m", hvinfo: { driver: "virtio-net-pci", id: "nic-x", bus: "pci.0" }, uuid: "x" });
    expect(refusal(() => writeRuntime(rt, "C")).reasons[0]?.reason).toMatch(/addr: missing: a device on pci.0 needs its slot/);
    rt.nics[0] = newNic({ uuid: NIC_UUID, mac: "m", link: "br0", slot: 5 });
    rt.disks.push(newDisk({ uuid: NIC_UUID, size: 1, linkName: "/l", slot: 5 }));
    const reasons = refusal(() => writeRuntime(rt, "C")).reasons.map((r) => r.reason);
    expect(reasons.join("\n")).toMatch(/PCI slot 0x5 is also used by nic nic-9e7c85f6-b6e5-4243/);
    rt.disks = [];
    rt.nics[0] = { ...newNic({ uuid: NIC_UUID, mac: "m", link: "br0", slot: 5 }), hvinfo: { driver: "d", id: "9-bad id", bus: "pci.0", addr: "0x5" } };
    expect(refusal(() => writeRuntime(rt, "C")).reasons[0]?.reason).toMatch(/not a valid QEMU id/);
  });

  it("creation helpers validate their input", () => {
    expect(() => newNic({ uuid: NIC_UUID, mac: "m", link: "br0", slot: 32 })).toThrow(/0-31/);
    expect(() => newDisk({ uuid: DISK_UUID, size: 1, linkName: "/l" })).toThrow(/exactly one of slot/);
    expect(() => newDisk({ uuid: DISK_UUID, size: 1, linkName: "/l", scsiId: 16 })).toThrow(/0-15/);
  });
});

describe("malformed files give clear errors", () => {
  const t = readFixture(FX.b);
  const bad = (text: string): string => {
    try {
      readRuntime(text);
    } catch (e) {
      expect(e).toBeInstanceOf(RuntimeReadError);
      return (e as Error).message;
    }
    throw new Error("expected a RuntimeReadError");
  };

  it("truncated", () => {
    expect(bad(t.slice(0, 500))).toMatch(/not valid JSON: Unterminated string|not valid JSON: Expecting/);
    expect(bad("")).toMatch(/not valid JSON: Expecting value: line 1 column 1/);
  });
  it("wrong top level", () => {
    expect(bad("{}")).toMatch(/expected a JSON array/);
    expect(bad("[[], [], {}, [], 1]")).toMatch(/got 5/);
    expect(bad('["x", [], {}]')).toMatch(/kvm_cmd: expected a list/);
    expect(bad("[[], [1], {}, [[{}, \"l\"]]]")).toMatch(/nics\[0\]: expected an object[\s\S]*disks\[0\]: expected \[disk, link_name, uri\]/);
  });
  it("wrong types name the entry path", () => {
    expect(bad(t.replace('"pci": 6', '"pci": "6"'))).toMatch(/nics\[1\]\.pci: expected integer 0-31/);
    expect(bad(t.replace('"pci": 6', '"pci": 32'))).toMatch(/nics\[1\]\.pci: expected integer 0-31/);
    expect(bad(t.replace('"pci": 7', '"pci": 7.0'))).toMatch(/disks\[1\]\.disk\.pci: expected integer 0-31/);
    expect(bad(t.replace('"size": 10240', '"size": "big"'))).toMatch(/disks\[0\]\.disk\.size: expected integer/);
    expect(bad(t.replace('"/var/run/ganeti/instance-disks/inst1.example.com:1"', "3"))).toMatch(/disks\[1\]\.linkName/);
    expect(bad(t.replace('"-m", 1024', '"-m", 1.5'))).toMatch(/kvm_cmd\[4\]: expected a string or an integer/);
    const c = readFixture(FX.cPy3);
    expect(bad(c.replace('"addr": "0xd"', '"addr": "0x20"'))).toMatch(/nics\[0\]\.hvinfo\.addr: expected a PCI slot/);
    expect(bad(c.replace('"bus": "pci.0", "addr": "0xd"', '"bus": "usb.0", "addr": "0xd"'))).toMatch(/nics\[0\]\.hvinfo\.bus: expected "pci.0" or "scsi.0"/);
    expect(bad(t.replace('"-balloon", "virtio,id=balloon,bus=pci.0,addr=0x3"', '"-balloon", 3'))).toMatch(/kvm_cmd\[10\]: expected the string argument of -balloon/);
    expect(bad(t.replace('"nic_type": "paravirtual", ', ""))).toMatch(/hvparams\.nic_type: missing, but nics\[0\]\.pci needs it/);
  });
  it("huge", () => {
    expect(bad("[" + " ".repeat(17 * 1024 * 1024) + "]")).toMatch(/16 MiB/);
  });
  it("hostile strings: NUL, unicode, very long ids, __proto__", () => {
    const c = readFixture(FX.cPy3);
    const nul = c.replace('"aa:00:00:bf:2f:16"', '"aa\\u0000\\ud83d\\ude00\\u00e9"');
    const d = readRuntime(nul);
    expect(d.runtime.nics[0]?.mac).toBe("aa\u0000😀é");
    expect(writeRuntime(d.runtime, "C")).toBe(nul);
    const longId = c.replace('"id": "nic-003fc157-66a8-4e6d"', `"id": "${"n".repeat(5000)}"`);
    const dl = readRuntime(longId);
    expect(refusal(() => writeRuntime(dl.runtime, "C")).reasons[0]?.reason).toMatch(/not a valid QEMU id/);
    expect(bad(c.replace('"acpi": true', '"__proto__": {"polluted": 1}'))).toMatch(/"__proto__" is not supported/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(bad("[" + "[".repeat(600) + "]".repeat(600) + ", [], {}]")).toMatch(/Nesting deeper than 512/);
  });
});
