// Disks Ganeti knows about, against the real two-node cluster, on a
// sharedfile instance the test creates (and removes):
// - a disk add of a size is recorded in Ganeti's configuration first (on
//   the master, without --hotplug: Ganeti creates its storage and gives it
//   a uuid), then plugged at the slot we chose from its instance-disks link
//   under the QEMU id Ganeti derives from that uuid: gnt-instance info lists
//   it, the guest sees it there, and Ganeti's own hot-remove finds and
//   removes it (and deletes its storage);
// - a failure at the QMP step (the chosen slot taken live behind our back
//   after the review) undoes everything: the disk leaves Ganeti's
//   configuration again and the storage Ganeti created is gone;
// - a disk added configuration first migrates at its slot and comes back
//   after a hard reboot; the app removes it through Ganeti only when told
//   its storage may be deleted;
// - a file instance the same way (its storage on its node);
// - a diskless instance gets none: Ganeti 3.0.2 itself refuses a disk add
//   there without a storage type, and the review refuses before anything
//   runs, naming the runtime-only way.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addInstance, kvmPaths, rearmKvmd } from "../../electron/lab/ganeti/cluster.js";
import type { NodeSession } from "../../electron/ssh/session.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { HotplugChanges } from "../../electron/hotplug/index.js";
import { QmpClient } from "../../electron/qmp/client.js";
import type { ChangeOutcome, ChangeRequestInput } from "../../shared/hotplug/index.js";
import { openQmp, liveScsi } from "../../electron/hotplug/qmp-session.js";
import { readGanetiNodeFiles } from "../../electron/cluster/ganeti-files.js";
import { inventoryContextOf } from "../../electron/cluster/cluster-of.js";
import { loadInstanceView } from "../../electron/inventory/node-inventory.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import { buildCli } from "../unit/cli-bundle.js";
import { describeGaneti, gntOut, guestAddress, guestSees, labNodeInfo, labNodes, livePci, masterCli, pnodeOf, reviewThenApply as reviewAndApply, runtimeSlots, runtimeText } from "./ganeti-fixture.js";

const NAME = "dskfirst1";
const DISKLESS = "dskless1";
const FILE = "dskfile1";

