import { describe, it, expect, beforeAll } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import {
  emptyRuntime,
  newDisk,
  newNic,
  readRuntime,
  writeRuntime,
  type Runtime,
} from "../../shared/runtime";
import { readFixture, runtimeFixtures } from "../unit/runtime-fixtures";

const PYTHON = "/usr/bin/python3";
const GANETI = "/usr/share/ganeti/3.0";
const HELPER = path.resolve(__dirname, "ganeti_load.py");

type Op = { op: "load"; text: string } | { op: "save"; kvm_cmd: unknown[]; nics: unknown[]; hvparams: unknown; disks: unknown[] } | { op: "probe216" };
interface LoadResult {
  ok: boolean;
  error?: string;
  trace?: string;
  kvm_cmd: unknown[];
  hvparams: Record<string, unknown>;
  nics: { uuid: string; hvinfo: Record<string, unknown>; dict: Record<string, unknown> }[];
  disks: { uuid: string; hvinfo: Record<string, unknown>; link: string; uri: string | null; dict: Record<string, unknown> }[];
  resaved: string;
  text: string;
  importable: boolean;
  detail: string;
}

function ganeti(ops: Op[]): LoadResult[] {
  const out = execFileSync(PYTHON, [HELPER], {
    input: JSON.stringify({ ops }),
    encoding: "utf8",
    env: { ...process.env, PYTHONPATH: GANETI },
    maxBuffer: 1 << 26,
  });
  return JSON.parse(out) as LoadResult[];
}

function ok(r: LoadResult | undefined): LoadResult {
  expect(r, "no result").toBeDefined();
  expect(r?.ok, r?.trace ?? r?.error).toBe(true);
  return r as LoadResult;
}

/** Our view of devices, in the shape the helper prints. */
function ourDevices(text: string): { nics: unknown[]; disks: unknown[] } {
  const rt = readRuntime(text).runtime;
  return {
    nics: rt.nics.map((n) => ({ uuid: n.uuid, hvinfo: n.hvinfo })),
    disks: rt.disks.map((e) => ({ uuid: e.disk.uuid, hvinfo: e.disk.hvinfo, link: e.linkName, uri: e.uri })),
  };
}
function theirDevices(r: LoadResult): { nics: unknown[]; disks: unknown[] } {
  return {
    nics: r.nics.map((n) => ({ uuid: n.uuid, hvinfo: n.hvinfo })),
    disks: r.disks.map((d) => ({ uuid: d.uuid, hvinfo: d.hvinfo, link: d.link, uri: d.uri })),
  };
}

const KVM = ["/usr/bin/kvm", "-name", "inst1", "-m", 1024, "-device", "virtio-balloon", "-vnc", "0.0.0.0:5100"];
const HV = { disk_type: "paravirtual", kvm_pci_reservations: 12, nic_type: "paravirtual", scsi_controller_type: "virtio-scsi-pci" };

function created(): Runtime {
  const rt = emptyRuntime(KVM, HV);
  rt.nics.push(newNic({ uuid: "9e7c85f6-b6e5-4243-b27d-680b78c6d203", mac: "aa:00:00:12:34:56", link: "br0", slot: 12 }));
  rt.nics.push(newNic({ uuid: "003fc157-66a8-4e6d-8b7e-ec4f69751396", mac: "aa:00:00:bf:2f:16", link: "br1", mode: "openvswitch", vlan: "100", slot: 16 }));
  rt.disks.push(newDisk({ uuid: "932df160-7a22-4067-a566-7e0ca8386133", size: 10240, linkName: "/var/run/ganeti/instance-disks/inst1:0", slot: 13 }));
  rt.disks.push(newDisk({ uuid: "7c079136-2573-4112-82d0-0d3d2aa90d8f", size: 1024, linkName: "/var/run/ganeti/instance-disks/inst1:1", scsiId: 0, driver: "scsi-hd", ivName: "disk/1" }));
  rt.disks.push(newDisk({ uuid: "3edc32a2-8127-4b9d-a1c3-6d0f0a3c2b1e", size: 2048, linkName: "/var/run/ganeti/instance-disks/inst1:2", uri: "rbd:ganeti/img", scsiId: 3, driver: "scsi-block", ivName: "disk/2" }));
  return rt;
}

