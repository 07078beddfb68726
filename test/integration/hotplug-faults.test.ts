// What the executor does when things go wrong, on the lab: QEMU refusing a
// command, the SSH connection cut between steps, a guest that never
// releases a device, and the runtime file changed by someone else before
// the write. In every case the runtime file is left exactly as it was and
// the result says which step failed and what was (or could not be) undone.
import { once } from "node:events";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { connect } from "node:net";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { NodeSession, type NodeTarget } from "../../electron/ssh/session.js";
import { QmpClient } from "../../electron/qmp/client.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { InstanceLocks } from "../../electron/on-node/instance-lock.js";
import { loadInstanceView } from "../../electron/inventory/node-inventory.js";
import { executePlan, newDeviceUuid, newMac, type ExecutePlanOptions } from "../../electron/hotplug/index.js";
import { expectFailure, planOn, tempJournal } from "./hotplug-fixture.js";
import { gatherInstanceStateLocked } from "../../electron/hotplug/locked-state.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { livePci, openQmp } from "../../electron/hotplug/qmp-session.js";
import type { HotplugIntentInput, StepProgress } from "../../shared/hotplug/index.js";
import { deviceIdV2, readRuntime, writeRuntime } from "../../shared/runtime/index.js";
import { instancePaths } from "../../shared/on-node/layout.js";

let node: LabNode;
let target: NodeTarget;
let session: NodeSession;
let journal: Journal;
let removeJournal: (() => Promise<void>) | undefined;
let kilo: StartedLabInstance; // running guest
let lima: StartedLabInstance; // paused (-S): no guest, device_del never completes

beforeAll(async () => {
  node = await LabNode.start();
  kilo = await startLabInstance(node, { name: "kilo.lab", generation: "C", nics: 1, disks: [] });
  lima = await startLabInstance(node, { name: "lima.lab", generation: "C", nics: 1, disks: [], memoryMiB: 64, paused: true });
  target = sessionTarget(node.info);
  session = await NodeSession.open(target);
  ({ journal, remove: removeJournal } = await tempJournal());
});

afterAll(async () => {
  session?.close();
  await node?.stop();
  await removeJournal?.();
});



const plan = (s: NodeSession, instance: string, intent: HotplugIntentInput) => planOn(s, node.root, instance, intent);

/** executePlan on the lab node with this file's journal; `more` is what the test adds. */
const execute = (s: NodeSession, instance: string, p: Awaited<ReturnType<typeof plan>>, more: Partial<ExecutePlanOptions>) =>
  executePlan({ session: s, root: node.root, nodeId: "lab", instance, plan: p.plan, expectedRuntime: p.expected, journal, ...more });

/** A second QMP client on the .kvmd socket: "someone else" acting behind the executor's back. */
async function kvmd(inst: StartedLabInstance): Promise<QmpClient> {
  return QmpClient.connect(connect(inst.paths.kvmd), { label: inst.paths.kvmd });
}

const fileBytes = (inst: StartedLabInstance) => readFile(inst.paths.runtime);