describeGaneti("disks Ganeti knows about: configuration first, undone with their storage, removed through Ganeti when told", (lab) => {
  let journalDir: string;
  let changes: HotplugChanges;
  const nodes = labNodes(lab);
  const sessionNow = async () => nodes.session(await pnodeOf(NAME));
  const target = () => nodes.target(NAME);
  const reviewThenApply = async (request: ChangeRequestInput, between?: () => Promise<void>) => reviewAndApply(changes, await target(), NAME, request, between);
  const done = (o: ChangeOutcome) => {
    if (!o.ok) throw new Error(`the change failed: ${o.error.message}`);
    return o;
  };
  /** The disk a change recorded: the uuid Ganeti gave it and where its storage is. */
  const recorded = (o: ChangeOutcome) => {
    const j = o.ganetiJobs?.find((r) => !r.undo && r.provisionalUuid);
    return { uuid: j?.uuid ?? "", path: j?.path ?? "" };
  };
  /** Ganeti's disk uuids of the instance, in order. */
  const diskUuids = async () => (await gntOut("gnt-instance", "list", "--no-headers", "-o", "disk.uuids", NAME)).trim().replace(/[[\]' ]/g, "").split(",").filter(Boolean);
  /** Whether a path exists on the node (SFTP stat, which follows a link). */
  const exists = async (s: NodeSession, path: string) => {
    const sftp = await s.sftp();
    try {
      return await new Promise<boolean>((resolve) => sftp.stat(path, (err) => resolve(!err)));
    } finally {
      sftp.end();
    }
  };
  /** The runtime file's entry of a disk: [disk, link, uri]. */
  const diskEntry = (text: string, uuid: string) => {
    const [, , , disks] = JSON.parse(text) as [unknown, unknown, unknown, [{ uuid: string; dev_type?: string; logical_id?: unknown[]; iv_name?: string; size?: number; hvinfo?: Record<string, unknown> }, string, unknown][]];
    return disks.find(([d]) => d.uuid === uuid);
  };
  /** The live SCSI targets: id -> target. */
  const scsiTargets = async (s: NodeSession) => {
    const q = await openQmp(s, kvmPaths(NAME).qmp);
    try {
      return new Map((await liveScsi(q)).map((t) => [t.qdevId, t.scsiId]));
    } finally {
      q.close();
    }
  };
  /** The CLI on node 1 (the master), reached through its ProxyCommand. */
  const cli = masterCli(() => journalDir);

  beforeAll(async () => {
    journalDir = await mkdtemp(join(tmpdir(), "hd-ganeti-dskfirst-"));
    changes = new HotplugChanges({ journal: new Journal(journalDir) });
    await addInstance({ name: NAME, node: 1, template: "sharedfile", diskMiB: 32 });
    buildCli();
  });

  afterAll(async () => {
    nodes.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", DISKLESS).catch(() => undefined);
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", FILE).catch(() => undefined);
    await rm(journalDir, { recursive: true, force: true });
  });

  let first: { uuid: string; path: string } | undefined;

  it("records a new disk in Ganeti's configuration first (Ganeti creates its storage), then plugs it at the chosen slot from its link under Ganeti's id", async () => {
    const before = await diskUuids();
    const { plan, outcome } = await reviewThenApply({ action: "add-disk", bus: "pci", slot: "0x18", sizeMiB: 48 });
    // The review showed Ganeti's command first, with the QMP steps after it, and what configuration first means.
    expect(plan.recording).toMatchObject({ mode: "ganeti", note: expect.stringMatching(/^Configuration first: Ganeti creates a 48 MiB disk \(sharedfile storage\) and records it as disk\/1 /) });
    const record = plan.steps[0]!;
    if (record.kind !== "ganeti-config") throw new Error(`first step is ${record.kind}`);
    expect(record.argv).toEqual(["gnt-instance", "modify", "--print-jobid", "--disk", "add:size=48M", NAME]);
    expect(plan.steps.map((s) => s.kind)).toEqual(["ganeti-config", "qmp", "qmp", "verify", "write-runtime"]);
    const ok = done(outcome);
    const { uuid, path } = recorded(ok);
    const id = deviceIdV2("disk", uuid);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(uuid).not.toBe(record.uuid);
    expect(ok.verified).toEqual([{ id, bus: "pci", expect: "present", slot: 0x18 }]);

    // Ganeti's configuration has it; its storage exists where Ganeti put it.
    expect(await diskUuids()).toEqual([...before, uuid]);
    expect(await gntOut("gnt-instance", "info", NAME)).toContain(uuid);
    const s = await sessionNow();
    expect(await exists(s, path)).toBe(true);
    // Live at 0x18 under Ganeti's id; the runtime file's entry is Ganeti's: its link, its template, its storage.
    expect((await livePci(s, NAME)).get(0x18)).toBe(id);
    const text = await runtimeText(s, NAME);
    expect(runtimeSlots(text).get(uuid)).toBe(0x18);
    const [disk, link] = diskEntry(text, uuid)!;
    expect(link).toBe(`/var/run/ganeti/instance-disks/${NAME}:1`);
    expect(disk).toMatchObject({ dev_type: "sharedfile", iv_name: "disk/1", size: 48, logical_id: ["loop", path] });
    expect(await exists(s, link)).toBe(true);
    await guestSees(s, NAME, (a) => a.includes(guestAddress(0x18)));
    first = { uuid, path };
  });

  it("lets Ganeti's own hot-remove find it and remove it: from the bus, the runtime file, the guest, its configuration and its storage", async () => {
    expect(first).toBeDefined();
    const { uuid, path } = first!;
    const out = await gntOut("gnt-instance", "modify", "--hotplug", "--disk", `${uuid}:remove`, NAME);
    expect(out).toMatch(/hotplug:done/);
    const s = await sessionNow();
    expect([...(await livePci(s, NAME)).values()]).not.toContain(deviceIdV2("disk", uuid));
    expect(diskEntry(await runtimeText(s, NAME), uuid)).toBeUndefined();
    expect(await diskUuids()).not.toContain(uuid);
    expect(await exists(s, path)).toBe(false);
    await guestSees(s, NAME, (a) => !a.includes(guestAddress(0x18)));
  });

  it("undoes everything when the chosen slot is taken live behind its back after the review: the disk leaves Ganeti's configuration and its storage is gone", async () => {
    const before = await diskUuids();
    const s = await sessionNow();
    const fileBefore = await runtimeText(s, NAME);
    const qmpCall = async (command: string, args: Record<string, unknown>) => {
      const q = await QmpClient.connect(await s.openUnixSocket(kvmPaths(NAME).qmp), { label: "intruder" });
      try {
        return await q.execute(command, args);
      } finally {
        q.close();
      }
    };
    const { outcome, progress } = await reviewThenApply({ action: "add-disk", bus: "pci", slot: "0x15", sizeMiB: 16 }, async () => {
      await qmpCall("device_add", { driver: "virtio-rng-pci", id: "intruder", bus: "pci.0", addr: "0x15" });
    });
    try {
      if (outcome.ok) throw new Error("the add succeeded on a taken slot");
      const { uuid, path } = recorded(outcome);
      expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(outcome.cause).toBe("qmp-refused");
      expect(outcome.error.message).toMatch(/device_add/);
      expect(outcome.undone.at(-1)).toMatch(new RegExp(`^remove the new disk from Ganeti's configuration again, deleting the storage Ganeti created \\(disk ${uuid} and its storage, job \\d+\\)$`));
      expect(outcome.notUndone).toEqual([]);
      expect(outcome.ganetiJobs?.map((j) => [j.ok, j.undo ?? false])).toEqual([
        [true, false],
        [true, true],
      ]);
      expect(progress.some((p) => p.kind === "ganeti-config" && p.state === "undone")).toBe(true);
      expect(await diskUuids()).toEqual(before);
      expect(await exists(s, path)).toBe(false);
      expect(await runtimeText(s, NAME)).toBe(fileBefore);
      expect((await livePci(s, NAME)).get(0x15)).toBe("intruder");
    } finally {
      await qmpCall("device_del", { id: "intruder" });
      await expect.poll(async () => (await livePci(s, NAME)).has(0x15), { timeout: 30_000 }).toBe(false);
    }
  });

  it("at a chosen SCSI target too (the controller added with it), and Ganeti's own hot-remove finds it there", async () => {
    const { plan, outcome } = await reviewThenApply({ action: "add-disk", bus: "scsi", scsiId: 2, sizeMiB: 16 });
    expect(plan.steps[0]).toMatchObject({ kind: "ganeti-config", op: "add-disk" });
    const { uuid, path } = recorded(done(outcome));
    const id = deviceIdV2("disk", uuid);
    const s = await sessionNow();
    expect((await scsiTargets(s)).get(id)).toBe(2);
    expect(diskEntry(await runtimeText(s, NAME), uuid)![0].hvinfo).toMatchObject({ id, bus: "scsi.0", "scsi-id": 2 });
    expect(await diskUuids()).toContain(uuid);
    const out = await gntOut("gnt-instance", "modify", "--hotplug", "--disk", `${uuid}:remove`, NAME);
    expect(out).toMatch(/hotplug:done/);
    expect((await scsiTargets(s)).has(id)).toBe(false);
    expect(diskEntry(await runtimeText(s, NAME), uuid)).toBeUndefined();
    expect(await exists(s, path)).toBe(false);
  });

  it("from the command line: --size-mib records first; a disk Ganeti knows is not removed without --delete-storage, and is with it", async () => {
    const added = await cli(["disk", "add", NAME, "--size-mib", "16", "--slot", "0x14"]);
    expect(added.code, added.stdout + added.stderr).toBe(0);
    const a = JSON.parse(added.stdout) as { plan: { recording: { mode: string } }; result: ChangeOutcome };
    expect(a.plan.recording.mode).toBe("ganeti");
    const { uuid, path } = recorded(a.result);
    expect(added.stderr).toMatch(/\[1\/5\] Ganeti: Ganeti job \d+: gnt-instance modify --print-jobid --disk add:size=16M/);
    const s = await sessionNow();
    expect((await livePci(s, NAME)).get(0x14)).toBe(deviceIdV2("disk", uuid));

    const refused = await cli(["disk", "remove", NAME, uuid]);
    expect(refused.code).toBe(1);
    const r = JSON.parse(refused.stdout) as { status: string; refusals: { code: string; message: string }[] };
    expect(r.status).toBe("refused");
    expect(r.refusals[0]).toMatchObject({ code: "ganeti-disk", message: expect.stringMatching(/--delete-storage.*--runtime-only/) });
    expect(await exists(s, path)).toBe(true);

    const removed = await cli(["disk", "remove", NAME, uuid, "--delete-storage"]);
    expect(removed.code, removed.stdout + removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ status: "done", result: { ok: true, written: { state: "by-ganeti" } } });
    expect(removed.stderr).toMatch(/Ganeti: .* - INFO: Hotplug done\./);
    expect(await diskUuids()).not.toContain(uuid);
    expect((await livePci(s, NAME)).has(0x14)).toBe(false);
    expect(await exists(s, path)).toBe(false);
  });

  let carried: { uuid: string; path: string } | undefined;

  it("a disk added configuration first migrates at its slot: the guest sees it there on the other node", async () => {
    const { outcome } = await reviewThenApply({ action: "add-disk", bus: "pci", slot: "0x16", sizeMiB: 32 });
    const { uuid, path } = recorded(done(outcome));
    const from = await pnodeOf(NAME);
    await gntOut("gnt-instance", "migrate", "-f", NAME);
    const to = await pnodeOf(NAME);
    expect(to).not.toBe(from);
    await rearmKvmd(NAME);
    const s = await sessionNow();
    expect((await livePci(s, NAME)).get(0x16)).toBe(deviceIdV2("disk", uuid));
    expect(runtimeSlots(await runtimeText(s, NAME)).get(uuid)).toBe(0x16);
    await guestSees(s, NAME, (a) => a.includes(guestAddress(0x16)));
    carried = { uuid, path };
  });

  it("comes back after a hard reboot where Ganeti puts it; the app removes it through Ganeti only when told its storage goes too", async () => {
    expect(carried).toBeDefined();
    const { uuid, path } = carried!;
    await gntOut("gnt-instance", "reboot", "--type=hard", "--shutdown-timeout=0", NAME);
    await rearmKvmd(NAME);
    const s = await sessionNow();
    const slot = runtimeSlots(await runtimeText(s, NAME)).get(uuid);
    expect(slot).toBeDefined();
    expect((await livePci(s, NAME)).get(slot!)).toBe(deviceIdV2("disk", uuid));
    await guestSees(s, NAME, (a) => a.includes(guestAddress(slot!)));
    // Ganeti's configuration, the runtime file and the live bus all have it, where Ganeti put it.
    const files = await readGanetiNodeFiles(await nodes.session("node1"), "/");
    const { context } = inventoryContextOf(files, labNodeInfo("node1").ssh.host, undefined);
    const view = await loadInstanceView(s, NAME, { nodeId: "n", root: "/", ganetiVersion: lab.ganetiVersion, ganeti: context });
    expect(view.threeWay.find((d) => d.uuid === uuid)).toMatchObject({ combination: "all-three", where: { config: true, file: true, live: true }, slot, drift: false });

    const refused = await changes.review(await target(), NAME, { action: "remove", kind: "disk", ref: uuid });
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.refusals).toEqual([expect.objectContaining({ code: "ganeti-disk", message: expect.stringMatching(/DELETES ITS STORAGE.*--delete-storage.*--runtime-only/) })]);

    const { plan, outcome } = await reviewThenApply({ action: "remove", kind: "disk", ref: uuid, deleteStorage: true });
    expect(plan.steps.map((st) => st.kind)).toEqual(["ganeti-config", "verify"]);
    expect(plan.recording?.note).toMatch(/^Through Ganeti: .*DELETES ITS STORAGE/);
    const r = done(outcome);
    expect(r.written.state).toBe("by-ganeti");
    expect(await diskUuids()).not.toContain(uuid);
    expect((await livePci(s, NAME)).has(slot!)).toBe(false);
    expect(await exists(s, path)).toBe(false);
  });

  it("a diskless instance gets no disk recorded first: Ganeti 3.0.2 refuses the add itself, and the review refuses it before anything runs", async () => {
    await addInstance({ name: DISKLESS, node: 2, template: "diskless" });
    await expect(gntOut("gnt-instance", "modify", "--disk", "add:size=16M", DISKLESS)).rejects.toThrow(/Must specify disk type on diskless instance/);
    const t = await nodes.target(DISKLESS);
    const r = await changes.review(t, DISKLESS, { action: "add-disk", bus: "pci", sizeMiB: 16 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.refusals).toEqual([expect.objectContaining({ code: "ganeti-disk", message: expect.stringMatching(/dskless1 is diskless: Ganeti 3\.0\.2 refuses .*runtime only: path \/ --path/) })]);
    expect((await gntOut("gnt-instance", "list", "--no-headers", "-o", "disk_template,disk.count", DISKLESS)).trim().split(/\s+/)).toEqual(["diskless", "0"]);
  });

  it("on a file instance the same way: Ganeti creates the file on its node, the disk lands at the chosen slot, and goes with its storage when told", async () => {
    await addInstance({ name: FILE, node: 2, template: "file", diskMiB: 16 });
    const t = await nodes.target(FILE);
    const { plan, outcome } = await reviewAndApply(changes, t, FILE, { action: "add-disk", bus: "pci", slot: "0x12", sizeMiB: 16 });
    expect(plan.recording?.note).toMatch(/^Configuration first: Ganeti creates a 16 MiB disk \(file storage\) and records it as disk\/1 /);
    const { uuid, path } = recorded(done(outcome));
    const s = t.session;
    expect((await livePci(s, FILE)).get(0x12)).toBe(deviceIdV2("disk", uuid));
    expect(diskEntry(await runtimeText(s, FILE), uuid)).toEqual([expect.objectContaining({ dev_type: "file", logical_id: ["loop", path] }), `/var/run/ganeti/instance-disks/${FILE}:1`, null]);
    expect(await exists(s, path)).toBe(true);
    expect(await gntOut("gnt-instance", "info", FILE)).toContain(uuid);
    const removed = await reviewAndApply(changes, t, FILE, { action: "remove", kind: "disk", ref: uuid, deleteStorage: true });
    done(removed.outcome);
    expect(await exists(s, path)).toBe(false);
    expect((await livePci(s, FILE)).has(0x12)).toBe(false);
  });
});
