import { describe, it, expect } from "vitest";
import {
  deviceIdV1,
  deviceIdV2,
  findDeviceById,
  findDeviceByUuid,
  generationForGanetiVersion,
  hotRemoveBlocker,
  isValidQemuId,
  oldestCommonGeneration,
  parseDeviceId,
  readRuntime,
  upgradeRuntime,
  writeRuntime,
} from "../../shared/runtime";
import { FX, readFixture, readUpstream } from "./runtime-fixtures";

// Values from Ganeti's unit tests and docs (TestGenerateDeviceKVMId,
// design-scsi-kvm.rst); the conformance suite also checks our ids against
// Ganeti's own _GenerateDeviceKVMId on many uuids.
const NIC0 = "003fc157-66a8-4e6d-8b7e-ec4f69751396";
const DISK1 = "9f5c5bd4-6f60-480b-acdc-9bb1a4b7df79";
const HV = { nic_type: "paravirtual", disk_type: "paravirtual" };

describe("device ids", () => {
  const cases: [string, () => string, string][] = [
    ["2.10-2.15 NIC", () => deviceIdV1("nic", NIC0, 5), "hotnic-003fc157-pci-5"],
    ["2.10-2.15 disk", () => deviceIdV1("disk", "e4b113da-0000-0000-0000-000000000000", 5), "hotdisk-e4b113da-pci-5"],
    ["2.16+ NIC", () => deviceIdV2("nic", NIC0), "nic-003fc157-66a8-4e6d"],
    ["2.16+ disk", () => deviceIdV2("disk", "932df160-7a22-4067-a566-7e0ca8386133"), "disk-932df160-7a22-4067"],
    ["2.16+ disk (design doc)", () => deviceIdV2("disk", "9e7c85f6-b6e5-4243-b27d-680b78c6d203"), "disk-9e7c85f6-b6e5-4243"],
  ];
  for (const [name, make, expected] of cases) {
    it(`${name} → ${expected}`, () => {
      expect(make()).toBe(expected);
      expect(isValidQemuId(expected)).toBe(true);
    });
  }
  it("rsplit/split semantics and QEMU id rules", () => {
    expect(deviceIdV2("nic", "abc")).toBe("nic-abc");
    expect(deviceIdV2("nic", "a-b")).toBe("nic-a");
    expect(deviceIdV1("disk", "abc", 31)).toBe("hotdisk-abc-pci-31");
    expect(isValidQemuId("1abc")).toBe(false);
    expect(isValidQemuId("a".repeat(32))).toBe(true);
    expect(isValidQemuId("a".repeat(33))).toBe(false);
    expect(isValidQemuId("nic 1")).toBe(false);
    expect(parseDeviceId("hotnic-003fc157-pci-5")).toEqual({ style: "v1", kind: "nic", uuidPrefix: "003fc157", pci: 5 });
    expect(parseDeviceId("disk-932df160-7a22-4067")).toEqual({ style: "v2", kind: "disk", uuidPrefix: "932df160-7a22-4067" });
    expect(parseDeviceId("balloon")).toBeNull();
  });
});

