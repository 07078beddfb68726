// Which way a disk change goes where Ganeti keeps a configuration, and the
// plans that come of it: a disk of a size created and recorded by Ganeti
// first (file and sharedfile templates), then plugged from its
// instance-disks link under Ganeti's uuid; refused where Ganeti would not
// create it (diskless, other templates); a disk of one's own path runtime
// only; removing a disk Ganeti knows through Ganeti only when its storage
// may be deleted.
import { describe, expect, it } from "vitest";
import {
  ChangeRequestSchema,
  planComposed,
  provisionalDiskPath,
  recordChange,
  resolvedPlan,
  type ChangeRequestInput,
  type GanetiFacts,
  type InstanceSnapshot,
  type Plan,
  type PlanOk,
} from "../../shared/hotplug";
import { activateDisksArgv, diskAddArgv, diskRemoveArgv, instanceDiskLink, parseActivateDisks, parseDiskList } from "../../shared/ganeti/config-change";
import { deviceIdV2, emptyRuntime, newDisk, newNic, readRuntime, writeRuntime } from "../../shared/runtime";
import { DISK0, HV, KVM, NEW, NIC0, live } from "./planner-instance";

/** The uuid Ganeti gives the disk it records, and where it puts its storage. */
const REAL = "db6e2c71-a414-41b6-8224-163300153d56";
const STORAGE = "/srv/ganeti/shared-file-storage/inst1/0f5e2a4c-1b7d-4c8e-9a3f-2d6b8e1c4a70.sharedfile.disk1";
const LINK0 = instanceDiskLink("inst1", 0);

/** inst1: Ganeti's NIC at 0x0c and Ganeti's disk 0 at 0x0d. */
function snapshot(): InstanceSnapshot {
  const rt = emptyRuntime(KVM, HV);
  rt.nics.push(newNic({ uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "br0", slot: 12 }));
  rt.disks.push(newDisk({ uuid: DISK0, size: 32, linkName: LINK0, slot: 13, devType: "sharedfile", logicalId: ["loop", "/srv/d0"] }));
  return {
    name: "inst1",
    runtime: readRuntime(writeRuntime(rt, "C")),
    livePci: [live(0), live(1), live(2), live(3), live(12, deviceIdV2("nic", NIC0)), live(13, deviceIdV2("disk", DISK0))],
    liveScsi: [],
    qmpCommands: null,
    qemuVersion: { major: 7, minor: 2, micro: 0 },
    readers: { ganetiVersions: ["3.0.2"] },
    nicTaps: ["tap0"],
  };
}

const facts = (diskTemplate: string, disks = [{ uuid: DISK0 }]): GanetiFacts => ({ kind: "reachable", master: "node1.example", config: { nics: [{ uuid: NIC0 }], disks, diskTemplate } });
const ids = () => ({ uuid: () => NEW, mac: () => "aa:00:00:12:34:56" });

function route(r: ChangeRequestInput, f: GanetiFacts = facts("sharedfile")) {
  return recordChange(ChangeRequestSchema.parse(r), snapshot(), ids(), f);
}
function recorded(r: ChangeRequestInput, f?: GanetiFacts) {
  const c = route(r, f);
  if (!c.ok) throw new Error(`refused: ${c.refusals.map((x) => x.message).join(" | ")}`);
  return c;
}
function refusal(r: ChangeRequestInput, f?: GanetiFacts) {
  const c = route(r, f);
  if (c.ok) throw new Error("expected a refusal");
  return c.refusals;
}
function ok(p: Plan): PlanOk {
  if (!p.ok) throw new Error(`refused: ${p.refusals.map((r) => r.message).join(" | ")}`);
  return p;
}

