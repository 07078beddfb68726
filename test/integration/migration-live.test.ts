// The decisive test of a runtime write: after hotplugging a NIC and a disk
// into a running guest, a QEMU started from the written runtime file (the
// way Ganeti starts a migration target) must accept a live migration of the
// guest, and end up with the same PCI layout. A target started from the
// pre-hotplug file must fail, and the migration check must say why first.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { connect } from "node:net";
import { readFile } from "node:fs/promises";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { QmpClient } from "../../electron/qmp/client.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { checkInstanceMigration, executePlan, migrateAndWait, newDeviceUuid, newMac } from "../../electron/hotplug/index.js";
import { expectOk, planOn, tempJournal } from "./hotplug-fixture.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { livePci } from "../../electron/hotplug/qmp-session.js";
import { checkRuntimeAgainstLive } from "../../shared/hotplug/migration-check.js";
import type { HotplugIntentInput } from "../../shared/hotplug/index.js";
import { readRuntime } from "../../shared/runtime/index.js";

let node: LabNode;
let session: NodeSession;
let journal: Journal;
let removeJournal: (() => Promise<void>) | undefined;
let mike: StartedLabInstance;

beforeAll(async () => {
  node = await LabNode.start();
  mike = await startLabInstance(node, { name: "mike.lab", generation: "C", nics: 1, disks: [{ bus: "pci" }], memoryMiB: 128 });
  session = await NodeSession.open(sessionTarget(node.info));
  ({ journal, remove: removeJournal } = await tempJournal());
});

afterAll(async () => {
  session?.close();
  await node?.stop();
  await removeJournal?.();
});

async function hotplug(intent: HotplugIntentInput): Promise<void> {
  const p = await planOn(session, node.root, "mike.lab", intent);
  expectOk(await executePlan({ session, root: node.root, nodeId: "lab", instance: "mike.lab", plan: p.plan, expectedRuntime: p.expected, journal }));
}

const localQmp = (path: string) => QmpClient.connect(connect(path), { label: path });

/** Comparable form of a query-pci answer. */
async function layout(qmpPath: string) {
  const q = await localQmp(qmpPath);
  try {
    return (await livePci(q)).map((d) => ({ slot: d.slot, fn: d.function, id: d.qdevId, dev: `${d.vendorId.toString(16)}:${d.deviceId.toString(16)}` }));
  } finally {
    q.close();
  }
}

async function startTarget(text: string, suffix: string): Promise<{ uri: string; qmpPath: string; name: string }> {
  const { uri, qmpPath, instance } = await node.startMigrationTarget({ name: "mike.lab", runtime: readRuntime(text).runtime, suffix });
  return { uri, qmpPath, name: instance.name };
}

describe("live migration to a target built from the written runtime file", () => {
  let oldText: string;

  it("hotplugs a NIC and a disk; the migration check finds the written file consistent with the live bus, and the old one not", async () => {
    oldText = await readFile(mike.paths.runtime, "utf8");
    const nic = newDeviceUuid();
    await hotplug({ action: "add-nic", uuid: nic, mac: newMac(), link: node.network.bridge!, slot: "0x10" });
    await hotplug({ action: "add-disk", uuid: newDeviceUuid(), path: await node.createDisk("mike.lab", 1, 16), bus: "pci", sizeMiB: 16 });

    const check = await checkInstanceMigration(session, "mike.lab", { root: node.root });
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);

    const q = await localQmp(mike.paths.qmp);
    const live = await livePci(q);
    q.close();
    const stale = checkRuntimeAgainstLive(readRuntime(oldText).runtime, live);
    expect(stale.ok).toBe(false);
    expect(stale.problems.filter((p) => p.code === "live-only").map((p) => p.slot).sort()).toEqual([0x0e, 0x10]);
  });

  it("a target started from the pre-hotplug file refuses the guest", async () => {
    const t = await startTarget(oldText, ".old");
    const q = await localQmp(mike.paths.qmp);
    try {
      const outcome = await migrateAndWait(q, t.uri, 60_000);
      expect(outcome.status).toBe("failed");
      // The target says why: the source sends RAM blocks (the new NIC's ROM) it does not have.
      const targetLog = node.instances.get(t.name)!.process.output();
      console.log(`source: ${"error" in outcome ? outcome.error : ""} | target: ${targetLog.trim().split("\n").slice(-2).join(" ")}`);
      expect(targetLog).toMatch(/Unknown ramblock "0000:00:10\.0\/virtio-net-pci\.rom"|load of migration failed/);
      // The source keeps running after a failed migration.
      expect(((await q.execute("query-status")) as { status: string }).status).toBe("running");
    } finally {
      q.close();
      await node.stopInstance(t.name);
    }
  });

  it("a target started from the written file accepts the guest, and its PCI layout equals the source's", async () => {
    const sourceLayout = await layout(mike.paths.qmp);
    const written = await readFile(mike.paths.runtime, "utf8");
    const t = await startTarget(written, ".new");
    const q = await localQmp(mike.paths.qmp);
    try {
      const outcome = await migrateAndWait(q, t.uri, 120_000);
      expect(outcome).toEqual({ status: "completed" });
    } finally {
      q.close();
    }
    expect(await layout(t.qmpPath)).toEqual(sourceLayout);
    expect(sourceLayout.some((d) => d.slot === 0x10 && d.id.startsWith("nic-"))).toBe(true);
  });
});
