// Our hotplug against real Ganeti, in the order an admin would meet it, on
// one instance Ganeti created: we add a NIC and a disk at slots we choose
// (through electron/hotplug, over the app's SSH session); Ganeti's own
// hotplug then adds and removes its devices around ours; Ganeti's soft
// reboot and its live migration keep ours at their slots; its hard reboot,
// rebuilding from its configuration, drops them, and our inventory says so.
// Each step asserts what Ganeti, the runtime file, the live bus and the
// guest see, not only what we wrote.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addInstance, kvmPaths, rearmKvmd } from "../../electron/lab/ganeti/cluster.js";
import { paths } from "../../electron/lab/ganeti/layout.js";
import type { NodeSession } from "../../electron/ssh/session.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { executePlan, gatherInstanceState, newDeviceUuid, newMac } from "../../electron/hotplug/index.js";
import { planHotplug, type HotplugIntentInput } from "../../shared/hotplug/index.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import { loadInstanceView } from "../../electron/inventory/node-inventory.js";
import { describeGaneti, gntOut, guestAddress, guestDevices, guestSees, labNodeInfo, livePci, openNode, pnodeOf, readNodeFile, runtimeSlots, runtimeText } from "./ganeti-fixture.js";

const NAME = "hotplug1";
const DISK_FILE = `${NAME}-extra.img`;

