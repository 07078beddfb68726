// Which way a change goes where Ganeti keeps a configuration, and the plans
// that come of it: a NIC add recorded in Ganeti's configuration first (its
// uuid provisional until Ganeti names its own, then replaced everywhere),
// removals and changes of NICs Ganeti knows through Ganeti's own hotplug,
// runtime only where chosen or where the master cannot be reached.
import { describe, expect, it } from "vitest";
import {
  ChangeOutcomeSchema,
  ChangeRequestSchema,
  describeOutcome,
  planComposed,
  planHotplug,
  provisionalUuid,
  recordChange,
  resolvedPlan,
  withGanetiUuid,
  type ChangeRequestInput,
  type GanetiFacts,
  type HotplugIntentInput,
  type InstanceSnapshot,
  type Plan,
  type PlanOk,
} from "../../shared/hotplug";
import { deviceIdV2, emptyRuntime, newNic, readRuntime, writeRuntime } from "../../shared/runtime";
import { HV, KVM, NEW, NIC0, live } from "./planner-instance";

/** A NIC only our runtime file and the live bus have (not in Ganeti's configuration). */
const OURS = "5f0c6b1e-2d3a-4b5c-8d7e-9f0a1b2c3d4e";
/** The uuid Ganeti gives the NIC it records. */
const REAL = "db6e2c71-a414-41b6-8224-163300153d56";
const MAC = "aa:00:00:12:34:56";

/** inst1: Ganeti's NIC at 0x0c on br0, ours at 0x1a. */
function snapshot(): InstanceSnapshot {
  const rt = emptyRuntime(KVM, HV);
  rt.nics.push(newNic({ uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "br0", slot: 12 }), newNic({ uuid: OURS, mac: "aa:00:00:0a:0b:0c", link: "br0", slot: 0x1a }));
  return {
    name: "inst1",
    runtime: readRuntime(writeRuntime(rt, "C")),
    livePci: [live(0), live(1), live(2), live(3), live(12, deviceIdV2("nic", NIC0)), live(0x1a, deviceIdV2("nic", OURS))],
    qmpCommands: null,
    qemuVersion: { major: 7, minor: 2, micro: 0 },
    readers: { ganetiVersions: ["3.0.2"] },
    nicTaps: ["tap0", "tap1"],
  };
}

const REACHABLE: GanetiFacts = { kind: "reachable", master: "node1.example", config: { nics: [{ uuid: NIC0 }], disks: [] } };
/** The first uuid drawn shares its first group with NIC0 (in the runtime file): it must be passed over. */
const draws = () => {
  const queue = [`${NIC0.split("-")[0]}-0000-4000-8000-000000000000`, NEW];
  return { uuid: () => queue.shift() ?? NEW, mac: () => MAC };
};

function recorded(r: ChangeRequestInput, facts: GanetiFacts = REACHABLE, s = snapshot()) {
  const c = recordChange(ChangeRequestSchema.parse(r), s, draws(), facts);
  if (!c.ok) throw new Error(`refused: ${c.refusals.map((x) => x.message).join(" | ")}`);
  return c;
}
function ok(p: Plan): PlanOk {
  if (!p.ok) throw new Error(`refused: ${p.refusals.map((r) => r.message).join(" | ")}`);
  return p;
}
const kinds = (p: PlanOk) => p.steps.map((s) => s.kind);