describe("a disk of a size where Ganeti creates its storage: recorded first", () => {
  it("is Ganeti's config-only add at the next index, then our add from its instance-disks link under one provisional uuid", () => {
    const c = recorded({ action: "add-disk", bus: "pci", slot: "0x10", sizeMiB: 64 });
    expect(c.intents).toEqual([
      { action: "ganeti-disk", op: "add", uuid: NEW, sizeMiB: 64, index: 1, master: "node1.example" },
      { action: "add-disk", uuid: NEW, path: "/var/run/ganeti/instance-disks/inst1:1", bus: "pci", slot: 16, sizeMiB: 64, recordedAs: { devType: "sharedfile", index: 1, storagePath: provisionalDiskPath(NEW) } },
    ]);
    expect(c.recording.mode).toBe("ganeti");
    expect(c.recording.note).toMatch(/^Configuration first: Ganeti creates a 64 MiB disk \(sharedfile storage\) and records it as disk\/1 \(gnt-instance modify on node1\.example, without --hotplug\).* at 0x10 from its instance-disks link/);
    // Runtime only is no choice for a disk of a size: only Ganeti creates one.
    expect(c.recording.runtimeOnlyMeans).toBeUndefined();
    expect(recorded({ action: "add-disk", bus: "scsi", scsiId: 3, sizeMiB: 8 }, facts("file")).recording.note).toMatch(/\(file storage\).* at SCSI target 3 /);
  });

  it("plans Ganeti's command first, then the block node and the device from the link, the check and one write with Ganeti's entry", () => {
    const p = ok(planComposed(snapshot(), recorded({ action: "add-disk", bus: "pci", slot: "0x10", sizeMiB: 64 }).intents));
    expect(p.steps.map((s) => s.kind)).toEqual(["ganeti-config", "qmp", "qmp", "verify", "write-runtime"]);
    const record = p.steps[0]!;
    if (record.kind !== "ganeti-config") throw new Error(record.kind);
    expect(record).toMatchObject({ op: "add-disk", hotplug: false, index: 1, uuid: NEW, argv: ["gnt-instance", "modify", "--print-jobid", "--disk", "add:size=64M", "inst1"] });
    expect(record.describe).toMatch(/gnt-instance activate-disks inst1 makes its link/);
    expect(record.undo).toMatch(/--hotplug --disk UUID:remove inst1 .*deletes the storage it created/);
    expect(p.steps[1]).toMatchObject({ command: "blockdev-add", arguments: { "node-name": deviceIdV2("disk", NEW), file: { filename: "/var/run/ganeti/instance-disks/inst1:1" } } });
    expect(p.steps[2]).toMatchObject({ command: "device_add", arguments: { id: deviceIdV2("disk", NEW), addr: "0x10" } });
    // Ganeti's link is no path of the user's: no warning that it must exist on every node.
    expect(p.warnings.join(" ")).not.toMatch(/is not a disk in Ganeti's config/);
    const entry = p.runtimeAfter.disks.at(-1)!;
    expect(entry.linkName).toBe("/var/run/ganeti/instance-disks/inst1:1");
    expect(entry.disk).toMatchObject({ uuid: NEW, dev_type: "sharedfile", iv_name: "disk/1", size: 64, logical_id: ["loop", provisionalDiskPath(NEW)] });
  });

  it("takes Ganeti's uuid and storage path once Ganeti names them: in the later steps and in what is written", () => {
    const p = ok(planComposed(snapshot(), recorded({ action: "add-disk", bus: "pci", slot: "0x10", sizeMiB: 64 }).intents));
    const ran = resolvedPlan(p, [{ step: 0, command: "gnt-instance modify", ok: true, log: [], changes: [], uuid: REAL, provisionalUuid: NEW, path: STORAGE, provisionalPath: provisionalDiskPath(NEW) }]);
    expect(ran.steps[0]).toEqual(p.steps[0]);
    expect(ran.steps[2]).toMatchObject({ command: "device_add", arguments: { id: deviceIdV2("disk", REAL) } });
    expect(ran.fileTextAfter).toContain(STORAGE);
    expect(ran.fileTextAfter).toContain(REAL);
    expect(ran.fileTextAfter).not.toContain(NEW);
    expect(ran.fileTextAfter).not.toContain("ganeti-names-this-path");
  });

  it("refuses where Ganeti would not create it, naming what Ganeti says and the way that remains", () => {
    expect(refusal({ action: "add-disk", bus: "pci", sizeMiB: 64 }, facts("diskless", []))).toEqual([
      { code: "ganeti-disk", message: expect.stringMatching(/inst1 is diskless: Ganeti 3\.0\.2 refuses .*"Must specify disk type on diskless instance".*--path/) },
    ]);
    expect(refusal({ action: "add-disk", bus: "pci", sizeMiB: 64 }, facts("plain"))[0]!.message).toMatch(/disk template plain.*gnt-instance modify --hotplug --disk add:size=…M inst1.*runtime only/);
    expect(refusal({ action: "add-disk", bus: "pci" })[0]!.message).toMatch(/say how big: a size of at least 1 MiB \(sizeMiB \/ --size-mib\)/);
    expect(refusal({ action: "add-disk", bus: "pci", sizeMiB: 64, uuid: REAL })[0]!.message).toMatch(/Ganeti gives the disk its uuid/);
    // Runtime only needs a path: a size alone is Ganeti's to create.
    expect(refusal({ action: "add-disk", bus: "pci", sizeMiB: 64, runtimeOnly: true })[0]!.message).toMatch(/needs its path on the node/);
    // Off a cluster, a size alone is no disk either.
    expect(route({ action: "add-disk", bus: "pci", sizeMiB: 64 }, { kind: "none", why: "no cluster" })).toMatchObject({ ok: false, refusals: [{ message: expect.stringMatching(/needs its path/) }] });
  });

  it("a disk from a path of one's own stays runtime only, whatever the template", () => {
    const c = recorded({ action: "add-disk", bus: "pci", path: "/srv/own.img", sizeMiB: 8 }, facts("diskless", []));
    expect(c.intents.map((i) => i.action)).toEqual(["add-disk"]);
    expect(c.recording).toMatchObject({ mode: "runtime-only", note: expect.stringMatching(/never lists it.*dropped at the next shutdown\/startup/) });
  });
});

describe("removing a disk Ganeti knows: through Ganeti, which deletes its storage, only when told", () => {
  it("is refused without deleteStorage, naming it and the runtime-only way", () => {
    expect(refusal({ action: "remove", kind: "disk", ref: DISK0 })).toEqual([
      { code: "ganeti-disk", message: expect.stringMatching(/DELETES ITS STORAGE.*deleteStorage \/ --delete-storage.*runtimeOnly \/ --runtime-only.*Ganeti keeps it and its storage/) },
    ]);
  });

  it("with deleteStorage: Ganeti's hot-remove by uuid, then the check; Ganeti saves the file, and the review says the storage goes", () => {
    const c = recorded({ action: "remove", kind: "disk", ref: deviceIdV2("disk", DISK0), deleteStorage: true });
    expect(c.intents).toEqual([{ action: "ganeti-disk", op: "remove", uuid: DISK0, master: "node1.example" }]);
    expect(c.recording).toMatchObject({ mode: "ganeti", note: expect.stringMatching(/DELETES ITS STORAGE/), runtimeOnlyMeans: expect.stringMatching(/keeps it and its storage/) });
    const p = ok(planComposed(snapshot(), c.intents));
    expect(p.steps.map((s) => s.kind)).toEqual(["ganeti-config", "verify"]);
    expect(p.steps[0]).toMatchObject({ op: "remove-disk", hotplug: true, argv: diskRemoveArgv("inst1", DISK0) });
    expect(p.runtimeWrite).toBe("ganeti");
    expect(p.runtimeAfter.disks).toEqual([]);
    expect(p.warnings).toContain("Ganeti's remove deletes the disk's storage (/srv/d0): its data is gone for good.");
  });

  it("runtime only, where chosen: off the bus and out of the file, Ganeti keeps it; a disk Ganeti does not have goes our way", () => {
    const c = recorded({ action: "remove", kind: "disk", ref: DISK0, runtimeOnly: true });
    expect(c.intents).toEqual([{ action: "remove", kind: "disk", ref: DISK0 }]);
    expect(c.recording.note).toMatch(/Ganeti's configuration keeps it and its storage.*\(chosen\)$/);
    const unknown = recorded({ action: "remove", kind: "disk", ref: DISK0 }, facts("sharedfile", []));
    expect(unknown.intents).toEqual([{ action: "remove", kind: "disk", ref: DISK0 }]);
    expect(unknown.recording).toMatchObject({ mode: "ganeti", note: expect.stringMatching(/does not have this disk/) });
  });
});

describe("Ganeti's disk commands and what they print", () => {
  it("builds the argument vectors", () => {
    expect(diskAddArgv("web1", 1024)).toEqual(["gnt-instance", "modify", "--print-jobid", "--disk", "add:size=1024M", "web1"]);
    expect(() => diskAddArgv("web1", 0)).toThrow(/at least 1/);
    expect(diskRemoveArgv("web1", REAL)).toEqual(["gnt-instance", "modify", "--print-jobid", "--hotplug", "--disk", `${REAL}:remove`, "web1"]);
    expect(activateDisksArgv("web1")).toEqual(["gnt-instance", "activate-disks", "web1"]);
  });

  it("reads the template and disk uuids, and the activated disks' storage paths", () => {
    expect(parseDiskList(`sharedfile|['${DISK0}', '${REAL}']\n`)).toEqual({ template: "sharedfile", uuids: [DISK0, REAL] });
    expect(parseDiskList("diskless|[]\n")).toEqual({ template: "diskless", uuids: [] });
    expect(() => parseDiskList("sharedfile\n")).toThrow(/not "template\|\[uuids\]"/);
    expect(() => parseDiskList("sharedfile|[bogus]")).toThrow(/uuids/);
    expect(parseActivateDisks(`node1.example:disk/0:/srv/d0\nnode1.example:disk/1:${STORAGE}\n`)).toEqual([
      { node: "node1.example", ivName: "disk/0", path: "/srv/d0" },
      { node: "node1.example", ivName: "disk/1", path: STORAGE },
    ]);
    expect(parseActivateDisks("Waiting for job 12 ...\n")).toEqual([]);
  });
});
