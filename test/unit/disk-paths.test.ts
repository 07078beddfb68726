// The disk-path rules (shared/on-node/disk-paths.ts) on facts as a node
// reports them: what is accepted (file storage, instance-disks links, LVs of
// volume groups, DRBD, RBD, the allow-list), what never is (system
// directories, devices the node uses, directories and character devices),
// symlinks judged by where they lead, and refusals that say where disks may
// live. The node side (the helper's "disk-path" answer) is tested against
// the lab in test/integration/disk-paths.test.ts.
import { describe, expect, it } from "vitest";
import { DiskPathFactsSchema, judgeDiskPath, type DiskPathFacts } from "../../shared/on-node/disk-paths";
import { DiskPathAllowSchema } from "../../shared/node-registry/schema";
import { planHotplug, type InstanceSnapshot } from "../../shared/hotplug";
import { emptyRuntime, readRuntime, writeRuntime } from "../../shared/runtime";
import { HV, KVM, live } from "./planner-instance";

/** A running instance with nothing on the bus beyond QEMU's own devices. */
function planningState(): InstanceSnapshot {
  return {
    name: "inst1",
    runtime: readRuntime(writeRuntime(emptyRuntime(KVM, HV), "C")),
    livePci: [0, 1, 2, 3].map((s) => live(s)),
    liveScsi: [],
    qmpCommands: ["blockdev-add", "blockdev-del", "device_add", "device_del", "query-pci", "add-fd", "remove-fd"],
    qemuVersion: { major: 7, minor: 2, micro: 0 },
    readers: { ganetiVersions: ["3.0.2"] },
  };
}

const place = (path: string, real = path) => ({ path, real, exists: true });

function facts(path: string, over: Partial<DiskPathFacts> = {}, storage: Partial<DiskPathFacts["storage"]> = {}): DiskPathFacts {
  return DiskPathFactsSchema.parse({
    path,
    real: path,
    exists: true,
    type: "file",
    device: null,
    inUse: null,
    allow: [],
    ...over,
    storage: {
      fileStoragePathsFile: "/etc/ganeti/file-storage-paths",
      fileStoragePaths: [place("/srv/ganeti/file-storage")],
      fileStorageDir: place("/srv/ganeti/file-storage"),
      sharedFileStorageDir: place("/srv/ganeti/shared-file-storage", "/mnt/shared"),
      glusterStorageDir: null,
      instanceDisks: place("/var/run/ganeti/instance-disks", "/run/ganeti/instance-disks"),
      volumeGroups: [{ name: "xenvg", volumes: [{ path: "/dev/xenvg/3f1c.disk0", real: "/dev/dm-3" }] }],
      notes: [],
      ...storage,
    },
  });
}

const judge = (f: DiskPathFacts) => judgeDiskPath(f, "root@node1:22");

describe("disk paths: accepted", () => {
  it.each([
    ["a file in a file-storage-paths directory", facts("/srv/ganeti/file-storage/inst1/disk0"), "file", /file-storage-paths/],
    ["a file in the shared file storage, reached through its symlinked path", facts("/srv/ganeti/shared-file-storage/d.img", { real: "/mnt/shared/d.img" }), "file", /shared file storage/],
    ["Ganeti's instance-disks link", facts("/var/run/ganeti/instance-disks/inst1:0", { real: "/dev/dm-3", type: "block", device: "253:3" }), "block", /instance-disks/],
    ["an LV of a volume group, resolved to its dm device", facts("/dev/xenvg/3f1c.disk0", { real: "/dev/dm-3", type: "block", device: "253:3" }), "block", /volume group xenvg/],
    ["a DRBD device", facts("/dev/drbd7", { type: "block", device: "147:7" }), "block", /DRBD/],
    ["an RBD device through its udev link", facts("/dev/rbd/pool/img", { real: "/dev/rbd0", type: "block", device: "252:0" }), "block", /RBD/],
    ["a block device the allow-list names", facts("/dev/sdb", { type: "block", device: "8:16", allow: [place("/dev/sdb")] }), "block", /allow-list \(\/dev\/sdb\)/],
    ["a file in an allow-listed directory under /home", facts("/home/images/a.img", { allow: [place("/home/images")] }), "file", /allow-list/],
  ])("%s", (_what, f, kind, via) => {
    const v = judge(f);
    expect(v, JSON.stringify(v)).toMatchObject({ ok: true, kind });
    if (v.ok) expect(v.via).toMatch(via);
  });
});

