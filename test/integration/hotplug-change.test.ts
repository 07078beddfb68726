// The one change path (electron/hotplug/change.ts) against a lab node with a
// real guest: a request completed from the instance (the default link), a
// NIC moved to another slot as one change, a reviewed plan applied once, and
// every refusal and outcome recorded the same way.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFile } from "node:fs/promises";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance } from "../../electron/lab/instances.js";
import { GuestConsole } from "../lab/guest-console.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { InstanceLocks } from "../../electron/on-node/instance-lock.js";
import { HotplugChanges, type ChangeRecord, type ChangeTarget } from "../../electron/hotplug/change.js";
import { readRuntime } from "../../shared/runtime/index.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import type { StepProgress } from "../../shared/hotplug/index.js";
import { tempJournal } from "./hotplug-fixture.js";

let node: LabNode;
let session: NodeSession;
let target: ChangeTarget;
let removeJournal: (() => Promise<void>) | undefined;
let changes: HotplugChanges;
const records: ChangeRecord[] = [];
const NAME = "india.lab";

beforeAll(async () => {
  node = await LabNode.start();
  await startLabInstance(node, { name: NAME, generation: "C", nics: 1, disks: [] });
  session = await NodeSession.open(sessionTarget(node.info));
  target = { session, nodeId: "lab", root: node.root, readers: { ganetiVersions: ["3.0.2"] } };
  const j = await tempJournal();
  removeJournal = j.remove;
  changes = new HotplugChanges({ journal: j.journal, record: (r) => void records.push(r) });
});

afterAll(async () => {
  session?.close();
  await node?.stop();
  await removeJournal?.();
});

async function guestPci(predicate: (addrs: string[]) => boolean): Promise<string[]> {
  const console = new GuestConsole(await session.openUnixSocket(instancePaths(node.root, NAME).serial));
  try {
    await console.waitReady(60_000);
    return (await console.waitForPci((l) => predicate(l.map((f) => f.address)), 30_000)).map((f) => f.address);
  } finally {
    console.close();
  }
}
const fileNics = async () => readRuntime(await readFile(instancePaths(node.root, NAME).runtime, "utf8")).runtime.nics;
const UUID = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";

describe("the change path", () => {
  it("now: a NIC asked for without a link joins the first NIC's link; the guest sees it at 0x10", async () => {
    const progress: StepProgress[] = [];
    const r = await changes.now(target, NAME, { action: "add-nic", slot: "0x10", uuid: UUID }, { report: { progress: (p) => void progress.push(p) } });
    expect(r.status, JSON.stringify(r)).toBe("done");
    if (r.status !== "done") return;
    const link = (await fileNics())[0]?.nicparams?.link;
    expect(link).toBeTruthy();
    expect(r.intents).toEqual([expect.objectContaining({ action: "add-nic", uuid: UUID, link, slot: 0x10 })]);
    expect(progress.at(-1)).toMatchObject({ kind: "write-runtime", state: "done" });
    expect(records.at(-1)).toMatchObject({ instance: NAME, outcome: "succeeded", summary: `Add a NIC to ${NAME} at slot 0x10` });
    expect(await guestPci((a) => a.includes("0000:00:10.0"))).toContain("0000:00:10.0");
  });

  it("now: moving the NIC is one change: the guest sees it at 0x11 and not at 0x10, the file keeps its uuid and MAC", async () => {
    const before = (await fileNics()).find((n) => n.uuid === UUID)!;
    const r = await changes.now(target, NAME, { action: "move-nic", ref: UUID, slot: 0x11 });
    expect(r.status, JSON.stringify(r)).toBe("done");
    if (r.status !== "done") return;
    expect(r.intents.map((i) => i.action)).toEqual(["remove", "add-nic"]);
    expect(r.plan.steps.filter((s) => s.kind === "write-runtime")).toHaveLength(1);
    const after = (await fileNics()).find((n) => n.uuid === UUID)!;
    expect(after).toMatchObject({ mac: before.mac, nicparams: before.nicparams, hvinfo: { addr: "0x11" } });
    const seen = await guestPci((a) => a.includes("0000:00:11.0") && !a.includes("0000:00:10.0"));
    expect(seen).toContain("0000:00:11.0");
    expect(seen).not.toContain("0000:00:10.0");
  });

  it("review, then apply: the kept plan runs once, and a second apply finds it gone", async () => {
    const reviewed = await changes.review(target, NAME, { action: "remove", kind: "nic", ref: UUID });
    expect(reviewed.ok, JSON.stringify(reviewed)).toBe(true);
    if (!reviewed.ok) return;
    const { planId } = reviewed.kept;
    const kept = changes.kept.take(planId);
    expect(kept?.summary).toBe(`Unplug nic ${UUID} from ${NAME}`);
    let reported: unknown;
    const outcome = await changes.apply(kept!, async () => target, { outcome: (o) => (reported = o) });
    expect(outcome).toMatchObject({ ok: true, planId });
    expect(reported).toEqual(outcome);
    expect(changes.kept.take(planId)).toBeUndefined();
    expect((await fileNics()).map((n) => n.uuid)).not.toContain(UUID);
    expect(await guestPci((a) => !a.includes("0000:00:11.0"))).not.toContain("0000:00:11.0");
  });

  it("refusals are recorded on every path: a bad request, an unknown device, a locked instance", async () => {
    const from = records.length;
    const bad = await changes.review(target, NAME, { action: "add-nic", slot: "0x99" });
    expect(bad).toMatchObject({ ok: false, refusals: [{ code: "invalid-intent" }] });
    const unknown = await changes.now(target, NAME, { action: "move-nic", ref: "nic-nope", slot: 0x12 });
    expect(unknown).toMatchObject({ status: "refused", refusals: [{ code: "unknown-ref" }] });
    const otherSession = await NodeSession.open(sessionTarget(node.info));
    const other = await new InstanceLocks(otherSession, node.root).acquire(NAME);
    try {
      const locked = await changes.now(target, NAME, { action: "add-nic" }, { lockTimeoutMs: 300 });
      expect(locked).toMatchObject({ status: "refused", refusals: [{ code: "locked" }] });
    } finally {
      await other.release();
      otherSession.close();
    }
    expect(records.slice(from).map((r) => r.outcome)).toEqual(["refused", "refused", "refused"]);
    expect(records.slice(from).every((r) => r.summary.endsWith(": refused") && (r.detail ?? "").length > 0)).toBe(true);
  });

  it("apply on a node that cannot be reached: a failed outcome before the first step, nothing changed, recorded", async () => {
    const reviewed = await changes.review(target, NAME, { action: "add-nic" });
    if (!reviewed.ok) throw new Error(JSON.stringify(reviewed));
    const fileBefore = await readFile(instancePaths(node.root, NAME).runtime);
    const outcome = await changes.apply(changes.kept.take(reviewed.kept.planId)!, async () => {
      throw new Error("node lab is not connected");
    });
    expect(outcome).toMatchObject({ ok: false, write: { state: "not-written" }, stepsDone: 0, failedStep: { index: -1, kind: "precheck" }, error: { message: "node lab is not connected" } });
    expect((await readFile(instancePaths(node.root, NAME).runtime)).equals(fileBefore)).toBe(true);
    expect(records.at(-1)).toMatchObject({ outcome: "failed", planId: reviewed.kept.planId, detail: expect.stringContaining("node lab is not connected") });
    expect(changes.changing("lab")).toBe(false);
  });
});
