// A change as it is asked for, completed (ids, MAC, the default link) and
// planned as one plan even when it is made of several intents (moving a NIC
// is remove + add, written once at the end).
import { describe, expect, it } from "vitest";
import {
  ChangeRequestSchema,
  PlanStepSchema,
  completeChange,
  defaultLink,
  describeChange,
  planComposed,
  planHotplug,
  snapshotAfter,
  type ChangeRequestInput,
  type HotplugIntentInput,
  type InstanceSnapshot,
  type Plan,
  type PlanOk,
} from "../../shared/hotplug";
import { emptyRuntime, newDisk, newNic, readRuntime, writeRuntime, type Nic } from "../../shared/runtime";
import { DISK0, HV, KVM, NEW, NIC0, live } from "./planner-instance";

const NIC1 = "5f0c6b1e-2d3a-4b5c-8d7e-9f0a1b2c3d4e";
const IDS = { uuid: () => NEW, mac: () => "aa:00:00:12:34:56" };

/** inst1: a disk at 0x0c, a routed NIC without a link at 0x0d, a bridged NIC on br7 (vlan .100) at 0x0e. */
function snapshot(): InstanceSnapshot {
  const rt = emptyRuntime(KVM, HV);
  rt.disks.push(newDisk({ uuid: DISK0, size: 1024, linkName: "/l:0", slot: 12 }));
  const routed = newNic({ uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "", mode: "routed", slot: 13 });
  rt.nics.push(routed, newNic({ uuid: NIC1, mac: "aa:00:00:0a:0b:0c", link: "br7", vlan: ".100", slot: 14 }));
  return {
    name: "inst1",
    runtime: readRuntime(writeRuntime(rt, "C")),
    livePci: [live(0), live(1), live(2), live(3), live(12, "disk-7c079136-2573-4112"), live(13, "nic-003fc157-66a8-4e6d"), live(14, "nic-5f0c6b1e-2d3a-4b5c")],
    qmpCommands: null,
    qemuVersion: { major: 7, minor: 2, micro: 0 },
    readers: { ganetiVersions: ["3.0.2"] },
    nicTaps: ["tap0", "tap1"],
  };
}
const request = (r: ChangeRequestInput) => ChangeRequestSchema.parse(r);
function ok(p: Plan): PlanOk {
  if (!p.ok) throw new Error(`refused: ${p.refusals.map((r) => r.message).join(" | ")}`);
  return p;
}
function intents(r: ChangeRequestInput, s = snapshot()): HotplugIntentInput[] {
  const c = completeChange(request(r), s, IDS);
  if (!c.ok) throw new Error(`refused: ${c.refusals.map((x) => x.message).join(" | ")}`);
  return c.intents;
}

describe("completing a request", () => {
  it("the default link is the first NIC's that has one", () => {
    const nics = snapshot().runtime.runtime.nics;
    expect(defaultLink(nics)).toBe("br7");
    expect(defaultLink([])).toBeUndefined();
    expect(defaultLink([{ nicparams: { mode: "routed" } } as Nic])).toBeUndefined();
  });

  it("add-nic: new uuid and MAC, the default link; given values are kept", () => {
    expect(intents({ action: "add-nic", slot: "0x10" })).toEqual([{ action: "add-nic", slot: 0x10, uuid: NEW, mac: "aa:00:00:12:34:56", link: "br7" }]);
    expect(intents({ action: "add-nic", link: "br0", mac: "AA:00:00:00:00:01", uuid: NIC1.replace("5f", "6f"), mode: "openvswitch", vlan: ":10" })).toEqual([
      { action: "add-nic", link: "br0", mac: "aa:00:00:00:00:01", uuid: NIC1.replace("5f", "6f"), mode: "openvswitch", vlan: ":10" },
    ]);
    // A routed NIC needs no link, so none is taken from another NIC.
    expect(intents({ action: "add-nic", mode: "routed" })[0]).not.toHaveProperty("link");
  });

  it("add-nic on an instance with no NIC that has a link is refused, naming the fix", () => {
    const s = snapshot();
    s.runtime.runtime.nics = [];
    const c = completeChange(request({ action: "add-nic" }), s, IDS);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.refusals).toEqual([{ code: "invalid-intent", message: expect.stringMatching(/inst1 has no NIC to copy a link from: say which bridge/) }]);
  });

  it("add-disk gets a uuid; remove and modify pass as they are", () => {
    expect(intents({ action: "add-disk", path: "/dev/vg0/d", bus: "pci", sizeMiB: 8 })).toEqual([{ action: "add-disk", path: "/dev/vg0/d", bus: "pci", sizeMiB: 8, uuid: NEW }]);
    expect(intents({ action: "remove", kind: "nic", ref: NIC0 })).toEqual([{ action: "remove", kind: "nic", ref: NIC0 }]);
    expect(intents({ action: "modify-nic", ref: NIC0, link: "br1" })).toEqual([{ action: "modify-nic", ref: NIC0, link: "br1" }]);
  });

  it("move-nic is remove, then add of the same NIC (uuid, MAC, link, mode, vlan) at the new slot", () => {
    expect(intents({ action: "move-nic", ref: "nic-5f0c6b1e-2d3a-4b5c", slot: 0x11 })).toEqual([
      { action: "remove", kind: "nic", ref: "nic-5f0c6b1e-2d3a-4b5c" },
      { action: "add-nic", uuid: NIC1, mac: "aa:00:00:0a:0b:0c", link: "br7", mode: "bridged", vlan: ".100", slot: 0x11 },
    ]);
    const c = completeChange(request({ action: "move-nic", ref: "nic-nope", slot: 0x11 }), snapshot(), IDS);
    expect(c).toEqual({ ok: false, refusals: [{ code: "unknown-ref", message: "No NIC nic-nope with a uuid and MAC in the runtime file of inst1." }] });
  });

  it("says in one line what the change does", () => {
    expect(describeChange(request({ action: "add-nic", slot: 16 }), "inst1")).toBe("Add a NIC to inst1 at slot 0x10");
    expect(describeChange(request({ action: "move-nic", ref: NIC0, slot: 17 }), "inst1")).toBe(`Move NIC ${NIC0} of inst1 to slot 0x11`);
  });
});