describe("disk paths: refused, saying where disks may live", () => {
  it.each([
    ["/etc/shadow", facts("/etc/shadow"), /\/etc\/shadow is inside \/etc, one of root@node1:22's own system directories/],
    ["a symlink in file storage that leads to /etc/passwd", facts("/srv/ganeti/file-storage/x.img", { real: "/etc/passwd" }), /\/srv\/ganeti\/file-storage\/x\.img \(\/etc\/passwd on the node\) is inside \/etc/],
    ["/boot's kernel, even allow-listed", facts("/boot/vmlinuz", { allow: [place("/boot")] }), /inside \/boot/],
    ["a file outside any storage", facts("/srv/other/a.img"), /is not inside root@node1:22's Ganeti storage/],
    ["/var/lib, even when a storage dir is configured there", facts("/var/lib/images/a.img", {}, { fileStoragePaths: [place("/var/lib/images")] }), /not inside .*Ganeti storage/],
    ["a raw disk not in a volume group", facts("/dev/sdb", { type: "block", device: "8:16" }), /block device that is not a logical volume/],
    ["/dev/vda, mounted at /, even allow-listed", facts("/dev/vda", { type: "block", device: "254:0", inUse: "is mounted at / (/dev/vda)", allow: [place("/dev/vda")] }), /in use on root@node1:22: it is mounted at \/ \(\/dev\/vda\)/],
    ["a PV beneath the root LV", facts("/dev/sda2", { type: "block", device: "8:2", inUse: "is beneath dm-0, which is mounted at / (/dev/mapper/vg-root)" }), /beneath dm-0/],
    ["a directory", facts("/srv/ganeti/file-storage/inst1", { type: "dir" }), /is a directory: a disk is a regular file or a block device/],
    ["a character device", facts("/dev/mem", { type: "char" }), /character device/],
    ["a path that does not exist", facts("/srv/ganeti/file-storage/nope.img", { exists: false, type: null }), /does not exist on root@node1:22/],
  ])("%s", (_what, f, why) => {
    const v = judge(f);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.message).toMatch(why);
  });

  it("the refusal lists where disks may live on that node, and how to add a place", () => {
    const v = judge(facts("/srv/other/a.img"));
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.message).toContain("On root@node1:22, disks may be files in /srv/ganeti/file-storage, /srv/ganeti/shared-file-storage (Ganeti's file storage)");
    expect(v.message).toContain("Ganeti's own links in /var/run/ganeti/instance-disks");
    expect(v.message).toContain("logical volumes of the volume groups xenvg (/dev/xenvg/…)");
    expect(v.message).toContain("DRBD (/dev/drbdN) and RBD (/dev/rbdN) devices");
    expect(v.message).toContain("--allow-disk-path");
  });

  it("a node without storage says so, and what the node could not read", () => {
    const v = judge(facts("/srv/a.img", {}, { fileStoragePaths: [], fileStorageDir: null, sharedFileStorageDir: null, volumeGroups: [], notes: ["vgs (LVM) is not installed on the node: no volume groups"] }));
    expect(!v.ok && v.message).toMatch(/of which root@node1:22 has none .* volume group \(the node has none\).*vgs \(LVM\) is not installed/);
  });
});

describe("the planner with the node's verdicts", () => {
  const intent = { action: "add-disk", uuid: "11111111-2222-4333-8444-555555555555", path: "/srv/other/a.img", bus: "pci" } as const;

  it("refuses a disk whose path the node refused, with the node's words", () => {
    const v = judge(facts(intent.path));
    const p = planHotplug({ ...planningState(), diskPaths: { [intent.path]: v } }, intent);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.refusals).toEqual([{ code: "disk-path", message: !v.ok ? v.message : "" }]);
  });

  it("refuses a disk path the caller did not judge, when it judges paths at all", () => {
    const p = planHotplug({ ...planningState(), diskPaths: {} }, intent);
    expect(!p.ok && p.refusals[0]).toMatchObject({ code: "disk-path", message: expect.stringMatching(/was not checked on the node/) });
  });

  it("takes the kind the node reports: a regular file under /dev/shm is a file, a block device elsewhere is a block device", () => {
    const file = "/dev/shm/x.img";
    const p = planHotplug({ ...planningState(), diskPaths: { [file]: { ok: true, path: file, real: file, kind: "file", via: "allow-list" } } }, { ...intent, path: file });
    expect(p.ok && p.steps.find((s) => s.kind === "qmp" && s.command === "blockdev-add")).toMatchObject({ arguments: { file: { driver: "file" } } });
    const dev = "/srv/dev-link";
    const q = planHotplug({ ...planningState(), diskPaths: { [dev]: { ok: true, path: dev, real: "/dev/dm-3", kind: "block", via: "lv" } } }, { ...intent, path: dev });
    expect(q.ok && q.steps.find((s) => s.kind === "qmp" && s.command === "blockdev-add")).toMatchObject({ arguments: { file: { driver: "host_device" } } });
  });
});

describe("a node's disk-path allow-list (node settings)", () => {
  const problem = (paths: string[]) => {
    const r = DiskPathAllowSchema.safeParse(paths);
    return r.success ? null : r.error.issues[0]?.message;
  };
  it("takes absolute paths of directories and devices", () => {
    expect(problem(["/srv/images", "/dev/vg1/data", "/home/images"])).toBeNull();
  });
  it("refuses /, system directories, and paths that are not clean and absolute", () => {
    expect(problem(["/"])).toMatch(/would allow every path on the node/);
    expect(problem(["/srv/x", "/etc/ganeti"])).toMatch(/"\/etc\/ganeti" is inside \/etc, one of the node's system directories/);
    expect(problem(["/boot"])).toMatch(/inside \/boot/);
    expect(problem(["srv/x"])).toMatch(/must be an absolute path on the node/);
    expect(problem(["/srv/../etc"])).toMatch(/must be an absolute path on the node/);
  });
});
