// Which repairs apply to which combination of Ganeti's configuration, the
// runtime file and the live bus, and how each is completed and planned: one
// instance with a device in each combination.
import { describe, expect, it } from "vitest";
import { ChangeRequestSchema, planComposed, recordChange, repairsFor, withGanetiUuid, type ChangeRequestInput, type GanetiFacts, type InstanceSnapshot, type Plan, type PlanOk } from "../../shared/hotplug";
import { COMBINATIONS, combinationOf, type Presence } from "../../shared/inventory/three-way";
import { deviceIdV2, emptyRuntime, newDisk, newNic, readRuntime, writeRuntime } from "../../shared/runtime";
import { HV, KVM, NEW, NIC0, live } from "./planner-instance";

/** Live and in the file, not in Ganeti's configuration (a runtime-only add). */
const OURS = "5f0c6b1e-2d3a-4b5c-8d7e-9f0a1b2c3d4e";
/** In the file only (unplugged behind its back). */
const GONE = "61a2b3c4-1111-4222-8333-944455566677";
/** In Ganeti's configuration and the file, not live. */
const CFGFILE = "72b3c4d5-2222-4333-8444-a55566677788";
/** In Ganeti's configuration and live, not in the file. */
const CFGLIVE = "83c4d5e6-3333-4444-8555-b66677788899";
/** Only in Ganeti's configuration. */
const CFGONLY = "94d5e6f7-4444-4555-8666-c777888999aa";
/** Only on the live bus (device_add over QMP), by an id Ganeti's form has. */
const LIVEONLY = "nic-0a0a0a0a-0000-4000";
const MAC = "aa:00:00:12:34:56";
const REAL = "db6e2c71-a414-41b6-8224-163300153d56";

function snapshot(): InstanceSnapshot {
  const rt = emptyRuntime(KVM, HV);
  rt.nics.push(
    newNic({ uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "br0", slot: 12 }),
    newNic({ uuid: OURS, mac: "aa:00:00:0a:0b:0c", link: "br0", slot: 0x1a }),
    newNic({ uuid: GONE, mac: "aa:00:00:0a:0b:0d", link: "br0", slot: 0x1b }),
    newNic({ uuid: CFGFILE, mac: "aa:00:00:0a:0b:0e", link: "br1", slot: 0x1c }),
  );
  return {
    name: "inst1",
    runtime: readRuntime(writeRuntime(rt, "C")),
    livePci: [live(0), live(1), live(2), live(3), live(12, deviceIdV2("nic", NIC0)), live(0x1a, deviceIdV2("nic", OURS)), live(0x1d, deviceIdV2("nic", CFGLIVE)), live(0x1e, LIVEONLY)],
    qmpCommands: null,
    qemuVersion: { major: 7, minor: 2, micro: 0 },
    readers: { ganetiVersions: ["3.0.2"] },
    nicTaps: ["tap0", "tap1", "tap2", "tap3"],
  };
}

const REACHABLE: GanetiFacts = {
  kind: "reachable",
  master: "node1.example",
  config: {
    nics: [
      { uuid: NIC0, mac: "aa:00:00:bf:2f:16", link: "br0", mode: "bridged" },
      { uuid: CFGFILE, mac: "aa:00:00:0a:0b:0e", link: "br1", mode: "bridged" },
      { uuid: CFGLIVE, mac: "aa:00:00:0a:0b:0f", link: "br0", mode: "bridged" },
      { uuid: CFGONLY, mac: "aa:00:00:0a:0b:10", link: "br2", mode: "bridged" },
    ],
    disks: [],
  },
};
const ids = () => ({ uuid: () => NEW, mac: () => MAC });

