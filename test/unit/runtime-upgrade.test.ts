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
import { readFixture, vectors } from "./runtime-fixtures";

const V = vectors();
const HV = { nic_type: "paravirtual", disk_type: "paravirtual" };

describe("device ids (device_id_slot_vectors.json)", () => {
  for (const v of V.device_id) {
    if (!v.expected || !v.uuid) continue;
    it(`${v.dev_type_const} ${v.uuid} → ${v.expected}`, () => {
      const kind = v.dev_type_const.replace(/^hot/, "") as "nic" | "disk";
      const id = v.dev_type_const.startsWith("hot") ? deviceIdV1(kind, v.uuid as string, v.pci as number) : deviceIdV2(kind, v.uuid as string);
      expect(id).toBe(v.expected);
      expect(isValidQemuId(id)).toBe(true);
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

describe("upgrade vectors", () => {
  for (const v of V.upgrade_pci_to_hvinfo) {
    const name = JSON.stringify(v.input_nic ?? v.input_disk ?? v.kvm_cmd_in ?? v.hvparams_in ?? v.input);
    it(`${v.versions}: ${name}`, () => {
      if (v.input_nic || v.input_disk) {
        const isNic = !!v.input_nic;
        const dev = (v.input_nic ?? v.input_disk) as Record<string, unknown>;
        const hv = { ...HV, ...((v.hvparams as object) ?? {}) };
        const r = upgradeRuntime({
          kvmCmd: [],
          nics: isNic ? [dev] : [],
          hvparams: hv,
          disks: isNic ? [] : [{ disk: dev as { uuid: string }, linkName: "/l", uri: null }],
        });
        const out = (isNic ? r.nics[0] : r.disks[0]?.disk) as Record<string, unknown>;
        if (v.expected_hvinfo_in_insertion_order) {
          expect(out.hvinfo).toEqual(v.expected_hvinfo_in_insertion_order);
          expect(Object.keys(out.hvinfo as object)).toEqual(["driver", "id", "addr", "bus"]);
          expect("pci" in out).toBe(false);
        }
        if (v.expected_hvinfo) expect(out.hvinfo).toEqual(v.expected_hvinfo);
        if (!("uuid" in dev)) {
          // Deviation from Ganeti (random uuid): deterministic, noted, not removable.
          expect(out.uuid).toBeUndefined();
          expect(r.notes.map((n) => n.rule)).toContain("nic-uuid");
          expect(hotRemoveBlocker({ kind: "nic", index: 0, nic: out })).toMatch(/no uuid/);
        }
      } else if (v.kvm_cmd_in) {
        const r = upgradeRuntime({ kvmCmd: ["-vnc", "x", ...(v.kvm_cmd_in as string[])].slice(v.versions === "2.16+" ? 2 : 0), nics: [], hvparams: {}, disks: [] });
        const expected = v.versions === "2.16+" ? v.kvm_cmd_out : ["-vnc", "x", ...(v.kvm_cmd_out as string[])];
        expect(r.kvmCmd).toEqual(expected);
      } else if (v.hvparams_in) {
        const r = upgradeRuntime({ kvmCmd: ["-vnc", ":1"], nics: [], hvparams: v.hvparams_in as Record<string, unknown>, disks: [] });
        expect(r.hvparams).toEqual(v.hvparams_out);
        // ...but only inside the -vnc branch (Ganeti 3.1's indentation).
        const r2 = upgradeRuntime({ kvmCmd: [], nics: [], hvparams: v.hvparams_in as Record<string, unknown>, disks: [] });
        expect(r2.hvparams).toEqual(v.hvparams_in);
      } else if (v.input === "3-element top-level list") {
        const d = readRuntime('[["/usr/bin/kvm"], [], {}]\n');
        expect(d.generation).toBe("A");
        expect(d.runtime.disks).toEqual([]);
      }
    });
  }

  it("-chroot survives when there is no -vnc (3.1 nests it there)", () => {
    expect(upgradeRuntime({ kvmCmd: ["-chroot", "/x"], nics: [], hvparams: {}, disks: [] }).kvmCmd).toEqual(["-chroot", "/x"]);
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

  it("runtime lookups (TestGetRuntimeInfo)", () => {
    for (const v of V.runtime_lookup_by_uuid) {
      if (v.fixture === "either") {
        const rt = readRuntime(readFixture("kvm_runtime.v2.16-master.hvinfo.json")).runtime;
        expect(findDeviceByUuid(rt, v.uuid)).toBeUndefined();
        continue;
      }
      const doc = readRuntime(readFixture(v.fixture));
      const ref = findDeviceByUuid(doc.runtime, v.uuid);
      expect(ref?.kind).toBe(v.target);
      const dev = ref?.kind === "nic" ? ref.nic : ref?.kind === "disk" ? ref.entry.disk : undefined;
      const slot = v.expected?.pci ?? undefined;
      if (slot !== undefined) expect(dev?.hvinfo?.addr).toBe(`0x${(slot as number).toString(16)}`);
      if (v.expected?.["hvinfo.addr"]) expect(dev?.hvinfo?.addr).toBe(v.expected["hvinfo.addr"]);
      if (dev?.hvinfo?.id) expect(findDeviceById(doc.runtime, dev.hvinfo.id)).toEqual(ref);
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
