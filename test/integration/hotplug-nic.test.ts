// NIC hotplug on the lab's real guests, end to end: plan (shared planner),
// execute over SSH (tap on the node, QMP, verify, runtime write), then check
// what the guest sees, what the node has, and that Ganeti 3.0.2's own loader
// reads the file we wrote.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { readFile, rm, mkdir, symlink } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { LabNode } from "../../electron/lab/node.js";
import { buildInstanceRuntime, startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { GuestConsole } from "../lab/guest-console.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { executePlan, newDeviceUuid, newMac } from "../../electron/hotplug/index.js";
import { expectOk, planOn, tempJournal } from "./hotplug-fixture.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { openQmp, livePci } from "../../electron/hotplug/qmp-session.js";
import type { ChangeOutcome, HotplugIntentInput, PlanOk, StepProgress } from "../../shared/hotplug/index.js";
import { readRuntime, writeRuntime, deviceIdV2 } from "../../shared/runtime/index.js";
import { instancePaths } from "../../shared/on-node/layout.js";

let node: LabNode;
let session: NodeSession;
let journal: Journal;
let removeJournal: (() => Promise<void>) | undefined;
let gammaC: StartedLabInstance;
let bravoB: { name: string };
const ROOT = () => node.root;

beforeAll(async () => {
  node = await LabNode.start();
  gammaC = await startLabInstance(node, { name: "gamma.lab", generation: "C", nics: 1, disks: [] });
  // Generation B, and QEMU "runs as an unprivileged user" (security_model=user):
  // the planner must pass the tap as an fd (getfd over SCM_RIGHTS from the node).
  const built = await buildInstanceRuntime(node, { name: "hotel.lab", generation: "B", nics: 1, disks: [] });
  built.runtime.hvparams.security_model = "user";
  built.runtime.hvparams.security_domain = "nobody";
  const text = writeRuntime(built.runtime, "B");
  await node.startInstance({ name: "hotel.lab", runtimeText: text, runtime: readRuntime(text).runtime });
  bravoB = { name: "hotel.lab" };
  session = await NodeSession.open(sessionTarget(node.info));
  ({ journal, remove: removeJournal } = await tempJournal());
});

afterAll(async () => {
  session?.close();
  await node?.stop();
  await removeJournal?.();
});


const plan = (instance: string, intent: HotplugIntentInput, readers = ["3.0.2"]) => planOn(session, ROOT(), instance, intent, readers);

async function run(instance: string, p: { plan: PlanOk; expected: Buffer }, events: StepProgress[] = []): Promise<ChangeOutcome> {
  return executePlan({ session, root: ROOT(), nodeId: "lab", instance, plan: p.plan, expectedRuntime: p.expected, journal, onProgress: (e) => void events.push(e) });
}


async function guestPci(instance: string, predicate: (addrs: string[]) => boolean): Promise<string[]> {
  const console = new GuestConsole(await session.openUnixSocket(instancePaths(ROOT(), instance).serial));
  try {
    await console.waitReady(60_000);
    return (await console.waitForPci((l) => predicate(l.map((f) => f.address)), 30_000)).map((f) => f.address);
  } finally {
    console.close();
  }
}

function ganetiLoad(text: string): { ok: boolean; error?: string; nics: { uuid: string; hvinfo: Record<string, unknown>; dict: Record<string, unknown> }[] } {
  const out = execFileSync("/usr/bin/python3", [resolve(__dirname, "../conformance/ganeti_load.py")], {
    input: JSON.stringify({ ops: [{ op: "load", text }] }),
    encoding: "utf8",
    env: { ...process.env, PYTHONPATH: "/usr/share/ganeti/3.0" },
  });
  return (JSON.parse(out) as ReturnType<typeof ganetiLoad>[])[0]!;
}

const runtimeText = (instance: string) => readFile(instancePaths(ROOT(), instance).runtime, "utf8");
const linkMaster = async (tap: string) => (existsSync(`/sys/class/net/${tap}`) ? (await readFile(`/sys/class/net/${tap}/master/uevent`, "utf8").catch(() => "")) : null);

describe("NIC hotplug on a real guest", () => {
  const uuid = newDeviceUuid();
  const id = deviceIdV2("nic", uuid);
  const tap = `tap${uuid.slice(0, 8)}`;

  it("adds a NIC at slot 0x10: the guest sees 0000:00:10.0 and Ganeti 3.0.2 loads the written file with it at 0x10", async () => {
    const events: StepProgress[] = [];
    const mac = newMac();
    const p = await plan("gamma.lab", { action: "add-nic", uuid, mac, link: node.network.bridge!, slot: "0x10" });
    const r = await run("gamma.lab", p, events);
    expectOk(r);
    expect(r.written.generation).toBe("C");
    expect(r.verified).toContainEqual({ id, bus: "pci", expect: "present", slot: 0x10 });
    // No ifup script under the lab root: said so, and the tap went onto the bridge directly.
    expect(r.notes.join("\n")).toMatch(/no ifup script .*attached to bridge/);
    expect(await linkMaster(tap)).toContain(`INTERFACE=${node.network.bridge}`);
    expect((await readFile(join(instancePaths(ROOT(), "gamma.lab").nicDir, "1"), "utf8")).trim()).toBe(tap);
    // Every step reported running then done, in order.
    const done = events.filter((e) => e.state === "done" && e.index >= 0).map((e) => e.index);
    expect(done).toEqual(p.plan.steps.map((_, i) => i));

    expect(await guestPci("gamma.lab", (a) => a.includes("0000:00:10.0"))).toContain("0000:00:10.0");

    const text = await runtimeText("gamma.lab");
    expect(text).toBe(p.plan.fileTextAfter);
    const loaded = ganetiLoad(text);
    expect(loaded.ok, loaded.error).toBe(true);
    const nic = loaded.nics.find((n) => n.uuid === uuid)!;
    expect(nic.hvinfo).toMatchObject({ driver: "virtio-net-pci", id, bus: "pci.0", addr: "0x10" });
    expect(nic.dict.mac).toBe(mac);
    // The journal can undo it: it holds the bytes replaced.
    const entry = await journal.latest("lab", "gamma.lab");
    expect(r.written).toMatchObject({ state: "written", journalEntryId: entry?.id });
    expect(entry?.previous.equals(p.expected)).toBe(true);
  });

  it("modifies the NIC's MAC: removed and re-added at the same slot, the file records the new MAC", async () => {
    const mac = newMac();
    const p = await plan("gamma.lab", { action: "modify-nic", ref: uuid, mac });
    expect(p.plan.slot.slot).toBe(0x10);
    const r = await run("gamma.lab", p);
    expectOk(r);
    const qmp = await openQmp(session, instancePaths(ROOT(), "gamma.lab").qmp);
    try {
      expect((await livePci(qmp)).find((d) => d.qdevId === id)?.slot).toBe(0x10);
      expect(await qmp.execute("qom-get", { path: `/machine/peripheral/${id}`, property: "mac" })).toBe(mac);
    } finally {
      qmp.close();
    }
    const rt = readRuntime(await runtimeText("gamma.lab")).runtime;
    expect(rt.nics.find((n) => n.uuid === uuid)).toMatchObject({ mac, hvinfo: { addr: "0x10", id } });
    expect(await guestPci("gamma.lab", (a) => a.includes("0000:00:10.0"))).toContain("0000:00:10.0");
  });

  it("removes the NIC: DEVICE_DELETED, then the guest no longer sees it, the tap is gone and the file no longer has it", async () => {
    const events: StepProgress[] = [];
    const p = await plan("gamma.lab", { action: "remove", kind: "nic", ref: uuid });
    const r = await run("gamma.lab", p, events);
    expectOk(r);
    expect(events.some((e) => e.kind === "wait-device-deleted" && e.state === "waiting-guest")).toBe(true);
    expect(events.find((e) => e.kind === "wait-device-deleted" && e.state === "done")?.detail).toMatch(/DEVICE_DELETED|left the bus/);
    expect(await guestPci("gamma.lab", (a) => !a.includes("0000:00:10.0"))).not.toContain("0000:00:10.0");
    expect(existsSync(`/sys/class/net/${tap}`)).toBe(false);
    const text = await runtimeText("gamma.lab");
    expect(readRuntime(text).runtime.nics.map((n) => n.uuid)).not.toContain(uuid);
    expect(text).toBe(gammaC.runtimeText);
    expect(existsSync(join(instancePaths(ROOT(), "gamma.lab").nicDir, "1"))).toBe(false);
  });

  it("runs the node's Ganeti ifup script when there is one (Debian's kvm-ifup under the node root)", async () => {
    const hookDir = join(ROOT(), "usr/lib/ganeti");
    await mkdir(hookDir, { recursive: true });
    await symlink("/usr/lib/ganeti/kvm-ifup", join(hookDir, "kvm-ifup"));
    try {
      const u = newDeviceUuid();
      const p = await plan("gamma.lab", { action: "add-nic", uuid: u, mac: newMac(), link: node.network.bridge! });
      const r = await run("gamma.lab", p);
      expectOk(r);
      const t = `tap${u.slice(0, 8)}`;
      expect(r.notes.join("\n")).toContain(`ran ${hookDir}/kvm-ifup`);
      expect(await linkMaster(t)).toContain(`INTERFACE=${node.network.bridge}`);
      // Ganeti's fix_mac gives the tap an fe: MAC so the bridge never takes it.
      expect((await readFile(`/sys/class/net/${t}/address`, "utf8")).trim()).toMatch(/^fe:/);
      expectOk(await run("gamma.lab", await plan("gamma.lab", { action: "remove", kind: "nic", ref: u })));
      expect(existsSync(`/sys/class/net/${t}`)).toBe(false);
    } finally {
      await rm(join(hookDir, "kvm-ifup"), { force: true });
    }
  });

  it("generation B with an unprivileged QEMU: the tap fd is passed over SCM_RIGHTS, and the file records an integer pci and a hotnic-…-pci-N id", async () => {
    const u = newDeviceUuid();
    const p = await plan(bravoB.name, { action: "add-nic", uuid: u, mac: newMac(), link: node.network.bridge! }, ["2.15.2"]);
    expect(p.plan.writeGeneration).toBe("B");
    expect(p.plan.steps.some((s) => s.kind === "node-pass-fd" && s.mechanism === "getfd")).toBe(true);
    const r = await run(bravoB.name, p);
    expectOk(r);
    // The passed tap is no longer persistent: it goes away with QEMU's fd, as Ganeti's taps do.
    const flags = parseInt((await readFile(`/sys/class/net/tap${u.slice(0, 8)}/tun_flags`, "utf8")).trim(), 16);
    expect(flags & 0x0800).toBe(0);
    const slot = p.plan.slot.slot!;
    const expectedId = `hotnic-${u.slice(0, 8)}-pci-${slot}`;
    const raw = JSON.parse(await runtimeText(bravoB.name)) as unknown[];
    expect(raw).toHaveLength(4);
    const nic = (raw[1] as Record<string, unknown>[]).find((n) => n.uuid === u)!;
    expect(nic.pci).toBe(slot);
    expect(nic).not.toHaveProperty("hvinfo");
    const qmp = await openQmp(session, instancePaths(ROOT(), bravoB.name).qmp);
    try {
      expect((await livePci(qmp)).find((d) => d.qdevId === expectedId)?.slot).toBe(slot);
    } finally {
      qmp.close();
    }
    expect(await guestPci(bravoB.name, (a) => a.includes(`0000:00:${slot.toString(16).padStart(2, "0")}.0`))).toContain(`0000:00:${slot.toString(16).padStart(2, "0")}.0`);
  });
});
