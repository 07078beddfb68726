// Disk hotplug on the lab's real guest: virtio-blk on pci.0, and scsi-hd on
// scsi.0 of an instance that had no SCSI controller (the controller is added
// and recorded in kvm_cmd), removal of each; and a disk passed as an fd
// (add-fd over SCM_RIGHTS) when QEMU cannot open node paths itself.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFile } from "node:fs/promises";
import { LabNode } from "../../electron/lab/node.js";
import { buildInstanceRuntime, startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { GuestConsole } from "../lab/guest-console.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { checkInstanceMigration, executePlan, newDeviceUuid } from "../../electron/hotplug/index.js";
import { expectOk, planOn, tempJournal } from "./hotplug-fixture.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { livePci, liveScsi, openQmp } from "../../electron/hotplug/qmp-session.js";
import type { ChangeOutcome, HotplugIntentInput, PlanOk, StepProgress } from "../../shared/hotplug/index.js";
import { deviceIdV2, readRuntime, writeRuntime } from "../../shared/runtime/index.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { formatPciAddr } from "../../shared/slots/index.js";

let node: LabNode;
let session: NodeSession;
let journal: Journal;
let removeJournal: (() => Promise<void>) | undefined;
let india: StartedLabInstance;

beforeAll(async () => {
  node = await LabNode.start();
  india = await startLabInstance(node, { name: "india.lab", generation: "C", nics: 1, disks: [] });
  // Paused (no guest needed) and "unprivileged" QEMU: disks must arrive as fds.
  const built = await buildInstanceRuntime(node, { name: "juliet.lab", generation: "C", nics: 0, disks: [], memoryMiB: 64, paused: true });
  built.runtime.hvparams.security_model = "user";
  built.runtime.hvparams.security_domain = "nobody";
  const text = writeRuntime(built.runtime, "C");
  await node.startInstance({ name: "juliet.lab", runtimeText: text, runtime: readRuntime(text).runtime });
  session = await NodeSession.open(sessionTarget(node.info));
  ({ journal, remove: removeJournal } = await tempJournal());
});

afterAll(async () => {
  session?.close();
  await node?.stop();
  await removeJournal?.();
});


const plan = (instance: string, intent: HotplugIntentInput) => planOn(session, node.root, instance, intent);

async function run(instance: string, p: { plan: PlanOk; expected: Buffer }, events: StepProgress[] = []): Promise<ChangeOutcome> {
  return executePlan({ session, root: node.root, nodeId: "lab", instance, plan: p.plan, expectedRuntime: p.expected, journal, onProgress: (e) => void events.push(e) });
}


async function guestPci(predicate: (addrs: string[]) => boolean): Promise<string[]> {
  const console = new GuestConsole(await session.openUnixSocket(india.paths.serial));
  try {
    await console.waitReady(60_000);
    return (await console.waitForPci((l) => predicate(l.map((f) => f.address)), 30_000)).map((f) => f.address);
  } finally {
    console.close();
  }
}

async function live(instance: string) {
  const qmp = await openQmp(session, instancePaths(node.root, instance).qmp);
  try {
    return { pci: await livePci(qmp), scsi: await liveScsi(qmp) };
  } finally {
    qmp.close();
  }
}

const fileOf = async (instance: string) => readRuntime(await readFile(instancePaths(node.root, instance).runtime, "utf8"));

describe("disk hotplug on a real guest", () => {
  const pciUuid = newDeviceUuid();
  const scsiUuid = newDeviceUuid();
  const pciId = deviceIdV2("disk", pciUuid);
  const scsiId = deviceIdV2("disk", scsiUuid);

  it("adds a virtio-blk disk from a file on the node at slot 0x11: live, seen by the guest, recorded", async () => {
    const path = await node.createDisk("india.lab", 1, 32);
    const p = await plan("india.lab", { action: "add-disk", uuid: pciUuid, path, bus: "pci", slot: "0x11", sizeMiB: 32 });
    expect(p.plan.steps.map((s) => (s.kind === "qmp" ? s.command : s.kind))).toEqual(["blockdev-add", "device_add", "verify", "write-runtime"]);
    const r = await run("india.lab", p);
    expectOk(r);
    expect((await live("india.lab")).pci.find((d) => d.qdevId === pciId)).toMatchObject({ slot: 0x11, vendorId: 0x1af4, deviceId: 0x1001 });
    expect(await guestPci((a) => a.includes("0000:00:11.0"))).toContain("0000:00:11.0");
    const doc = await fileOf("india.lab");
    expect(doc.runtime.disks.find((d) => d.disk.uuid === pciUuid)).toMatchObject({ linkName: path, disk: { hvinfo: { driver: "virtio-blk-pci", id: pciId, bus: "pci.0", addr: "0x11" } } });
  });

  it("adds a SCSI disk to an instance without a controller: the controller (scsi_controller_type) comes first and is recorded in kvm_cmd", async () => {
    const path = await node.createDisk("india.lab", 2, 16);
    const p = await plan("india.lab", { action: "add-disk", uuid: scsiUuid, path, bus: "scsi", scsiId: 2 });
    const ctrl = p.plan.steps.find((s) => s.kind === "qmp" && s.command === "device_add" && s.arguments.id === "scsi");
    expect(ctrl).toBeDefined();
    const r = await run("india.lab", p);
    expectOk(r);
    const l = await live("india.lab");
    expect(l.scsi).toContainEqual({ scsiId: 2, qdevId: scsiId, driver: "scsi-hd" });
    const ctrlSlot = l.pci.find((d) => d.qdevId === "scsi")!.slot;
    expect(ctrlSlot).toBeLessThan(12);
    const doc = await fileOf("india.lab");
    expect(doc.runtime.kvmCmd.join(" ")).toContain(`-device lsi,id=scsi,bus=pci.0,addr=${formatPciAddr(ctrlSlot)}`);
    expect(doc.runtime.disks.find((d) => d.disk.uuid === scsiUuid)?.disk.hvinfo).toMatchObject({ driver: "scsi-hd", bus: "scsi.0", "scsi-id": 2, id: scsiId });
    expect(await guestPci((a) => a.includes(`0000:00:${ctrlSlot.toString(16).padStart(2, "0")}.0`))).toContain(`0000:00:${ctrlSlot.toString(16).padStart(2, "0")}.0`);
    // A target started from this file would match the live buses.
    const check = await checkInstanceMigration(session, "india.lab", { root: node.root });
    expect(check.problems).toEqual([]);
  });

  it("removes the SCSI disk, then the virtio-blk disk: each only after DEVICE_DELETED, and the file drops it", async () => {
    for (const [uuid, id] of [
      [scsiUuid, scsiId],
      [pciUuid, pciId],
    ] as const) {
      const events: StepProgress[] = [];
      const r = await run("india.lab", await plan("india.lab", { action: "remove", kind: "disk", ref: uuid }), events);
      expectOk(r);
      expect(events.find((e) => e.kind === "wait-device-deleted" && e.state === "done")?.detail).toMatch(/DEVICE_DELETED|left the bus/);
      const l = await live("india.lab");
      expect(l.pci.some((d) => d.qdevId === id)).toBe(false);
      expect(l.scsi.some((t) => t.qdevId === id)).toBe(false);
      expect((await fileOf("india.lab")).runtime.disks.some((d) => d.disk.uuid === uuid)).toBe(false);
    }
    expect(await guestPci((a) => !a.includes("0000:00:11.0"))).not.toContain("0000:00:11.0");
    // The controller stays (recorded in kvm_cmd), so the file still matches the instance.
    expect((await checkInstanceMigration(session, "india.lab", { root: node.root })).problems).toEqual([]);
  });

  it("passes the disk as an fd (add-fd) when QEMU cannot open node paths, and the block node runs on /dev/fdset/N", async () => {
    const path = await node.createDisk("juliet.lab", 0, 8);
    const uuid = newDeviceUuid();
    const p = await plan("juliet.lab", { action: "add-disk", uuid, path, bus: "pci", sizeMiB: 8 });
    expect(p.plan.steps.some((s) => s.kind === "node-pass-fd" && s.mechanism === "add-fd")).toBe(true);
    const r = await run("juliet.lab", p);
    expectOk(r);
    const qmp = await openQmp(session, instancePaths(node.root, "juliet.lab").qmp);
    try {
      const nodes = (await qmp.execute("query-named-block-nodes")) as { "node-name": string; file: string }[];
      const id = deviceIdV2("disk", uuid);
      const mine = nodes.filter((n) => n["node-name"] === id || n.file.startsWith("/dev/fdset/"));
      expect(mine.some((n) => /^\/dev\/fdset\/\d+$/.test(n.file))).toBe(true);
      expect((await livePci(qmp)).some((d) => d.qdevId === id)).toBe(true);
    } finally {
      qmp.close();
    }
    // The file records the node path (what a restart or migration target opens), not the fd set.
    expect((await fileOf("juliet.lab")).runtime.disks[0]?.linkName).toBe(path);
  });
});