describe("upgrade rules, one at a time", () => {
  const upgradeNic = (nic: Record<string, unknown>, hvparams: Record<string, unknown> = HV) =>
    upgradeRuntime({ kvmCmd: [], nics: [nic], hvparams, disks: [] });
  const cmd = (kvmCmd: (string | number)[]) => upgradeRuntime({ kvmCmd, nics: [], hvparams: {}, disks: [] }).kvmCmd;

  it("a NIC's pci becomes hvinfo with the old id, keys in Ganeti's insertion order", () => {
    const out = upgradeNic({ pci: 6, uuid: NIC0 }).nics[0] as Record<string, unknown>;
    expect(out.hvinfo).toEqual({ driver: "virtio-net-pci", id: "hotnic-003fc157-pci-6", addr: "0x6", bus: "pci.0" });
    expect(Object.keys(out.hvinfo as object)).toEqual(["driver", "id", "addr", "bus"]);
    expect("pci" in out).toBe(false);
  });

  it("a disk's pci likewise, the driver from disk_type", () => {
    const r = upgradeRuntime({ kvmCmd: [], nics: [], hvparams: { ...HV, disk_type: "scsi-hd" }, disks: [{ disk: { pci: 4, uuid: "7c079136-2573-4112-82d0-0d3d2aa90d8f" }, linkName: "/l", uri: null }] });
    expect(r.disks[0]?.disk.hvinfo).toEqual({ driver: "scsi-hd", id: "hotdisk-7c079136-pci-4", addr: "0x4", bus: "pci.0" });
  });

  it("a generation A NIC (no pci) gets an empty hvinfo", () => {
    expect(upgradeNic({ uuid: NIC0 }).nics[0]?.hvinfo).toEqual({});
  });

  it("a NIC without uuid: no random uuid (Ganeti's would change on every load), noted, not removable", () => {
    const r = upgradeNic({ mac: "aa:00:00:00:00:01" });
    const out = r.nics[0] as Record<string, unknown>;
    expect(out.uuid).toBeUndefined();
    expect(r.notes.map((n) => n.rule)).toContain("nic-uuid");
    expect(hotRemoveBlocker({ kind: "nic", index: 0, nic: out })).toMatch(/no uuid/);
  });

  it("a 3-entry file reads with an empty disk list", () => {
    const d = readRuntime('[["/usr/bin/kvm"], [], {}]\n');
    expect(d.generation).toBe("A");
    expect(d.runtime.disks).toEqual([]);
  });

  it("-balloon, -localtime and -vnc TLS options become what QEMU takes now", () => {
    expect(cmd(["-balloon", "virtio"])).toEqual(["-device", "virtio-balloon"]);
    expect(cmd(["-balloon", "virtio,id=balloon,bus=pci.0,addr=0x3"])).toEqual(["-device", "virtio-balloon,id=balloon,bus=pci.0,addr=0x3"]);
    expect(cmd(["-localtime"])).toEqual(["-rtc", "base=localtime"]);
    // "tls" picks tls-creds-anon, then x509verify= makes it tls-creds-x509.
    expect(cmd(["-vnc", "0.0.0.0:5100,tls,x509verify=/etc/ganeti/vnc"])).toEqual([
      "-object", "tls-creds-x509,id=vnctls0,endpoint=server,dir=/etc/ganeti/vnc,verify-peer=yes", "-vnc", "0.0.0.0:5100,tls-creds=vnctls0",
    ]);
    expect(cmd(["-vnc", ":1,tls"])).toEqual(["-object", "tls-creds-anon,id=vnctls0,endpoint=server", "-vnc", ":1,tls-creds=vnctls0"]);
  });

  it("disk_discard \"default\" becomes \"ignore\" and -chroot goes, only inside the -vnc branch (Ganeti 3.1's indentation)", () => {
    const withVnc = upgradeRuntime({ kvmCmd: ["-vnc", ":1", "-chroot", "/var/run/ganeti/kvm-hypervisor/chroot/inst1"], nics: [], hvparams: { disk_discard: "default" }, disks: [] });
    expect(withVnc.hvparams).toEqual({ disk_discard: "ignore" });
    expect(withVnc.kvmCmd).toEqual(["-vnc", ":1"]);
    const without = upgradeRuntime({ kvmCmd: ["-chroot", "/c"], nics: [], hvparams: { disk_discard: "default" }, disks: [] });
    expect(without.hvparams).toEqual({ disk_discard: "default" });
    expect(without.kvmCmd).toEqual(["-chroot", "/c"]);
  });

  it("applies the rules in Ganeti's order and notes each one", () => {
    const t =
      '[["/usr/bin/kvm", "-localtime", "-balloon", "virtio", "-vnc", ":1,tls,x509=/p", "-chroot", "/c"], ' +
      '[{"mac": "m", "pci": 5}], {"nic_type": "e1000", "disk_discard": "default"}, []]\n';
    const d = readRuntime(t);
    expect(d.generation).toBe("B");
    expect(d.notes.map((n) => n.rule)).toEqual(["nic-uuid", "pci-to-hvinfo", "localtime", "balloon", "vnc-tls", "disk-discard", "chroot"]);
    expect(d.runtime.kvmCmd).toEqual([
      "/usr/bin/kvm", "-rtc", "base=localtime", "-device", "virtio-balloon",
      "-object", "tls-creds-x509,id=vnctls0,endpoint=server,dir=/p,verify-peer=no", "-vnc", ":1,tls-creds=vnctls0",
    ]);
    expect(d.runtime.nics[0]?.hvinfo).toBeUndefined();
    expect(d.runtime.nics[0]?.pci).toBe(5);
    // Nothing of that is persisted: writing back gives the same bytes.
    expect(writeRuntime(d.runtime, "B")).toBe(t);
    expect(writeRuntime(d.runtime, "C")).toContain('"-localtime", "-balloon", "virtio"');
  });

  it("runtime lookups by uuid (TestGetRuntimeInfo)", () => {
    const cases: [string, string, "nic" | "disk", string][] = [
      [readFixture(FX.b), NIC0, "nic", "0x5"],
      [readFixture(FX.b), DISK1, "disk", "0x7"],
      [readUpstream(), NIC0, "nic", "0x8"],
      [readUpstream(), DISK1, "disk", "0xa"],
    ];
    for (const [text, uuid, kind, addr] of cases) {
      const rt = readRuntime(text).runtime;
      const ref = findDeviceByUuid(rt, uuid);
      expect(ref?.kind).toBe(kind);
      const dev = ref?.kind === "nic" ? ref.nic : ref?.kind === "disk" ? ref.entry.disk : undefined;
      expect(dev?.hvinfo?.addr).toBe(addr);
      expect(findDeviceById(rt, dev?.hvinfo?.id ?? "")).toEqual(ref);
      expect(findDeviceByUuid(rt, "aaaaaaaa-66a8-4e6d-8b7e-ec4f69751396")).toBeUndefined();
    }
  });
});

