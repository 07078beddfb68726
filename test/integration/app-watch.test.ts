// Changes made on the node behind the app's back reach the UI: the app
// re-reads ready nodes and streams what changed as events and activity.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { connect } from "node:net";
import { writeFile } from "node:fs/promises";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { startAppForTest, type AppUnderTest } from "../../electron/web-host/test-harness.js";
import { QmpClient } from "../../electron/qmp/client.js";
import type { EventName } from "../../shared/ipc/contract.js";

let node: LabNode;
let app: AppUnderTest;
let papa: StartedLabInstance;
const events: { event: EventName; payload: unknown }[] = [];

beforeAll(async () => {
  node = await LabNode.start();
  papa = await startLabInstance(node, { name: "papa.lab", generation: "C", nics: 1, disks: [], memoryMiB: 64, paused: true });
  app = await startAppForTest({ node, watchIntervalMs: 300 });
  app.app.bus.subscribe((event, payload) => events.push({ event, payload }));
});

afterAll(async () => {
  await app?.stop();
  await node?.stop();
});

async function activityMatching(re: RegExp, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = (await app.app.dispatcher.call("activity.list", { nodeId: app.nodeId })) as { summary: string; instance?: string }[];
    const hit = list.find((e) => re.test(e.summary));
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no activity matching ${re} in: ${list.map((e) => e.summary).join(" | ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("the app notices changes made outside it", () => {
  it("a device added behind its back", async () => {
    // Let the watcher take its first look before changing anything.
    await new Promise((r) => setTimeout(r, 1500));
    const q = await QmpClient.connect(connect(papa.paths.kvmd), { label: "kvmd" });
    await q.execute("device_add", { driver: "virtio-net-pci", id: "outsider", bus: "pci.0", addr: "0x11" });
    q.close();
    const hit = await activityMatching(/outsider joined the live bus/);
    expect(hit.instance).toBe("papa.lab");
    expect(hit.summary).toMatch(/drift 0 → 1/);
    expect(events.some((e) => e.event === "inventory.changed" && (e.payload as { instance?: string }).instance === "papa.lab")).toBe(true);
  });

  it("a guest that shut itself down (kvmd's .shutdown marker, QEMU gone)", async () => {
    await node.stopInstance("papa.lab");
    await writeFile(papa.paths.shutdown, "");
    const hit = await activityMatching(/papa\.lab is now user-shutdown/);
    expect(hit.summary).toMatch(/shut itself down/);
  });
});