describe("conformance: Ganeti 3.0.2's own loader (_AnalyzeSerializedRuntime)", () => {
  beforeAll(() => {
    // A missing peer is a failure, not a skip.
    expect(existsSync(PYTHON), `${PYTHON} is missing: install python3`).toBe(true);
    expect(
      existsSync(path.join(GANETI, "ganeti/hypervisor/hv_kvm/__init__.py")),
      `${GANETI} is missing: install the Debian package ganeti-3.0 (and ganeti-testsuite for kvm_runtime.json)`,
    ).toBe(true);
  });

  it("Ganeti 2.16's loader: reported, not silently skipped", () => {
    const [r] = ganeti([{ op: "probe216" }]);
    const res = ok(r);
    // Debian's ganeti-2.16 only ships a Python-2 era version shim; say so.
    console.info(`[conformance] Ganeti 2.16 loader under /usr/share/ganeti/2.16: ${res.importable ? "available" : "NOT available"} (${res.detail}); only Ganeti 3.0.2 is checked`);
    expect(typeof res.importable).toBe("boolean");
  });

  it("every fixture, written by us in generation C, loads with the same devices", () => {
    const fx = runtimeFixtures();
    const ours = fx.map((f) => writeRuntime(readRuntime(f.text).runtime, "C"));
    const results = ganeti([...ours.map((text) => ({ op: "load" as const, text })), ...fx.map((f) => ({ op: "load" as const, text: f.text }))]);
    fx.forEach((f, i) => {
      const mine = ok(results[i]);
      const orig = ok(results[i + fx.length]);
      expect(theirDevices(mine), f.name).toEqual(ourDevices(ours[i] as string));
      // Same as what Ganeti makes of the original file (B → C conversion included).
      expect(mine.nics.map((n) => n.dict), f.name).toEqual(orig.nics.map((n) => n.dict));
      expect(mine.disks.map((d) => d.dict), f.name).toEqual(orig.disks.map((d) => d.dict));
      expect(mine.kvm_cmd, f.name).toEqual(orig.kvm_cmd);
      expect(mine.hvparams, f.name).toEqual(orig.hvparams);
      expect(mine.kvm_cmd, f.name).toEqual(readRuntime(f.text).runtime.kvmCmd);
    });
  });

  it("newly created devices (PCI NICs, a PCI disk, SCSI disks) load through Ganeti", () => {
    const text = writeRuntime(created(), "C");
    const [r] = ganeti([{ op: "load", text }]);
    const res = ok(r);
    expect(theirDevices(res)).toEqual(ourDevices(text));
    expect(res.disks[1]?.hvinfo).toEqual({ driver: "scsi-hd", id: "disk-7c079136-2573-4112", bus: "scsi.0", channel: 0, "scsi-id": 0, lun: 0 });
    // Ganeti's own re-save of what it loaded is byte-identical to ours.
    expect(res.resaved).toBe(text);
  });

  it("files Ganeti writes (FromDict → ToDict → serializer) read back through ours, byte-identical when unchanged", () => {
    const rt = created();
    const fx = runtimeFixtures();
    const ops: Op[] = [
      { op: "save", kvm_cmd: rt.kvmCmd, nics: rt.nics, hvparams: rt.hvparams, disks: rt.disks.map((e) => [e.disk, e.linkName, e.uri]) },
      ...fx.map((f) => ({ op: "load" as const, text: f.text })),
    ];
    const results = ganeti(ops);
    const saved = ok(results[0]).text;
    expect(saved).toBe(writeRuntime(rt, "C"));
    const texts = [saved, ...results.slice(1).map((r) => ok(r).resaved)];
    for (const t of texts) {
      const doc = readRuntime(t);
      expect(writeRuntime(doc.runtime, doc.generation)).toBe(t);
    }
    // The resaved upstream B fixture: Ganeti's bytes = the research fixture, and our devices match Ganeti's.
    const bIndex = fx.findIndex((f) => f.name.endsWith("kvm_runtime.v2.10-2.15.pci.json"));
    const bRes = ok(results[bIndex + 1]);
    expect(bRes.resaved).toBe(readFixture("synthesized/kvm_runtime.v2.10-2.15.pci.UPGRADED-resaved-py3.json"));
    expect(ourDevices(bRes.resaved)).toEqual(theirDevices(bRes));
  });

  it("our B → C conversion equals Ganeti's reading of the B file, for py2 orders too", () => {
    const t = readFixture("synthesized/runtime.gen-B.v2.15-py2.json");
    const c = writeRuntime(readRuntime(t).runtime, "C");
    const [a, b] = ganeti([{ op: "load", text: c }, { op: "load", text: t }]);
    expect(ok(a).resaved).toBe(ok(b).resaved);
    expect(ok(b).resaved).toBe(readFixture("synthesized/runtime.gen-B.v2.15-py2.UPGRADED-resaved-py3.json"));
  });

  it("an hvinfo on pci.0 without addr is refused by our reader (no slot to place it in)", () => {
    const text = '[["/usr/bin/kvm"], [{"mac": "m", "hvinfo": {"driver": "virtio-net-pci", "id": "nic-x", "bus": "pci.0"}, "uuid": "x-1-2-3"}], {"nic_type": "paravirtual"}, []]\n';
    expect(() => readRuntime(text)).toThrow(/nics\[0\]\.hvinfo\.addr: missing/);
  });
});
