// Disk paths judged on a real Ganeti node (issue 13, item 4): the node
// helper reads Ganeti's own configuration there (file-storage-paths, the
// cluster's file and shared-file storage directories from ssconf, the
// instance-disks links Ganeti made for an instance it started), and the
// change path accepts a disk only inside that storage, refusing with where
// disks may live on that node.
import { afterAll, beforeAll, expect, it } from "vitest";
import { rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { addInstance } from "../../electron/lab/ganeti/cluster.js";
import { FILE_STORAGE_DIR, SHARED_FILE_STORAGE_DIR, paths } from "../../electron/lab/ganeti/layout.js";
import type { NodeSession } from "../../electron/ssh/session.js";
import { readDiskPathFacts } from "../../electron/on-node/disk-path-facts.js";
import { HotplugChanges } from "../../electron/hotplug/change.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { judgeDiskPath } from "../../shared/on-node/disk-paths.js";
import { describeGaneti, gntOut, labNodeInfo, openNode } from "./ganeti-fixture.js";

const NAME = "diskpaths1";
const IMAGE = "diskpaths-extra.img";

describeGaneti("disk paths on a Ganeti node", (lab) => {
  let session: NodeSession;
  beforeAll(async () => {
    await addInstance({ name: NAME, node: 1, template: "sharedfile", diskMiB: 32, nics: 1 });
    session = await openNode(labNodeInfo("node1"));
    const file = join(paths.sharedFileStorage, IMAGE);
    await writeFile(file, "");
    await truncate(file, 16 << 20);
  });
  afterAll(async () => {
    session?.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    await rm(join(paths.sharedFileStorage, IMAGE), { force: true });
  });

  const judge = async (path: string) => judgeDiskPath(await readDiskPathFacts(session, "/", path), "node1");

  it("reads the node's Ganeti storage: file-storage-paths and the cluster's file and shared-file storage directories", async () => {
    const f = await readDiskPathFacts(session, "/", `${SHARED_FILE_STORAGE_DIR}/${IMAGE}`);
    expect(f.storage.fileStoragePaths.map((p) => p.path)).toEqual([FILE_STORAGE_DIR, SHARED_FILE_STORAGE_DIR]);
    expect(f.storage.fileStorageDir?.path).toBe(FILE_STORAGE_DIR);
    expect(f.storage.sharedFileStorageDir?.path).toBe(SHARED_FILE_STORAGE_DIR);
    expect(f).toMatchObject({ exists: true, type: "file", inUse: null });
  });

  it("accepts an image in the shared file storage, and the instance-disks link Ganeti made for its instance's disk", async () => {
    expect(await judge(`${SHARED_FILE_STORAGE_DIR}/${IMAGE}`)).toMatchObject({ ok: true, kind: "file", via: expect.stringMatching(/shared-file-storage/) });
    expect(await judge(`/var/run/ganeti/instance-disks/${NAME}:0`)).toMatchObject({ ok: true, kind: "file", via: expect.stringMatching(/instance-disks/) });
  });

  it("refuses Ganeti's own state and anything outside its storage, saying where disks may live on the node", async () => {
    const config = await judge("/var/lib/ganeti/config.data");
    expect(!config.ok && config.message).toMatch(/^\/var\/lib\/ganeti\/config\.data is inside \/var\/lib\/ganeti, one of node1's own system directories/);
    const outside = await judge("/root/.ssh/id_ed25519");
    expect(!outside.ok && outside.message).toMatch(/inside \/root/);
    expect(!outside.ok && outside.message).toContain(`disks may be files in ${FILE_STORAGE_DIR}, ${SHARED_FILE_STORAGE_DIR} (Ganeti's file storage)`);
  });

  it("the change path refuses such a disk before planning, and plans one in the node's storage", async () => {
    // A review writes nothing to the journal; it is only where an apply would.
    const changes = new HotplugChanges({ journal: new Journal(join(tmpdir(), "hd-ganeti-diskpaths-journal")) });
    const target = { session, nodeId: "node1", root: "/", readers: { ganetiVersions: [lab.ganetiVersion] } };
    const refused = await changes.review(target, NAME, { action: "add-disk", path: "/etc/ganeti/file-storage-paths", bus: "pci" });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.refusals).toEqual([{ code: "disk-path", message: expect.stringMatching(/^\/etc\/ganeti\/file-storage-paths is inside \/etc/) }]);
    const planned = await changes.review(target, NAME, { action: "add-disk", path: `${SHARED_FILE_STORAGE_DIR}/${IMAGE}`, bus: "pci" });
    expect(planned.ok, JSON.stringify(planned)).toBe(true);
    if (planned.ok) changes.kept.take(planned.kept.planId);
  });
});