describeGaneti("our hotplug on a Ganeti instance, with Ganeti's own operations around it", (lab) => {
  const sessions = new Map<string, NodeSession>();
  let journalDir: string;
  let journal: Journal;
  const nic = { uuid: newDeviceUuid(), mac: newMac(), slot: 0x10 };
  const disk = { uuid: newDeviceUuid(), slot: 0x11 };
  const nicId = deviceIdV2("nic", nic.uuid);
  const diskId = deviceIdV2("disk", disk.uuid);
  let ganetiNic: { uuid: string; slot: number } | undefined;

  /** The app's session to the node the instance runs on now. */
  const sessionNow = async (): Promise<NodeSession> => {
    const node = await pnodeOf(NAME);
    let s = sessions.get(node);
    if (!s) {
      s = await openNode(labNodeInfo(node));
      sessions.set(node, s);
    }
    return s;
  };

  const apply = async (intent: HotplugIntentInput) => {
    const session = await sessionNow();
    const g = await gatherInstanceState(session, NAME, { root: "/", readers: { ganetiVersions: [lab.ganetiVersion] } });
    const plan = planHotplug(g.state, intent);
    if (!plan.ok) throw new Error(`plan refused: ${plan.refusals.map((r) => r.message).join("; ")}`);
    const r = await executePlan({ session, root: "/", nodeId: "ganeti", instance: NAME, plan, expectedRuntime: g.expectedRuntime, journal, onProgress: () => {} });
    if (!r.ok) throw new Error(`execution failed: ${r.error.message}`);
    return r;
  };

  /** Ganeti's NIC uuids in its configuration, in order. */
  const ganetiNicUuids = async () => (await gntOut("gnt-instance", "list", "--no-headers", "-o", "nic.uuids", NAME)).trim().replace(/[[\]' ]/g, "").split(",").filter(Boolean);

  /** Our NIC and disk at their slots on the live bus and in the runtime file, and the guest sees both. Returns the live bus. */
  const expectOursInPlace = async (session: NodeSession): Promise<Map<number, string>> => {
    const live = await livePci(session, NAME);
    expect(live.get(nic.slot)).toBe(nicId);
    expect(live.get(disk.slot)).toBe(diskId);
    const file = runtimeSlots(await runtimeText(session, NAME));
    expect(file.get(nic.uuid)).toBe(nic.slot);
    expect(file.get(disk.uuid)).toBe(disk.slot);
    await guestSees(session, NAME, (a) => a.includes(guestAddress(nic.slot)) && a.includes(guestAddress(disk.slot)));
    // Its drivers took them: a network interface and a virtio disk at those addresses.
    const devs = await guestDevices(session, NAME, (d) => d.some((x) => x.address === guestAddress(nic.slot)) && d.some((x) => x.address === guestAddress(disk.slot)));
    expect(devs.find((x) => x.address === guestAddress(nic.slot))?.name).toMatch(/^eth\d+$/);
    expect(devs.find((x) => x.address === guestAddress(disk.slot))?.name).toMatch(/^vd[a-z]$/);
    return live;
  };

  beforeAll(async () => {
    journalDir = await mkdtemp(join(tmpdir(), "hd-ganeti-journal-"));
    journal = new Journal(journalDir);
    await addInstance({ name: NAME, node: 1, template: "sharedfile", diskMiB: 32, nics: 1 });
    // Our disk: a file in Ganeti's shared file storage, which both nodes see (so it can migrate).
    const file = join(paths.sharedFileStorage, DISK_FILE);
    await writeFile(file, "");
    await truncate(file, 32 << 20);
  });

  afterAll(async () => {
    for (const s of sessions.values()) s.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    await rm(join(paths.sharedFileStorage, DISK_FILE), { force: true });
    await rm(journalDir, { recursive: true, force: true });
  });

  it("adds our NIC at 0x10 and disk at 0x11: on the live bus, in the runtime file, seen by the guest; Ganeti's own NIC add then lands on another free slot", async () => {
    await apply({ action: "add-nic", uuid: nic.uuid, mac: nic.mac, link: lab.bridge, slot: "0x10" });
    await apply({ action: "add-disk", uuid: disk.uuid, path: `${lab.sharedFileStorageDir}/${DISK_FILE}`, bus: "pci", slot: "0x11" });
    const session = await sessionNow();
    const before = await expectOursInPlace(session);

    // Ganeti knows nothing of ours: its configuration still has its one NIC.
    const ganetiBefore = await ganetiNicUuids();
    expect(ganetiBefore).toHaveLength(1);
    await gntOut("gnt-instance", "modify", "--hotplug", "--net", `add:link=${lab.bridge}`, NAME);
    const added = (await ganetiNicUuids()).find((u) => !ganetiBefore.includes(u))!;
    const after = runtimeSlots(await runtimeText(session, NAME));
    const slot = after.get(added)!;
    expect(slot).toBeDefined();
    expect([nic.slot, disk.slot]).not.toContain(slot);
    expect(before.has(slot), `slot ${slot} was free before Ganeti's add`).toBe(false);
    // Ganeti saved the file without losing ours, and everything is live.
    expect(after.get(nic.uuid)).toBe(nic.slot);
    expect(after.get(disk.uuid)).toBe(disk.slot);
    const live = await livePci(session, NAME);
    expect(live.get(slot)).toBe(deviceIdV2("nic", added));
    expect(live.get(nic.slot)).toBe(nicId);
    await guestSees(session, NAME, (a) => a.includes(guestAddress(slot)));
    ganetiNic = { uuid: added, slot };
  });

  it("lets Ganeti hot-remove its own NIC after our writes, and ours stay", async () => {
    expect(ganetiNic).toBeDefined();
    const uuids = await ganetiNicUuids();
    expect(uuids[1]).toBe(ganetiNic!.uuid);
    await gntOut("gnt-instance", "modify", "--hotplug", "--net", "1:remove", NAME);
    expect(await ganetiNicUuids()).toEqual([uuids[0]]);
    const session = await sessionNow();
    const file = runtimeSlots(await runtimeText(session, NAME));
    expect(file.has(ganetiNic!.uuid)).toBe(false);
    expect(file.get(nic.uuid)).toBe(nic.slot);
    expect(file.get(disk.uuid)).toBe(disk.slot);
    const live = await livePci(session, NAME);
    expect(live.has(ganetiNic!.slot)).toBe(false);
    expect(live.get(nic.slot)).toBe(nicId);
    await guestSees(session, NAME, (a) => !a.includes(guestAddress(ganetiNic!.slot)) && a.includes(guestAddress(nic.slot)));
  });

  it("keeps our devices at their slots through Ganeti's soft reboot (a new QEMU from the runtime file)", async () => {
    const session = await sessionNow();
    const pid = async () => (await readNodeFile(session, kvmPaths(NAME).pid)).trim();
    const pidBefore = await pid();
    await gntOut("gnt-instance", "reboot", "--type=soft", NAME);
    expect(await pid()).not.toBe(pidBefore);
    await expectOursInPlace(session);
  });

  it("migrates with our devices: on the other node they are at the same slots, and the guest sees them there", async () => {
    const from = await pnodeOf(NAME);
    await gntOut("gnt-instance", "migrate", "-f", NAME);
    const to = await pnodeOf(NAME);
    expect(to).not.toBe(from);
    await rearmKvmd(NAME);
    await expectOursInPlace(await sessionNow());
  });

  it("loses our devices in Ganeti's hard reboot (rebuilt from its configuration), and our inventory says they are gone from file and bus", async () => {
    await gntOut("gnt-instance", "reboot", "--type=hard", "--shutdown-timeout=0", NAME);
    const session = await sessionNow();
    const view = await loadInstanceView(session, NAME, { nodeId: "ganeti", root: "/", ganetiVersion: lab.ganetiVersion });
    expect(view.state).toBe("running");
    const uuids = view.devices.map((d) => d.uuid);
    expect(uuids).not.toContain(nic.uuid);
    expect(uuids).not.toContain(disk.uuid);
    // Ganeti's own devices are back, and both of our slots are free on file and bus alike.
    expect(view.devices.filter((d) => d.kind === "nic").map((d) => d.uuid)).toEqual(await ganetiNicUuids());
    for (const slot of [nic.slot, disk.slot]) {
      const s = view.pci.find((p) => p.slot === slot)!;
      expect(s.state, `slot ${slot}`).toBe("free");
      expect(s.liveDevices).toEqual([]);
      expect(s.fileDevices).toEqual([]);
    }
    expect(view.drift).toEqual([]);
    await guestSees(session, NAME, (a) => !a.includes(guestAddress(nic.slot)) && !a.includes(guestAddress(disk.slot)));
  });
});