describe("hotplug faults", () => {
  it("QEMU refuses device_add (slot taken behind our back): netdev and tap are undone, the file is byte-identical, the error names the step", async () => {
    const uuid = newDeviceUuid();
    const tap = `tap${uuid.slice(0, 8)}`;
    const p = await plan(session, "lima.lab", { action: "add-nic", uuid, mac: newMac(), link: node.network.bridge!, slot: "0x10" });
    const before = await fileBytes(lima);
    // After the plan, before Apply: another client takes the slot on the live bus only.
    // (The tap step and the fd passing go to the node in one chain, so nothing can be
    // slipped in between them; the refusal comes from QEMU all the same.)
    const q0 = await kvmd(lima);
    await q0.execute("device_add", { driver: "virtio-net-pci", id: "intruder", bus: "pci.0", addr: "0x10" });
    q0.close();
    const events: StepProgress[] = [];
    const r = await execute(session, "lima.lab", p, {
      onProgress: (e) => void events.push(e),
    });
    expectFailure(r);
    expect(r.cause).toBe("qmp-refused");
    expect(r.failedStep).toMatchObject({ kind: "node-pass-fd", device: deviceIdV2("nic", uuid) });
    expect(p.plan.steps[r.failedStep.index]).toMatchObject({ kind: "node-pass-fd" });
    expect(r.error.message).toMatch(/^Step \d+\/\d+ \(node-pass-fd: .* failed for nic-.*: QEMU refused device_add \(Add virtio-net-pci .*slot 16/);
    expect(r.undone.join("\n")).toMatch(/netdev_del nic-/);
    expect(r.undone.join("\n")).toContain(`delete tap ${tap}`);
    expect(r.write).toEqual({ state: "not-written" });
    expect(events.filter((e) => e.state === "undone").length).toBe(2);
    // The nic file was chained behind the fd pass: QEMU's refusal stopped it on the node.
    const nicFile = p.plan.steps.find((st) => st.kind === "node-nic-file");
    expect(nicFile?.kind === "node-nic-file" && existsSync(join(lima.paths.nicDir, String(nicFile.seq)))).toBe(false);
    expect(r.notUndone.join("\n")).not.toMatch(/ran on the node/);
    expect((await fileBytes(lima)).equals(before)).toBe(true);
    expect(existsSync(`/sys/class/net/${tap}`)).toBe(false);
    const q = await openQmp(session, lima.paths.qmp);
    try {
      const live = await livePci(q);
      expect(live.find((d) => d.slot === 0x10)?.qdevId).toBe("intruder");
      expect(live.some((d) => d.qdevId === deviceIdV2("nic", uuid))).toBe(false);
    } finally {
      q.close();
    }
    expect(await journal.latest("lab", "lima.lab")).toBeUndefined();
  });

  it("SSH cut between steps: nothing recorded; after reconnecting the file is whole and unchanged and the drift shows in the inventory", async () => {
    const cut = await NodeSession.open(target);
    const uuid = newDeviceUuid();
    const p = await plan(cut, "lima.lab", { action: "add-nic", uuid, mac: newMac(), link: node.network.bridge!, slot: "0x12" });
    const before = await fileBytes(lima);
    const r = await execute(cut, "lima.lab", p, {
      onProgress: async (e) => {
        // netdev_add and device_add ran node-side; cut before the NIC is verified and recorded.
        if (e.kind === "node-pass-fd" && e.state === "done") {
          const closed = once(cut.client, "close");
          cut.client.destroy();
          await closed;
        }
      },
    });
    expectFailure(r);
    expect(r.cause).toBe("connection-lost");
    // The nic file (chained with the fd pass) may have answered before the cut,
    // and the verify may pass on the bus the fd pass read; whichever step next
    // needs the node fails, at the latest the write, which then never went out.
    expect(r.failedStep.index).toBeGreaterThan(p.plan.steps.findIndex((s) => s.kind === "node-pass-fd"));
    if (r.failedStep.kind === "write-runtime") expect(r.error.message).toMatch(/gone before the write was sent/);
    expect(r.write).toEqual({ state: "not-written" });
    expect(await journal.latest("lab", "lima.lab")).toBeUndefined();
    expect(r.undone).toEqual([]);
    expect(r.notUndone.join("\n")).toMatch(/device_del nic-.*SSH connection is gone/);
    expect(r.error.message).toMatch(/Reconnect/);

    const again = await NodeSession.open(target);
    try {
      const now = await fileBytes(lima);
      expect(now.equals(before)).toBe(true);
      expect(() => readRuntime(now.toString("utf8"))).not.toThrow();
      const view = await loadInstanceView(again, "lima.lab", { nodeId: "lab", root: node.root });
      expect(view.drift).toContainEqual(expect.objectContaining({ bus: "pci", at: 0x12, kind: "live-only" }));
      // The lock died with the cut connection: a new operation can take it.
      const lock = await new InstanceLocks(again, node.root).acquire("lima.lab", { timeoutMs: 35_000 });
      await lock.release();
    } finally {
      again.close();
    }
  });

  it("a change's read that waited for another operation's lock reads the bus again under the lock", async () => {
    const other = await NodeSession.open(target);
    try {
      const held = await new InstanceLocks(other, node.root).acquire("lima.lab");
      const reading = gatherInstanceStateLocked(session, "lima.lab", { root: node.root, nodeId: "lab", readers: { ganetiVersions: ["3.0.2"] }, nicTaps: false });
      // Its first look at the bus (taken at once, without the lock) is over by now.
      await new Promise((r) => setTimeout(r, 500));
      // The holder changes the bus through the instance's own QMP socket, which
      // serves one client: the waiting read must not be sitting on it.
      const q = await openQmp(other, lima.paths.qmp, { greetingTimeoutMs: 2_000 });
      await q.execute("device_add", { driver: "virtio-net-pci", id: "while-locked", bus: "pci.0", addr: "0x15" });
      q.close();
      await held.release();
      const g = await reading;
      try {
        expect(g.lock.held).toBe(true);
        expect(g.state.livePci?.find((d) => d.qdevId === "while-locked")?.slot).toBe(0x15);
      } finally {
        g.qmp?.close();
        await g.lock.release();
      }
    } finally {
      other.close();
    }
  });

  it('a guest that does not release the device: "still in use by the guest", nothing recorded', async () => {
    const nic = lima.runtime.nics[0]!;
    const id = nic.hvinfo!.id as string;
    const p = await plan(session, "lima.lab", { action: "remove", kind: "nic", ref: nic.uuid! });
    const before = await fileBytes(lima);
    const events: StepProgress[] = [];
    const r = await execute(session, "lima.lab", p, {
      deviceDeletedTimeoutMs: 3000,
      onProgress: (e) => void events.push(e),
    });
    expectFailure(r);
    expect(r.cause).toBe("guest-holds-device");
    expect(r.failedStep.kind).toBe("wait-device-deleted");
    expect(r.error.message).toContain(`${id} is still in use by the guest`);
    expect(events.some((e) => e.state === "waiting-guest")).toBe(true);
    expect((await fileBytes(lima)).equals(before)).toBe(true);
    // The backend and tap stay: they were never touched.
    expect(existsSync(`/sys/class/net/${lima.taps[0]}`)).toBe(true);
    expect(existsSync(join(lima.paths.nicDir, "0"))).toBe(true);
  });

  it("runtime file changed by someone else between plan and write: RuntimeChangedError, the live change is undone, their file is kept", async () => {
    const uuid = newDeviceUuid();
    const id = deviceIdV2("nic", uuid);
    const tap = `tap${uuid.slice(0, 8)}`;
    const p = await plan(session, "kilo.lab", { action: "add-nic", uuid, mac: newMac(), link: node.network.bridge!, slot: "0x10" });
    // What "Ganeti" writes meanwhile: the same runtime with one hvparam changed.
    const theirs = readRuntime(kilo.runtimeText).runtime;
    theirs.hvparams.boot_order = "network";
    const theirText = writeRuntime(theirs, "C");
    const r = await execute(session, "kilo.lab", p, {
      onProgress: async (e) => {
        if (e.kind === "verify" && e.state === "done") await writeFile(kilo.paths.runtime, theirText, { mode: 0o600 });
      },
    });
    expectFailure(r);
    expect(r.cause).toBe("runtime-changed");
    expect(r.error.name).toBe("RuntimeChangedError");
    expect(r.failedStep.kind).toBe("write-runtime");
    expect(r.undone.join("\n")).toMatch(/device_del nic-.*netdev_del nic-.*delete tap/s);
    expect(r.notUndone).toEqual([]);
    expect(await readFile(kilo.paths.runtime, "utf8")).toBe(theirText);
    const q = await openQmp(session, kilo.paths.qmp);
    try {
      expect((await livePci(q)).some((d) => d.qdevId === id)).toBe(false);
    } finally {
      q.close();
    }
    expect(existsSync(`/sys/class/net/${tap}`)).toBe(false);
    expect(existsSync(join(instancePaths(node.root, "kilo.lab").nicDir, "1"))).toBe(false);
    expect(await journal.latest("lab", "kilo.lab")).toBeUndefined();
  });
});
