// Devices three ways: Ganeti's configuration, the runtime file and the live
// bus, matched by uuid and QEMU id, each combination with its consequence.
// The instance is bravo as the lab's Ganeti 3.0.2 left it
// (test/fixtures/ganeti/lab-3.0.2): six NICs Ganeti knows, five hot-added
// through the runtime file only; the live bus is built from the file's
// slots, then changed one way at a time.
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseSsconf } from "../../shared/ganeti/ssconf";
import { parseConfigData } from "../../shared/ganeti/config-data";
import { buildClusterModel } from "../../shared/ganeti/cluster";
import { ganetiFactsOf } from "../../shared/inventory/ganeti-facts";
import { buildInstanceView } from "../../shared/inventory/build";
import { plannerInput } from "../../shared/inventory/planner-input";
import { summarize } from "../../shared/inventory/view";
import { fleetCounts } from "../../shared/inventory/device-filters";
import { COMBINATIONS, combinationOf, describePresence, threeWayDevices, type Presence } from "../../shared/inventory/three-way";
import { deviceIdV2 } from "../../shared/runtime";
import { planHotplug } from "../../shared/hotplug";
import type { InstanceFacts, LiveFacts } from "../../shared/inventory/facts";
import { live } from "./planner-instance";

const DIR = join(import.meta.dirname, "../fixtures/ganeti/lab-3.0.2");
const LIB = join(DIR, "var-lib-ganeti");
const model = buildClusterModel(
  parseSsconf(Object.fromEntries(readdirSync(LIB).filter((f) => f.startsWith("ssconf_")).map((f) => [f.slice(7), readFileSync(join(LIB, f), "utf8")]))),
  { ssconfFrom: "node1.ganeti.example", config: { data: parseConfigData(readFileSync(join(LIB, "config.data"), "utf8")), from: "node1.ganeti.example" }, knownHosts: [] },
);
const bravoText = readFileSync(join(DIR, "bravo.runtime"), "utf8");
const fileNics = (JSON.parse(bravoText) as [unknown, { uuid: string; hvinfo: { id: string; addr: string } }[]])[1];
const configUuids = model.instances!.find((i) => i.name === "bravo")!.nics.map((n) => n.uuid!);
const ours = fileNics.filter((n) => !configUuids.includes(n.uuid));

/** QEMU's own devices in the reserved slots, and every NIC the file records at its slot. */
function liveBus(nics = fileNics): LiveFacts {
  return {
    status: "running",
    qemuVersion: "7.2.0",
    pci: [live(0), live(1), live(2), live(3, "balloon"), ...nics.map((n) => live(Number(n.hvinfo.addr), n.hvinfo.id))],
    scsi: [],
    scsiController: false,
    qmpCommands: ["device_add", "device_del", "netdev_add", "netdev_del", "getfd", "query-pci"],
  };
}

function bravo(over: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    node: "node2",
    name: "bravo",
    runtimeText: bravoText,
    userShutdown: false,
    live: liveBus(),
    ganeti: ganetiFactsOf(model, "bravo"),
    nodeVersion: { version: "3.0.2", source: "installed", from: "/usr/share/ganeti/3.0/ganeti/_constants.py (RELEASE_VERSION)" },
    ...over,
  };
}