function completed(r: ChangeRequestInput, facts: GanetiFacts = REACHABLE) {
  return recordChange(ChangeRequestSchema.parse(r), snapshot(), ids(), facts);
}
function recorded(r: ChangeRequestInput, facts: GanetiFacts = REACHABLE) {
  const c = completed(r, facts);
  if (!c.ok) throw new Error(`refused: ${c.refusals.map((x) => x.message).join(" | ")}`);
  return c;
}
function refusedWith(r: ChangeRequestInput, facts: GanetiFacts = REACHABLE): string {
  const c = completed(r, facts);
  if (c.ok) throw new Error(`not refused: ${JSON.stringify(c.intents)}`);
  return c.refusals.map((x) => x.message).join(" | ");
}
function ok(p: Plan): PlanOk {
  if (!p.ok) throw new Error(`refused: ${p.refusals.map((r) => r.message).join(" | ")}`);
  return p;
}
const planned = (r: ChangeRequestInput, facts: GanetiFacts = REACHABLE) => ok(planComposed(snapshot(), recorded(r, facts).intents));
const kinds = (p: PlanOk) => p.steps.map((s) => s.kind);
const fileUuids = (p: PlanOk) => p.runtimeAfter.nics.map((n) => n.uuid);

describe("which repairs apply where", () => {
  const at = (where: Presence) => ({ where, combination: combinationOf(where) });
  it("offers a repair for every drift of a NIC and none where all three agree", () => {
    const offered = Object.fromEntries(
      COMBINATIONS.map((c) => {
        const where: Presence = { config: c.includes("config") || c === "all-three", file: c.includes("file") || c === "all-three", live: c.includes("live") || c === "all-three" };
        return [c, repairsFor({ kind: "nic", ...at(where) }).map((o) => o.repair)];
      }),
    );
    expect(offered).toEqual({
      "all-three": [],
      "file-and-live": ["adopt"],
      "config-and-file": ["replug", "forget"],
      "config-and-live": ["record", "unplug"],
      "config-only": ["plug", "unrecord"],
      "file-only": ["replug", "forget"],
      "live-only": ["record", "unplug"],
    });
  });

  it("offers disks only what needs no storage of Ganeti's: replug or forget a recorded disk that is gone, unplug a live one the file lacks", () => {
    expect(repairsFor({ kind: "disk", ...at({ config: false, file: true, live: false }) }).map((o) => o.repair)).toEqual(["replug", "forget"]);
    expect(repairsFor({ kind: "disk", ...at({ config: false, file: false, live: true }) }).map((o) => o.repair)).toEqual(["unplug"]);
    expect(repairsFor({ kind: "disk", ...at({ config: false, file: true, live: true }) })).toEqual([]);
  });

  it("offers nothing that depends on a source that was not read, nor for a device of unknown kind", () => {
    expect(repairsFor({ kind: "nic", ...at({ config: null, file: true, live: true }) })).toEqual([]);
    expect(repairsFor({ kind: "nic", ...at({ config: true, file: true, live: null }) })).toEqual([]);
    expect(repairsFor({ kind: null, ...at({ config: false, file: false, live: true }) })).toEqual([]);
    // A NIC in the file and not live is a drift whatever Ganeti has.
    expect(repairsFor({ kind: "nic", ...at({ config: null, file: true, live: false }) }).map((o) => o.repair)).toEqual(["replug", "forget"]);
  });

  it("says in each offer what it does", () => {
    const [adopt] = repairsFor({ kind: "nic", ...at({ config: false, file: true, live: true }) });
    expect(adopt).toMatchObject({ repair: "adopt", label: "Adopt into Ganeti", does: expect.stringMatching(/loses its link for a moment/) });
  });
});