describe("a NIC add where Ganeti's configuration can be changed: configuration first", () => {
  it("is Ganeti's configuration-only record of the NIC, then our add at the chosen slot, both under one provisional uuid", () => {
    const c = recorded({ action: "add-nic", slot: "0x10", link: "br0" });
    expect(c.intents).toEqual([
      { action: "ganeti-nic", op: "add", uuid: NEW, mac: MAC, link: "br0", mode: "bridged", master: "node1.example" },
      { action: "add-nic", uuid: NEW, mac: MAC, link: "br0", slot: 16 },
    ]);
    expect(c.recording).toMatchObject({ mode: "ganeti", runtimeOnlyMeans: "Runtime only: Ganeti's configuration will not know this device; it is dropped at the next shutdown/startup." });
    expect(c.recording.note).toMatch(/^Configuration first: Ganeti records the NIC \(gnt-instance modify on node1\.example, without --hotplug\).* at 0x10 .*a shutdown\/startup brings it back at a slot Ganeti picks/);
  });

  it("plans the Ganeti command first, then the tap, the fd pass, the nic file, the check and one write; the review says where Ganeti puts it at a restart", () => {
    const s = snapshot();
    const p = ok(planComposed(s, recorded({ action: "add-nic", slot: "0x10", link: "br0" }).intents));
    expect(kinds(p)).toEqual(["ganeti-config", "node-tap-create", "node-pass-fd", "node-nic-file", "verify", "write-runtime"]);
    expect(p.steps[0]).toMatchObject({
      op: "add-nic",
      hotplug: false,
      master: "node1.example",
      uuid: NEW,
      mac: MAC,
      argv: ["gnt-instance", "modify", "--print-jobid", "--net", `add:mac=${MAC},link=br0,mode=bridged`, "inst1"],
      undo: expect.stringMatching(/^gnt-instance modify --print-jobid --net UUID:remove inst1 \(configuration only/),
    });
    expect(p.runtimeWrite).toBeUndefined();
    expect(p.slot).toMatchObject({ bus: "pci", slot: 0x10 });
    expect(p.warnings.join(" ")).toMatch(/at its next shutdown\/startup Ganeti starts the NIC at a slot it picks/);
  });

  it("once Ganeti names its uuid, the later steps and what is written are exactly what planning with that uuid gives", () => {
    const s = snapshot();
    const planned = ok(planComposed(s, recorded({ action: "add-nic", slot: "0x10", link: "br0" }).intents));
    const real = withGanetiUuid(planned, NEW, REAL, 1);
    const direct = ok(planHotplug(s, { action: "add-nic", uuid: REAL, mac: MAC, link: "br0", slot: 16 }));
    expect(real.steps[0]).toEqual(planned.steps[0]);
    expect(real.steps.slice(1)).toEqual(direct.steps);
    expect(real.fileTextAfter).toBe(direct.fileTextAfter);
    expect(real.runtimeAfter).toEqual(direct.runtimeAfter);
    expect(real.fileDiff).toEqual(direct.fileDiff);
    expect(JSON.stringify(real.steps.slice(1))).not.toContain(NEW.split("-")[0]);
    expect(JSON.stringify(real.steps)).toContain(`"id":"${deviceIdV2("nic", REAL)}"`);
    expect(JSON.stringify(real.steps)).toContain(`"tap":"tap${REAL.slice(0, 8)}"`);
    // The outcome's record of Ganeti's job gives the same plan.
    expect(resolvedPlan(planned, [{ step: 0, command: "…", ok: true, log: [], changes: [], uuid: REAL, provisionalUuid: NEW }])).toEqual(real);
  });

  it("draws a provisional uuid whose first group is nowhere in the runtime file", () => {
    const s = snapshot();
    expect(provisionalUuid(s.runtime.sourceText, draws().uuid)).toBe(NEW);
    expect(() => provisionalUuid(s.runtime.sourceText, () => NIC0)).toThrow(/first group/);
  });

  it("refuses a uuid of the user's own (Ganeti gives it), and says how to choose one", () => {
    const c = recordChange(ChangeRequestSchema.parse({ action: "add-nic", link: "br0", uuid: REAL }), snapshot(), draws(), REACHABLE);
    expect(c).toMatchObject({ ok: false, refusals: [{ code: "ganeti-uuid", message: expect.stringMatching(/Ganeti gives the NIC its uuid.*runtime only to choose it/) }] });
  });
});

describe("runtime only", () => {
  it("where chosen: our add alone, under our uuid, labelled, the choice offered back", () => {
    const c = recorded({ action: "add-nic", slot: "0x10", link: "br0", uuid: REAL, runtimeOnly: true });
    expect(c.intents).toEqual([{ action: "add-nic", uuid: REAL, mac: MAC, link: "br0", slot: 16 }]);
    expect(c.recording).toEqual({
      mode: "runtime-only",
      note: "Runtime only: Ganeti's configuration will not know this device; it is dropped at the next shutdown/startup. (chosen)",
      runtimeOnlyMeans: "Runtime only: Ganeti's configuration will not know this device; it is dropped at the next shutdown/startup.",
    });
  });

  it("where the master cannot be reached, off a cluster, or for an instance Ganeti does not have: no choice, and why", () => {
    const unreachable = recorded({ action: "add-nic", link: "br0" }, { kind: "unreachable", why: "the master, node1 (198.51.100.11), is not among the nodes this change can reach." });
    expect(unreachable.intents.map((i) => i.action)).toEqual(["add-nic"]);
    expect(unreachable.recording.mode).toBe("runtime-only");
    expect(unreachable.recording.note).toMatch(/dropped at the next shutdown\/startup\. Ganeti's configuration cannot be changed from here: the master, node1/);
    expect(unreachable.recording.runtimeOnlyMeans).toBeUndefined();
    expect(recorded({ action: "add-nic", link: "br0" }, { kind: "none", why: "the node belongs to no Ganeti cluster." }).recording).toEqual({ mode: "runtime-only", note: "Runtime only: the node belongs to no Ganeti cluster." });
    expect(recorded({ action: "add-nic", link: "br0" }, { kind: "reachable", master: "node1", config: null }).recording.note).toMatch(/inst1 is not in Ganeti's configuration/);
  });

  it("a disk from a path of one's own stays runtime only, and says what that means and how to have Ganeti know a disk", () => {
    const c = recorded({ action: "add-disk", path: "/srv/d.img", bus: "pci" });
    expect(c.intents.map((i) => i.action)).toEqual(["add-disk"]);
    expect(c.recording.mode).toBe("runtime-only");
    expect(c.recording.note).toMatch(/^Runtime only: a disk from a path of your own stays out of Ganeti's configuration: gnt-instance info never lists it.*dropped at the next shutdown\/startup.*give a size instead of a path/);
  });
});

describe("removing and changing NICs Ganeti knows: through Ganeti's own hotplug", () => {
  it("a remove is Ganeti's hot-remove by uuid and the check that it left the bus; Ganeti saves the file, so the plan writes none", () => {
    const c = recorded({ action: "remove", kind: "nic", ref: deviceIdV2("nic", NIC0) });
    expect(c.intents).toEqual([{ action: "ganeti-nic", op: "remove", uuid: NIC0, hotplug: true, master: "node1.example" }]);
    const p = ok(planComposed(snapshot(), c.intents));
    expect(kinds(p)).toEqual(["ganeti-config", "verify"]);
    expect(p.steps[0]).toMatchObject({ argv: ["gnt-instance", "modify", "--print-jobid", "--hotplug", "--net", `${NIC0}:remove`, "inst1"], hotplug: true });
    expect(p.steps[0]).not.toHaveProperty("undo");
    expect(p.steps[1]).toMatchObject({ expect: "absent", id: deviceIdV2("nic", NIC0) });
    expect(p.runtimeWrite).toBe("ganeti");
    expect(p.runtimeAfter.nics.map((n) => n.uuid)).toEqual([OURS]);
    expect(p.slot).toMatchObject({ slot: 12 });
  });

  it("a change is Ganeti's hot-modify (-f: the review asked), back at the same slot, the NIC last in the file as Ganeti appends it", () => {
    const c = recorded({ action: "modify-nic", ref: NIC0, link: "br9" });
    const p = ok(planComposed(snapshot(), c.intents));
    expect(p.steps[0]).toMatchObject({ op: "modify-nic", argv: ["gnt-instance", "modify", "--print-jobid", "-f", "--hotplug", "--net", `${NIC0}:modify,link=br9`, "inst1"] });
    expect(p.steps[1]).toMatchObject({ kind: "verify", expect: "present", slot: 12 });
    expect(p.runtimeAfter.nics.map((n) => [n.uuid, n.nicparams?.link])).toEqual([
      [OURS, "br0"],
      [NIC0, "br9"],
    ]);
    expect(p.warnings.join(" ")).toMatch(/loses the link for a moment/);
  });

  it("a NIC Ganeti does not have goes our way, and nothing changes in Ganeti's configuration", () => {
    const c = recorded({ action: "remove", kind: "nic", ref: OURS });
    expect(c.intents).toEqual([{ action: "remove", kind: "nic", ref: OURS }]);
    expect(c.recording).toEqual({ mode: "ganeti", note: expect.stringMatching(/does not have this NIC: .*nothing changes in Ganeti's configuration/) });
    expect(kinds(ok(planComposed(snapshot(), c.intents)))).toContain("write-runtime");
  });

  it("runtime only, where chosen, leaves Ganeti's NIC in its configuration and says Ganeti brings it back", () => {
    const c = recorded({ action: "remove", kind: "nic", ref: NIC0, runtimeOnly: true });
    expect(c.intents).toEqual([{ action: "remove", kind: "nic", ref: NIC0 }]);
    expect(c.recording.note).toMatch(/if Ganeti's configuration has it, Ganeti adds it back at the next shutdown\/startup\. \(chosen\)$/);
    expect(recorded({ action: "remove", kind: "nic", ref: NIC0 }).recording.runtimeOnlyMeans).toMatch(/Ganeti's configuration keeps it: Ganeti adds it back/);
  });

  it("refuses Ganeti's hotplug of a NIC running under another id than Ganeti derives (it would fail), naming the way around", () => {
    const s = snapshot();
    const rt = emptyRuntime(KVM, HV);
    rt.nics.push(newNic({ uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "br0", slot: 12, idStyle: "v1" }));
    s.runtime = readRuntime(writeRuntime(rt, "C"));
    s.livePci = [live(12, "hotnic-003fc157-pci-12")];
    const p = planComposed(s, recorded({ action: "remove", kind: "nic", ref: NIC0 }, REACHABLE, s).intents);
    expect(p).toMatchObject({ ok: false, refusals: [{ code: "not-removable", message: expect.stringMatching(/runs as hotnic-003fc157-pci-12, but Ganeti's own hotplug acts on nic-003fc157-66a8-4e6d.*runtime only/) }] });
  });

  it("a change of Ganeti's configuration only writes no file, alone; composed with our removal, the file is written once, at the end", () => {
    const alone = ok(planComposed(snapshot(), [{ action: "ganeti-nic", op: "remove", uuid: NIC0 }]));
    expect(kinds(alone)).toEqual(["ganeti-config"]);
    expect(alone.steps[0]).toMatchObject({ hotplug: false, argv: ["gnt-instance", "modify", "--print-jobid", "--net", `${NIC0}:remove`, "inst1"] });
    expect(alone.runtimeWrite).toBe("unchanged");
    expect(alone.fileDiff).toEqual(["= the runtime file is not changed (Ganeti's configuration only)"]);
    const both = ok(planComposed(snapshot(), [{ action: "ganeti-nic", op: "remove", uuid: NIC0 }, { action: "remove", kind: "nic", ref: NIC0 }]));
    expect(kinds(both)).toEqual(["ganeti-config", "qmp", "wait-device-deleted", "qmp", "node-tap-remove", "verify", "node-nic-file", "write-runtime"]);
    expect(both.runtimeWrite).toBeUndefined();
    expect(both.fileDiff.join("\n")).not.toContain("Ganeti's configuration only");
  });

  it("will not combine Ganeti's own hotplug with other parts (it saves the file itself)", () => {
    const both: HotplugIntentInput[] = [
      { action: "ganeti-nic", op: "remove", uuid: NIC0, hotplug: true },
      { action: "add-nic", uuid: REAL, mac: MAC, link: "br0" },
    ];
    expect(planComposed(snapshot(), both)).toMatchObject({ ok: false, refusals: [{ code: "invalid-intent", message: expect.stringMatching(/cannot be combined/) }] });
  });
});

describe("the outcome of a change Ganeti had a hand in", () => {
  const base = { ok: true as const, planId: "p", stepsDone: 2, verified: [], notes: [] };
  const job = { step: 0, command: "gnt-instance modify …", ok: true, log: [], changes: [] };
  const slot = { bus: "pci" as const, slot: 0x10, guestAddress: "0000:00:10.0" };

  it("says who wrote the runtime file: us (with the job that recorded the NIC), Ganeti's own hotplug, or nobody", () => {
    expect(describeOutcome({ ...base, written: { state: "written", generation: "C", journalEntryId: "j" }, ganetiJobs: [{ ...job, jobId: 7 }] }, slot).message).toBe(
      "Done: verified on the live bus (0000:00:10.0) and recorded in the runtime file (generation C). Ganeti's configuration records it (job 7).",
    );
    expect(describeOutcome({ ...base, written: { state: "by-ganeti", generation: "C", ganetiJob: 12 } }, slot).message).toMatch(/^Done by Ganeti's own hotplug \(job 12\): it changed the instance, its runtime file and its configuration/);
    expect(describeOutcome({ ...base, written: { state: "unchanged", generation: "C" }, ganetiJobs: [{ ...job, jobId: 9 }] }, slot).message).toMatch(/^Done in Ganeti's configuration \(job 9\); the instance and its runtime file are unchanged/);
  });

  it("is either our write (its journal entry) or someone else's, never both or neither", () => {
    expect(ChangeOutcomeSchema.safeParse({ ...base, written: { state: "written", generation: "C", journalEntryId: "j" } }).success).toBe(true);
    expect(ChangeOutcomeSchema.safeParse({ ...base, written: { state: "by-ganeti", generation: "C" } }).success).toBe(true);
    expect(ChangeOutcomeSchema.safeParse({ ...base, written: { generation: "C" } }).success).toBe(false);
    // Our write always names its journal entry.
    expect(ChangeOutcomeSchema.safeParse({ ...base, written: { state: "written", generation: "C" } }).success).toBe(false);
  });
});
