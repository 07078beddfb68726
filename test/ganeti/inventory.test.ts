// Our inventory of an instance Ganeti created and started matches what
// Ganeti says about it (gnt-instance info: its NICs and disks, their uuids
// and MACs), the runtime file Ganeti wrote (each device's slot) and the live
// bus (the QEMU id at each slot). Read through the app's SSH session.
import { afterAll, beforeAll, expect, it } from "vitest";
import { addInstance } from "../../electron/lab/ganeti/cluster.js";
import type { NodeSession } from "../../electron/ssh/session.js";
import { loadInstanceView } from "../../electron/inventory/node-inventory.js";
import { InstanceViewSchema } from "../../shared/inventory/view.js";
import { describeGaneti, gntOut, guestAddress, guestSees, labNodeInfo, livePci, openNode, runtimeSlots, runtimeText } from "./ganeti-fixture.js";

const NAME = "inventory1";

/** NICs and disks as `gnt-instance info` lists them. */
function ganetiDevices(info: string): { nics: { uuid: string; mac: string }[]; disks: { uuid: string }[] } {
  const section = (from: RegExp, to: RegExp) => info.slice(info.search(from), info.search(to) === -1 ? undefined : info.search(to));
  const nicText = section(/^ {2}NICs:/m, /^ {2}Disk template:/m);
  const diskText = section(/^ {2}Disks:/m, /$(?![\s\S])/);
  const nics = [...nicText.matchAll(/MAC: (\S+)[\s\S]*?UUID: (\S+)/g)].map((m) => ({ mac: m[1]!, uuid: m[2]! }));
  const disks = [...diskText.matchAll(/UUID: (\S+)/g)].map((m) => ({ uuid: m[1]! }));
  return { nics, disks };
}

describeGaneti("inventory of a Ganeti-started instance", (lab) => {
  let session: NodeSession;
  beforeAll(async () => {
    await addInstance({ name: NAME, node: 2, template: "sharedfile", diskMiB: 32, nics: 2 });
    session = await openNode(labNodeInfo("node2"));
  });
  afterAll(async () => {
    session?.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
  });

  it("has the devices, uuids and MACs gnt-instance info shows, at the slots of Ganeti's runtime file and of the live bus", async () => {
    const ganeti = ganetiDevices(await gntOut("gnt-instance", "info", NAME));
    expect(ganeti.nics).toHaveLength(2);
    expect(ganeti.disks).toHaveLength(1);

    const view = InstanceViewSchema.parse(await loadInstanceView(session, NAME, { nodeId: "node2", root: "/", ganetiVersion: lab.ganetiVersion }));
    expect(view.state).toBe("running");
    expect(view.generation).toBe("C");
    const nics = view.devices.filter((d) => d.kind === "nic");
    const disks = view.devices.filter((d) => d.kind === "disk");
    expect(nics.map((d) => ({ uuid: d.uuid, mac: d.mac }))).toEqual(ganeti.nics);
    expect(disks.map((d) => ({ uuid: d.uuid }))).toEqual(ganeti.disks);

    const fileSlots = runtimeSlots(await runtimeText(session, NAME));
    const live = await livePci(session, NAME);
    for (const d of view.devices) {
      expect(d.slot, `${d.kind} ${d.uuid}`).toBe(fileSlots.get(d.uuid!));
      expect(live.get(d.slot!), `live device at slot ${d.slot}`).toBe(d.id);
      expect(d.live).toBe(true);
      expect(d.guestAddress).toBe(guestAddress(d.slot!));
    }
    // Ganeti placed them from the first slot after its 12 reserved ones, and the view agrees.
    expect(view.reservedCount).toBe(12);
    expect(Math.min(...view.devices.map((d) => d.slot!))).toBe(0x0c);
    expect(view.drift).toEqual([]);
    // The guest sees every one of them.
    const seen = await guestSees(session, NAME, (a) => view.devices.every((d) => a.includes(d.guestAddress!)));
    for (const d of view.devices) expect(seen).toContain(d.guestAddress);
  });
});