describe("adopt: Ganeti records the NIC, then it is re-plugged at the same slot under Ganeti's id", () => {
  it("completes into Ganeti's configuration-only add with the same MAC and link, the unplug and the plug at the same slot under one provisional uuid", () => {
    const c = recorded({ action: "repair", repair: "adopt", ref: deviceIdV2("nic", OURS) });
    expect(c.intents).toEqual([
      { action: "ganeti-nic", op: "add", uuid: NEW, mac: "aa:00:00:0a:0b:0c", link: "br0", mode: "bridged", master: "node1.example" },
      { action: "remove", kind: "nic", ref: deviceIdV2("nic", OURS), restoreOnUndo: true },
      { action: "add-nic", uuid: NEW, mac: "aa:00:00:0a:0b:0c", link: "br0", mode: "bridged", model: "paravirtual", slot: 0x1a },
    ]);
    expect(c.recording).toMatchObject({ mode: "ganeti", note: expect.stringMatching(/^Adopt: Ganeti records the NIC \(MAC aa:00:00:0a:0b:0c, link br0\) in its configuration on node1\.example, without --hotplug.*loses this NIC's link for a moment/) });
  });

  it("plans Ganeti's command, the unplug, the plug at the same slot and one write; Ganeti's uuid then replaces the provisional one everywhere", () => {
    const p = planned({ action: "repair", repair: "adopt", ref: OURS });
    expect(kinds(p)).toEqual(["ganeti-config", "qmp", "wait-device-deleted", "qmp", "node-tap-remove", "verify", "node-nic-file", "node-tap-create", "node-pass-fd", "node-nic-file", "verify", "write-runtime"]);
    expect(p.slot).toMatchObject({ bus: "pci", slot: 0x1a });
    expect(fileUuids(p)).toEqual([NIC0, GONE, CFGFILE, NEW]);
    const real = withGanetiUuid(p, NEW, REAL, 1);
    const verify = real.steps.at(-2);
    expect(verify).toMatchObject({ kind: "verify", expect: "present", id: deviceIdV2("nic", REAL), slot: 0x1a });
    expect(real.runtimeAfter.nics.at(-1)).toMatchObject({ uuid: REAL, mac: "aa:00:00:0a:0b:0c", hvinfo: { id: deviceIdV2("nic", REAL), addr: "0x1a" } });
    expect(real.steps.find((s) => s.kind === "node-nic-file" && s.action === "write")).toMatchObject({ seq: 3, tap: `tap${REAL.slice(0, 8)}` });
  });

  it("keeps a way back for the unplugged NIC: if a later step fails, its undo plugs it back at its slot under its old id, tap and MAC", () => {
    const p = planned({ action: "repair", repair: "adopt", ref: OURS });
    const wait = p.steps[2];
    if (wait?.kind !== "wait-device-deleted") throw new Error("no wait step");
    expect(wait.describe).toMatch(/If a later step fails, nic-5f0c6b1e-2d3a-4b5c is plugged back at 0x1a\.$/);
    expect(wait.restore?.map((s) => s.kind)).toEqual(["qmp", "node-tap-remove", "node-tap-create", "node-pass-fd"]);
    expect(wait.restore?.[2]).toMatchObject({ tap: "tap1", link: "br0", mode: "bridged" });
    const pass = wait.restore?.[3];
    if (pass?.kind !== "node-pass-fd") throw new Error("no fd pass");
    expect(pass.commands.map((c) => [c.command, c.arguments.id])).toEqual([
      ["netdev_add", deviceIdV2("nic", OURS)],
      ["device_add", deviceIdV2("nic", OURS)],
    ]);
    expect(pass.commands[1]?.arguments).toMatchObject({ addr: "0x1a", mac: "aa:00:00:0a:0b:0c" });
    // A plain remove keeps none (the guest's release stands).
    const plain = ok(planComposed(snapshot(), [{ action: "remove", kind: "nic", ref: OURS }]));
    expect(plain.steps.find((s) => s.kind === "wait-device-deleted")).not.toHaveProperty("restore");
  });

  it("is refused where Ganeti's configuration cannot be changed, and for a NIC Ganeti already has, naming the device and what applies", () => {
    expect(refusedWith({ action: "repair", repair: "adopt", ref: OURS }, { kind: "unreachable", why: "no node of the cluster is configured here" })).toMatch(
      /^adopt does not apply to nic nic-5f0c6b1e-2d3a-4b5c of inst1: Ganeti's configuration was not read \(no node of the cluster is configured here\)\. Nothing here repairs it\.$/,
    );
    expect(refusedWith({ action: "repair", repair: "adopt", ref: NIC0 })).toMatch(/^adopt does not apply to nic nic-003fc157-66a8-4e6d of inst1: it is all three .*Nothing here repairs it\.$/);
    expect(refusedWith({ action: "repair", repair: "unplug", ref: OURS })).toMatch(/What applies: adopt\.$/);
  });
});

describe("the other drifts", () => {
  it("replug: a NIC in the file and not live is plugged back at its recorded slot under its recorded id, what an unplug left cleared first; the file is not written", () => {
    const p = planned({ action: "repair", repair: "replug", ref: GONE });
    expect(kinds(p)).toEqual(["qmp", "node-tap-remove", "node-tap-create", "node-pass-fd", "node-nic-file", "verify"]);
    expect(p.steps[0]).toMatchObject({ command: "netdev_del", arguments: { id: deviceIdV2("nic", GONE) }, tolerateMissing: true });
    const pass = p.steps[3];
    if (pass?.kind !== "node-pass-fd") throw new Error("no fd pass");
    expect(pass.commands[1]).toMatchObject({ command: "device_add", arguments: { id: deviceIdV2("nic", GONE), addr: "0x1b", mac: "aa:00:00:0a:0b:0d" } });
    expect(p.steps[4]).toMatchObject({ kind: "node-nic-file", action: "write", seq: 2, tap: "tap2" });
    expect(p.runtimeWrite).toBe("unchanged");
    expect(p.fileDiff).toEqual(["= the runtime file is not changed (the live bus only)"]);
    // With Ganeti's configuration it is all three again.
    expect(recorded({ action: "repair", repair: "replug", ref: CFGFILE }).recording.note).toMatch(/all three sources then agree/);
  });

  it("replug: a disk in the file and not live is opened again from its recorded path and plugged back at its slot, a leftover block node closed first", () => {
    const DGONE = "a5e6f708-5555-4666-8777-d888999aaabb";
    const s = snapshot();
    const rt = s.runtime.runtime;
    rt.disks.push(newDisk({ uuid: DGONE, size: 64, linkName: "/srv/disks/extra.img", slot: 0x1f, ivName: "disk/0" }));
    const withDisk: InstanceSnapshot = { ...s, runtime: readRuntime(writeRuntime(rt, "C")) };
    const c = recordChange(ChangeRequestSchema.parse({ action: "repair", repair: "replug", ref: DGONE }), withDisk, ids(), REACHABLE);
    if (!c.ok) throw new Error(c.refusals[0]!.message);
    expect(c.intents).toEqual([{ action: "replug", kind: "disk", ref: deviceIdV2("disk", DGONE) }]);
    const p = ok(planComposed(withDisk, c.intents));
    expect(p.steps.map((x) => (x.kind === "qmp" ? x.command : x.kind))).toEqual(["blockdev-del", "blockdev-add", "device_add", "verify"]);
    expect(p.steps[1]).toMatchObject({ arguments: { "node-name": deviceIdV2("disk", DGONE), file: { driver: "file", filename: "/srv/disks/extra.img" } } });
    expect(p.steps[2]).toMatchObject({ arguments: { driver: "virtio-blk-pci", id: deviceIdV2("disk", DGONE), addr: "0x1f", drive: deviceIdV2("disk", DGONE) } });
    expect(p.runtimeWrite).toBe("unchanged");
  });

  it("forget: a NIC in the file and not live leaves the file and its nic file; Ganeti's configuration keeping it is said", () => {
    const p = planned({ action: "repair", repair: "forget", ref: GONE });
    expect(kinds(p)).toEqual(["qmp", "node-tap-remove", "node-nic-file", "write-runtime"]);
    expect(p.steps[2]).toMatchObject({ action: "remove", seq: 2 });
    expect(fileUuids(p)).toEqual([NIC0, OURS, CFGFILE]);
    expect(recorded({ action: "repair", repair: "forget", ref: CFGFILE }).recording).toMatchObject({ mode: "runtime-only", note: expect.stringMatching(/Ganeti adds it again at the next shutdown\/startup/) });
  });

  it("record: a NIC only on the live bus needs its MAC and link; it is then written at its live slot under its live id", () => {
    expect(refusedWith({ action: "repair", repair: "record", ref: LIVEONLY })).toMatch(/^Recording nic nic-0a0a0a0a-0000-4000 needs its MAC and link .*\(--mac, --link\)\.$/);
    const c = recorded({ action: "repair", repair: "record", ref: LIVEONLY, mac: "aa:00:00:0a:0b:99", link: "br0" });
    expect(c.recording.mode).toBe("runtime-only");
    const p = ok(planComposed(snapshot(), c.intents));
    expect(kinds(p)).toEqual(["verify", "write-runtime"]);
    expect(p.runtimeAfter.nics.at(-1)).toMatchObject({ uuid: NEW, mac: "aa:00:00:0a:0b:99", nicparams: { link: "br0" }, hvinfo: { id: LIVEONLY, addr: "0x1e" } });
  });

  it("record: a NIC in Ganeti's configuration and live takes the configuration's uuid, MAC and link", () => {
    const c = recorded({ action: "repair", repair: "record", ref: CFGLIVE });
    expect(c.intents).toEqual([{ action: "record-nic", id: deviceIdV2("nic", CFGLIVE), uuid: CFGLIVE, mac: "aa:00:00:0a:0b:0f", link: "br0", mode: "bridged" }]);
    const p = ok(planComposed(snapshot(), c.intents));
    expect(p.runtimeAfter.nics.at(-1)).toMatchObject({ uuid: CFGLIVE, hvinfo: { id: deviceIdV2("nic", CFGLIVE), addr: "0x1d" } });
  });

  it("unplug: a device on the live bus the file lacks is released by the guest; the file is not written", () => {
    const p = planned({ action: "repair", repair: "unplug", ref: LIVEONLY });
    expect(kinds(p)).toEqual(["qmp", "wait-device-deleted", "qmp", "verify"]);
    expect(p.steps[2]).toMatchObject({ command: "netdev_del", tolerateMissing: true });
    expect(p.runtimeWrite).toBe("unchanged");
    expect(recorded({ action: "repair", repair: "unplug", ref: CFGLIVE }).recording.note).toMatch(/Ganeti's configuration keeps nic .* adds it back at the next shutdown\/startup/);
  });

  it("plug: a NIC only in Ganeti's configuration is hot-added as it has it, at the slot given, under Ganeti's id", () => {
    const c = recorded({ action: "repair", repair: "plug", ref: CFGONLY, slot: "0x11" });
    expect(c.intents).toEqual([{ action: "add-nic", uuid: CFGONLY, mac: "aa:00:00:0a:0b:10", link: "br2", mode: "bridged", slot: 0x11 }]);
    const p = ok(planComposed(snapshot(), c.intents));
    expect(p.steps.find((s) => s.kind === "verify")).toMatchObject({ id: deviceIdV2("nic", CFGONLY), slot: 0x11 });
    expect(kinds(p)).not.toContain("ganeti-config");
  });

  it("unrecord: a NIC only in Ganeti's configuration is removed there only (without --hotplug); the file is not written", () => {
    const p = planned({ action: "repair", repair: "unrecord", ref: CFGONLY });
    expect(kinds(p)).toEqual(["ganeti-config"]);
    expect(p.steps[0]).toMatchObject({ op: "remove-nic", hotplug: false, argv: ["gnt-instance", "modify", "--print-jobid", "--net", `${CFGONLY}:remove`, "inst1"] });
    expect(p.runtimeWrite).toBe("unchanged");
  });

  it("refuses a device no source has, and a repair asked runtime only that needs Ganeti", () => {
    expect(refusedWith({ action: "repair", repair: "forget", ref: "nic-ffffffff-0000-4000" })).toMatch(/^nic-ffffffff-0000-4000: no device of inst1 by that uuid or id .*three-way table\.$/);
    // Asked runtime only, Ganeti's configuration is not read: a NIC only it has is not found, and it says why.
    expect(refusedWith({ action: "repair", repair: "unrecord", ref: CFGONLY, runtimeOnly: true }, { kind: "none", why: "the repair was asked runtime only" })).toMatch(
      /^94d5e6f7-4444-4555-8666-c777888999aa: no device of inst1 .*\(Ganeti's configuration was not read: the repair was asked runtime only\)\./,
    );
  });
});