describe("three-way view of a running instance", () => {
  it("the six NICs Ganeti knows are in all three; the five added through the runtime file only are dropped at the next shutdown/startup", () => {
    expect(ours).toHaveLength(5);
    const v = buildInstanceView(bravo());
    expect(v.threeWay).toHaveLength(11);
    const all = v.threeWay.filter((d) => d.combination === "all-three");
    expect(all.map((d) => d.uuid).sort()).toEqual([...configUuids].sort());
    expect(all.every((d) => !d.drift)).toBe(true);
    const fileLive = v.threeWay.filter((d) => d.combination === "file-and-live");
    expect(fileLive.map((d) => d.uuid).sort()).toEqual(ours.map((n) => n.uuid).sort());
    expect(fileLive[0]!.consequence).toBe(
      "Live and in the runtime file, not in Ganeti's configuration: Ganeti drops it at the next shutdown/startup of this instance; a soft reboot or a migration keeps it.",
    );
    expect(fileLive.every((d) => d.drift && d.where.config === false && d.where.file && d.where.live === true)).toBe(true);
    // The device list says the same per device, and the view names the cluster and the version's source.
    expect(v.devices.filter((d) => d.config === false).map((d) => d.uuid).sort()).toEqual(ours.map((n) => n.uuid).sort());
    expect(v.ganeti).toEqual({ cluster: "cluster.ganeti.example", config: "known", primaryNode: "node2.ganeti.example" });
    expect(v.ganetiVersion?.source).toBe("installed");
    expect(summarize(v).devicesBy).toMatchObject({ "all-three": 6, "file-and-live": 5, "config-only": 0 });
  });

  it("a NIC Ganeti recorded without hotplugging it is config-only; one that left the bus is 'not live'; one found live only is live-only", () => {
    const cfgOnly = "5e1c7a40-0f3b-4b49-9c4e-7a1f4f5bd001";
    const withExtra = {
      ...model,
      instances: model.instances!.map((i) => (i.name === "bravo" ? { ...i, nics: [...i.nics, { uuid: cfgOnly, mac: "aa:00:00:00:00:01", link: "gnt-br0" }] } : i)),
    };
    const gone = fileNics[0]!;
    const stray = "nic-deadbeef-0000-4000";
    const bus = liveBus(fileNics.slice(1));
    bus.pci.push(live(0x1f, stray));
    const v = buildInstanceView(bravo({ ganeti: ganetiFactsOf(withExtra, "bravo"), live: bus }));
    const by = (pred: (d: (typeof v.threeWay)[number]) => boolean) => v.threeWay.filter(pred);
    expect(by((d) => d.uuid === cfgOnly).map((d) => [d.combination, d.id, d.label])).toEqual([["config-only", deviceIdV2("nic", cfgOnly), "only in Ganeti's configuration"]]);
    expect(by((d) => d.uuid === gone.uuid).map((d) => d.combination)).toEqual(["config-and-file"]);
    expect(by((d) => d.uuid === gone.uuid)[0]!.consequence).toMatch(/a migration would fail/);
    expect(by((d) => d.id === stray).map((d) => [d.combination, d.kind, d.slot])).toEqual([["live-only", "nic", 0x1f]]);
    // QEMU's own devices (reserved slots, the balloon kvm_cmd pins) are not devices of the instance.
    expect(by((d) => d.id === "balloon" || d.slot === 0)).toEqual([]);
  });

  it("a NIC Ganeti knows that is live but not in the runtime file is 'not in the runtime file', matched by the id Ganeti derives", () => {
    const known = fileNics[1]!;
    const text = JSON.stringify([JSON.parse(bravoText)[0], fileNics.filter((n) => n.uuid !== known.uuid), JSON.parse(bravoText)[2], []]);
    const v = buildInstanceView(bravo({ runtimeText: text }));
    const d = v.threeWay.find((x) => x.uuid === known.uuid)!;
    expect([d.combination, d.slot, d.where]).toEqual(["config-and-live", Number(known.hvinfo.addr), { config: true, file: false, live: true }]);
    expect(d.consequence).toMatch(/Ganeti's own hot-remove cannot find it/);
  });

  it("config unknown (no config.data read) or live unknown (busy) are said, not guessed", () => {
    const unknown = buildInstanceView(bravo({ ganeti: { cluster: "c", config: { state: "unknown", why: "node2 is not a master candidate" } } }));
    expect(new Set(unknown.threeWay.map((d) => d.combination))).toEqual(new Set(["file-and-live"]));
    expect(unknown.threeWay.every((d) => d.where.config === null && !d.drift)).toBe(true);
    expect(unknown.ganeti?.configNote).toBe("node2 is not a master candidate");
    const busy = buildInstanceView(bravo({ live: null, liveProblem: { state: "busy", detail: "held" } }));
    const mine = busy.threeWay.find((d) => d.uuid === ours[0]!.uuid)!;
    expect([mine.combination, mine.where.live]).toEqual(["file-only", null]);
    expect(mine.consequence).toBe("In the runtime file, not in Ganeti's configuration: Ganeti drops it at the next shutdown/startup; the live bus was not read.");
  });

  it("a node of no cluster keeps working as before: every device 'configuration unknown', no drift from it", () => {
    const v = buildInstanceView(bravo({ ganeti: undefined, nodeVersion: undefined }));
    expect(v.ganeti).toBeUndefined();
    expect(v.threeWay.every((d) => d.where.config === null && d.combination === "file-and-live" && !d.drift)).toBe(true);
    expect(v.ganetiVersion).toMatchObject({ source: "assumed", version: "3.0.2" });
    expect(v.drift).toEqual([]);
  });

  it("every combination has its own consequence, and counts roll up for the fleet", () => {
    const seen = new Map<string, string>();
    for (const config of [true, false, null])
      for (const file of [true, false])
        for (const liveBusHas of [true, false, null]) {
          const w: Presence = { config, file, live: liveBusHas };
          if (!file && liveBusHas !== true && config !== true) continue; // nothing sees it
          const d = describePresence(w, true);
          expect(d.consequence.length).toBeGreaterThan(20);
          expect(COMBINATIONS).toContain(combinationOf(w));
          seen.set(JSON.stringify(w), d.consequence);
        }
    expect(new Set(seen.values()).size).toBe(seen.size);
    const a = summarize(buildInstanceView(bravo()));
    const b = summarize(buildInstanceView(bravo({ name: "bravo2" })));
    const f = fleetCounts([a, b]);
    expect(f).toMatchObject({ instances: 2, devices: 22, configUnknown: 0 });
    expect(f.byFilter["not-in-config"]).toEqual({ devices: 10, instances: 2 });
    expect(f.byFilter["config-only"]).toEqual({ devices: 0, instances: 0 });
    // A stopped instance's bus was not read: its devices are not "in the runtime file only".
    const stopped = summarize(buildInstanceView(bravo({ name: "bravo3", live: null, liveProblem: { state: "stopped", detail: "QEMU is not running" } })));
    expect(stopped.devicesBy["config-and-file"] + stopped.devicesBy["file-only"]).toBeGreaterThan(0);
    const g = fleetCounts([a, stopped]);
    expect(g.byFilter["file-only"]).toEqual({ devices: 0, instances: 0 });
    expect(g.byFilter["config-only"]).toEqual({ devices: 0, instances: 0 });
    expect(g.byFilter["not-in-config"]).toEqual({ devices: 10, instances: 2 });
  });

  it("a stopped instance Ganeti knows lists its configured devices as what Ganeti starts it with", () => {
    const devices = threeWayDevices({ config: ganetiFactsOf(model, "alpha").config, file: null, live: null, otherLiveIds: new Set(), reservedCount: 12 });
    expect(devices.map((d) => [d.kind, d.combination, d.drift])).toEqual([
      ["nic", "config-only", false],
      ["disk", "config-only", false],
    ]);
    expect(devices[0]!.consequence).toMatch(/Ganeti starts it with this device/);
  });
});

describe("the planner with the cluster's facts", () => {
  it("names each reader and why in the plan, and says where Ganeti's configuration and the running instance disagree", () => {
    const facts = bravo({ ganeti: { ...ganetiFactsOf(model, "bravo"), hvparams: { ...ganetiFactsOf(model, "bravo").hvparams, nic_type: "e1000" } } });
    const explained = [
      { node: "node2.ganeti.example", version: "3.0.2", versionSource: "installed" as const, versionFrom: "x", why: "node2.ganeti.example: runs the instance now (its runtime file is there)" },
      { node: "node1.ganeti.example", version: "3.0.2", versionSource: "ssconf" as const, versionFrom: "y", why: "node1.ganeti.example: same node group 'default'; may receive a migration or failover (diskless disks)" },
    ];
    const input = plannerInput(facts, { ganetiVersions: ["3.0.2", "3.0.2"], explained });
    if (!input.ok) throw new Error(input.reason);
    expect(input.state.clusterHvparams?.nic_type).toBe("e1000");
    const plan = planHotplug(input.state, { action: "add-nic", uuid: "9e7c85f6-b6e5-4243-b27d-680b78c6d203", mac: "aa:00:00:11:22:33", link: "gnt-br0", slot: "0x12" });
    if (!plan.ok) throw new Error(plan.refusals.map((r) => r.message).join("; "));
    expect(plan.readers).toEqual(explained);
    expect(plan.warnings.join("\n")).toMatch(/Ganeti's configuration has nic_type=e1000, but bravo runs with nic_type=paravirtual/);
    // The device is placed as the running instance is: virtio, as its runtime file says.
    expect(JSON.stringify(plan.steps)).toContain("virtio-net-pci");
  });

  it("without any version the file's generation decides, and the plan says it assumed", () => {
    const input = plannerInput(bravo(), { ganetiVersions: [] });
    if (!input.ok) throw new Error(input.reason);
    expect(input.state.readers.explained).toEqual([expect.objectContaining({ node: "node2", version: "3.0.2", versionSource: "assumed" })]);
  });
});