describe("composing a change", () => {
  it("one intent plans exactly as the planner does", () => {
    const add = intents({ action: "add-nic", slot: 0x10 });
    expect(planComposed(snapshot(), add)).toEqual(planHotplug(snapshot(), add[0]));
  });

  it("the instance after a plan: the removed device off the bus, the added one at its slot, the taps moved along", () => {
    const s = snapshot();
    const removal = ok(planHotplug(s, { action: "remove", kind: "nic", ref: NIC0 }));
    const after = snapshotAfter(s, removal);
    expect(after.livePci?.map((d) => d.qdevId)).not.toContain("nic-003fc157-66a8-4e6d");
    expect(after.runtime.runtime.nics.map((n) => n.uuid)).toEqual([NIC1]);
    expect(after.nicTaps).toEqual(["tap1"]);
    const addition = ok(planHotplug(after, intents({ action: "add-nic", slot: 0x10 }, after)[0]));
    const later = snapshotAfter(after, addition);
    expect(later.livePci?.find((d) => d.slot === 0x10)?.qdevId).toBe("nic-9e7c85f6-b6e5-4243");
    expect(later.nicTaps).toEqual(["tap1", "tap9e7c85f6"]);
    // The snapshot it came from is left alone.
    expect(s.livePci).toHaveLength(7);
  });

  it("a move: the removal's live steps, then the addition's, and one write of the final file at the end", () => {
    const s = snapshot();
    const p = ok(planComposed(s, intents({ action: "move-nic", ref: NIC1, slot: 0x11 })));
    const kinds = p.steps.map((st) => (st.kind === "qmp" ? st.command : st.kind));
    expect(kinds.filter((k) => k === "write-runtime")).toHaveLength(1);
    expect(kinds.at(-1)).toBe("write-runtime");
    expect(kinds.indexOf("device_del")).toBeLessThan(kinds.indexOf("node-tap-create"));
    const moved = readRuntime(p.fileTextAfter).runtime.nics.find((n) => n.uuid === NIC1);
    expect(moved).toMatchObject({ mac: "aa:00:00:0a:0b:0c", nicparams: { mode: "bridged", link: "br7", vlan: ".100" }, hvinfo: { addr: "0x11" } });
    expect(p.slot).toMatchObject({ bus: "pci", slot: 0x11 });
    expect(p.fileDiff.some((l) => l.startsWith("-"))).toBe(true);
    expect(p.fileDiff.some((l) => l.startsWith("+"))).toBe(true);
  });

  it("a part that is refused refuses the whole change", () => {
    const p = planComposed(snapshot(), intents({ action: "move-nic", ref: NIC1, slot: 0x05 }));
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.refusals[0]?.code).toBe("slot-unavailable");
  });
});

describe("composing a change on an instance left with no devices in between", () => {
  it("describes no format change the whole change does not make", () => {
    const rt = emptyRuntime(KVM, HV);
    rt.nics.push(newNic({ uuid: NIC1, mac: "aa:00:00:0a:0b:0c", link: "br7", slot: 14 }));
    const s: InstanceSnapshot = { ...snapshot(), runtime: readRuntime(writeRuntime(rt, "C")), livePci: [live(0), live(14, "nic-5f0c6b1e-2d3a-4b5c")], nicTaps: ["tap1"] };
    expect(s.runtime.generation).toBe("C");
    const p = ok(planComposed(s, intents({ action: "move-nic", ref: NIC1, slot: 0x11 }, s)));
    expect(p.fileDiff.filter((l) => l.startsWith("~ format"))).toEqual([]);
    expect(p.warnings.join(" ")).not.toMatch(/rewritten from generation/);
  });
});

describe("a plan's steps as the contract carries them", () => {
  it("parse to exactly the planner's steps, every kind of them", () => {
    const s = snapshot();
    const plans = [
      ok(planComposed(s, intents({ action: "move-nic", ref: NIC1, slot: 0x11 }))),
      ok(planComposed(s, intents({ action: "add-disk", path: "/dev/vg0/d", bus: "pci" }))),
      ok(planComposed(s, intents({ action: "remove", kind: "disk", ref: DISK0 }))),
    ];
    const steps = plans.flatMap((p) => p.steps);
    expect(new Set(steps.map((st) => st.kind)).size).toBeGreaterThanOrEqual(7);
    expect(PlanStepSchema.array().parse(JSON.parse(JSON.stringify(steps)))).toEqual(steps);
  });
});