describe("generations", () => {
  it("maps Ganeti versions", () => {
    const cases: [string, string][] = [
      ["2.9.7", "A"], ["2.6.2", "A"], ["2.10.0", "B"], ["2.15.2", "B"], ["2.16.0~beta1-1", "B"], ["2.16.0beta2", "C"],
      ["2.16.0", "C"], ["2.16.2", "C"], ["3.0.2", "C"], ["v3.1.1", "C"], ["3.0", "C"],
    ];
    for (const [v, g] of cases) expect(generationForGanetiVersion(v), v).toBe(g);
    expect(() => generationForGanetiVersion("banana")).toThrow(/not a Ganeti version/);
  });
  it("oldest common generation with a floor", () => {
    expect(oldestCommonGeneration(["3.0.2", "2.16.2"])).toBe("C");
    expect(oldestCommonGeneration(["3.0.2", "2.15.2"])).toBe("B");
    expect(oldestCommonGeneration(["3.0.2"], "B")).toBe("B");
    expect(oldestCommonGeneration(["2.9.7", "3.0.2"], "B")).toBe("A");
    expect(oldestCommonGeneration([], "C")).toBe("C");
    expect(() => oldestCommonGeneration([])).toThrow(/no node versions/);
  });
  it("guesses B for a 4-entry file without slots and says so", () => {
    const d = readRuntime('[["/usr/bin/kvm"], [{"mac": "m", "uuid": "u-1-2-3"}], {}, []]\n');
    expect(d.generation).toBe("B");
    expect(d.notes.find((n) => n.rule === "generation")?.detail).toMatch(/oldest 4-entry generation/);
  });
});
