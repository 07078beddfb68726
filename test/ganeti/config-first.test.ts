// Changes Ganeti knows about, against the real two-node cluster, on an
// instance the test creates with gnt-instance add (and removes):
// - a NIC add records the NIC in Ganeti's configuration first (on the
//   master, without --hotplug), then plugs it at the slot we chose under the
//   QEMU id Ganeti derives from the uuid it gave: the guest sees it there,
//   gnt-instance info lists it, the runtime file and Ganeti's nic file have
//   it, and Ganeti's own hot-remove then finds and removes it;
// - a failure at the QMP step (the chosen slot taken live behind our back
//   after the review) undoes everything, Ganeti's configuration included;
// - the command line: --runtime-only leaves Ganeti's configuration alone;
//   by default a NIC is recorded first, and a NIC Ganeti knows is removed
//   through Ganeti's own hotplug with its job's log printed;
// - a NIC added configuration first survives a migration at its slot and a
//   hard reboot (back at a slot Ganeti picks: all three sources agree), and
//   is then changed and removed through Ganeti with its job's log shown.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVM_DIR, addInstance, kvmPaths, rearmKvmd } from "../../electron/lab/ganeti/cluster.js";
import type { NodeSession } from "../../electron/ssh/session.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { HotplugChanges, newMac } from "../../electron/hotplug/index.js";
import { execOnNode } from "../../electron/on-node/exec.js";
import { QmpClient } from "../../electron/qmp/client.js";
import { readGanetiNodeFiles } from "../../electron/cluster/ganeti-files.js";
import { inventoryContextOf } from "../../electron/cluster/cluster-of.js";
import { loadInstanceView } from "../../electron/inventory/node-inventory.js";
import type { ChangeOutcome, ChangeRequestInput, StepProgress } from "../../shared/hotplug/index.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import { buildCli } from "../unit/cli-bundle.js";
import {
  describeGaneti,
  ganetiNicUuids,
  gntOut,
  guestAddress,
  guestSees,
  labNodeInfo,
  labNodes,
  livePci,
  masterCli,
  pnodeOf,
  readNodeFile,
  recordedPci,
  reviewThenApply as reviewAndApply,
  runtimeSlots,
  runtimeText,
} from "./ganeti-fixture.js";

const NAME = "cfgfirst1";

describeGaneti("changes Ganeti knows about: configuration first, through Ganeti, runtime only where chosen", (lab) => {
  let journalDir: string;
  let changes: HotplugChanges;
  const nodes = labNodes(lab);
  const session = nodes.session;
  const sessionNow = async () => session(await pnodeOf(NAME));
  const target = () => nodes.target(NAME);

  /** Review, then Apply (the UI's way), with every progress event kept. */
  const reviewThenApply = async (request: ChangeRequestInput, between?: () => Promise<void>) => reviewAndApply(changes, await target(), NAME, request, between);
  /** Lock, read, plan and run at once (the CLI's way). */
  const now = async (request: ChangeRequestInput) => {
    const progress: StepProgress[] = [];
    const r = await changes.now(await target(), NAME, request, { report: { progress: (p) => void progress.push(p) } });
    if (r.status !== "done" && r.status !== "failed") throw new Error(`our change was ${r.status}: ${JSON.stringify(r)}`);
    return { plan: r.plan, outcome: r.outcome, progress };
  };
  const done = (o: ChangeOutcome) => {
    if (!o.ok) throw new Error(`the change failed: ${o.error.message}`);
    return o;
  };
  /** The uuid Ganeti gave the NIC a change recorded. */
  const recordedUuid = (o: ChangeOutcome) => o.ganetiJobs?.find((j) => !j.undo && j.provisionalUuid)?.uuid;
  const info = () => gntOut("gnt-instance", "info", NAME);
  /** Whether the node has a network interface of that name. */
  const linkExists = async (s: NodeSession, name: string) => (await execOnNode(s, ["ip", "link", "show", "dev", name])).code === 0;
  /** The CLI on node 1 (the master), reached through its ProxyCommand. */
  const cli = masterCli(() => journalDir);

  beforeAll(async () => {
    journalDir = await mkdtemp(join(tmpdir(), "hd-ganeti-cfgfirst-"));
    changes = new HotplugChanges({ journal: new Journal(journalDir) });
    await addInstance({ name: NAME, node: 1, template: "diskless", nics: 1 });
    buildCli();
  });

  afterAll(async () => {
    nodes.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    await rm(journalDir, { recursive: true, force: true });
  });

  let first: { uuid: string; mac: string } | undefined;

  it("records a NIC in Ganeti's configuration first, then plugs it at the chosen slot under the id Ganeti derives from the uuid it gave", async () => {
    const before = await ganetiNicUuids(NAME);
    const { plan, outcome, progress } = await reviewThenApply({ action: "add-nic", link: lab.bridge, slot: "0x17" });
    // The review showed Ganeti's command first, with the QMP steps after it, and said what configuration first means.
    expect(plan.recording).toMatchObject({ mode: "ganeti", note: expect.stringMatching(/^Configuration first: Ganeti records the NIC \(gnt-instance modify on node1\.ganeti\.example/) });
    const record = plan.steps[0]!;
    if (record.kind !== "ganeti-config") throw new Error(`first step is ${record.kind}`);
    expect(record.argv.slice(0, 4)).toEqual(["gnt-instance", "modify", "--print-jobid", "--net"]);
    expect(plan.steps.map((s) => s.kind)).toEqual(["ganeti-config", "node-tap-create", "node-pass-fd", "node-nic-file", "verify", "write-runtime"]);
    const ok = done(outcome);
    const uuid = recordedUuid(ok)!;
    const mac = record.mac!;
    const id = deviceIdV2("nic", uuid);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(uuid).not.toBe(record.uuid); // the plan's was provisional
    expect(ok.verified).toEqual([{ id, bus: "pci", expect: "present", slot: 0x17 }]);
    expect(ok.ganetiJobs).toEqual([expect.objectContaining({ step: 0, ok: true, jobId: expect.any(Number), uuid, provisionalUuid: record.uuid })]);
    // The job was shown as it ran.
    expect(progress.some((p) => p.kind === "ganeti-config" && p.state === "running" && /^Ganeti job \d+: gnt-instance modify --print-jobid --net add:mac=/.test(p.detail ?? ""))).toBe(true);

    // Ganeti's configuration has it, under that uuid and MAC.
    expect(await ganetiNicUuids(NAME)).toEqual([...before, uuid]);
    expect(await info()).toMatch(new RegExp(`MAC: ${mac}[\\s\\S]*?UUID: ${uuid}`));
    // The live bus and the runtime file have it at 0x17 under Ganeti's id; Ganeti's nic file names its tap.
    const s = await sessionNow();
    expect((await livePci(s, NAME)).get(0x17)).toBe(id);
    const text = await runtimeText(s, NAME);
    expect(runtimeSlots(text).get(uuid)).toBe(0x17);
    expect(recordedPci(text).get(id)).toBe(0x17);
    expect((await readNodeFile(s, `${KVM_DIR}/nic/${NAME}/1`)).trim()).toBe(`tap${uuid.slice(0, 8)}`);
    await guestSees(s, NAME, (a) => a.includes(guestAddress(0x17)));
    first = { uuid, mac };
  });

  it("lets Ganeti's own hot-remove find it and remove it: from the bus, the runtime file, the guest and Ganeti's configuration", async () => {
    expect(first).toBeDefined();
    const { uuid } = first!;
    const out = await gntOut("gnt-instance", "modify", "--hotplug", "--net", `${uuid}:remove`, NAME);
    expect(out).toMatch(/hotplug:done/);
    const s = await sessionNow();
    expect([...(await livePci(s, NAME)).values()]).not.toContain(deviceIdV2("nic", uuid));
    expect(runtimeSlots(await runtimeText(s, NAME)).has(uuid)).toBe(false);
    expect(await ganetiNicUuids(NAME)).not.toContain(uuid);
    expect(await linkExists(s, `tap${uuid.slice(0, 8)}`)).toBe(false);
    await guestSees(s, NAME, (a) => !a.includes(guestAddress(0x17)));
  });

  it("undoes everything, Ganeti's configuration included, when the chosen slot is taken live behind its back after the review", async () => {
    const before = await ganetiNicUuids(NAME);
    const s = await sessionNow();
    const fileBefore = await runtimeText(s, NAME);
    const qmpCall = async (command: string, args: Record<string, unknown>) => {
      const q = await QmpClient.connect(await s.openUnixSocket(kvmPaths(NAME).qmp), { label: "intruder" });
      try {
        return await q.execute(command, args);
      } finally {
        q.close();
      }
    };
    const { plan, outcome, progress } = await reviewThenApply({ action: "add-nic", link: lab.bridge, slot: "0x15" }, async () => {
      await qmpCall("device_add", { driver: "virtio-rng-pci", id: "intruder", bus: "pci.0", addr: "0x15" });
    });
    try {
      if (outcome.ok) throw new Error("the add succeeded on a taken slot");
      const mac = plan.steps[0]!.kind === "ganeti-config" ? plan.steps[0]!.mac! : "";
      expect(outcome.cause).toBe("qmp-refused");
      expect(outcome.failedStep.kind).toBe("node-pass-fd");
      expect(outcome.error.message).toMatch(/device_add/);
      // Ganeti had recorded it, and the undo removed it again (configuration only), after the live steps' undo.
      expect(outcome.undone.at(-1)).toMatch(new RegExp(`^remove the NIC with MAC ${mac} from Ganeti's configuration again \\(configuration only\\) \\(NIC [0-9a-f-]{36}, job \\d+\\)$`));
      expect(outcome.notUndone).toEqual([]);
      expect(outcome.ganetiJobs?.map((j) => [j.ok, j.undo ?? false])).toEqual([
        [true, false],
        [true, true],
      ]);
      expect(progress.some((p) => p.kind === "ganeti-config" && p.state === "undone")).toBe(true);
      expect(await ganetiNicUuids(NAME)).toEqual(before);
      expect(await info()).not.toContain(mac);
      expect(await runtimeText(s, NAME)).toBe(fileBefore);
      expect((await livePci(s, NAME)).get(0x15)).toBe("intruder");
    } finally {
      await qmpCall("device_del", { id: "intruder" });
      await expect.poll(async () => (await livePci(s, NAME)).has(0x15), { timeout: 30_000 }).toBe(false);
    }
  });

  it("from the command line: --runtime-only leaves Ganeti's configuration alone; by default the NIC is recorded first, and Ganeti removes what it knows, its job's log printed", async () => {
    const before = await ganetiNicUuids(NAME);
    const runtimeOnly = await cli(["nic", "add", NAME, "--slot", "0x14", "--link", lab.bridge, "--runtime-only"]);
    expect(runtimeOnly.code, runtimeOnly.stdout + runtimeOnly.stderr).toBe(0);
    const ro = JSON.parse(runtimeOnly.stdout) as { status: string; intent: { uuid: string }; plan: { recording: { mode: string; note: string }; steps: { kind: string }[] } };
    expect(ro.plan.recording).toMatchObject({ mode: "runtime-only", note: expect.stringMatching(/will not know this device; it is dropped at the next shutdown\/startup.*\(chosen\)/) });
    expect(ro.plan.steps.map((st) => st.kind)).not.toContain("ganeti-config");
    expect(await ganetiNicUuids(NAME)).toEqual(before);
    const s = await sessionNow();
    expect((await livePci(s, NAME)).get(0x14)).toBe(deviceIdV2("nic", ro.intent.uuid));

    const recorded = await cli(["nic", "add", NAME, "--slot", "0x13", "--link", lab.bridge]);
    expect(recorded.code, recorded.stdout + recorded.stderr).toBe(0);
    const rec = JSON.parse(recorded.stdout) as { status: string; plan: { recording: { mode: string } }; result: ChangeOutcome };
    expect(rec.plan.recording.mode).toBe("ganeti");
    const uuid = recordedUuid(rec.result)!;
    expect(recorded.stderr).toMatch(/\[1\/6\] Ganeti: Ganeti job \d+: gnt-instance modify --print-jobid --net add:mac=/);
    expect(await ganetiNicUuids(NAME)).toEqual([...before, uuid]);
    expect((await livePci(s, NAME)).get(0x13)).toBe(deviceIdV2("nic", uuid));

    const removed = await cli(["nic", "remove", NAME, uuid]);
    expect(removed.code, removed.stdout + removed.stderr).toBe(0);
    const rm1 = JSON.parse(removed.stdout) as { plan: { steps: { kind: string }[]; recording: { note: string } }; result: ChangeOutcome };
    expect(rm1.plan.steps.map((st) => st.kind)).toEqual(["ganeti-config", "verify"]);
    expect(rm1.plan.recording.note).toMatch(/^Through Ganeti: its own hotplug/);
    expect(rm1.result).toMatchObject({ ok: true, written: { state: "by-ganeti", ganetiJob: expect.any(Number) } });
    expect(removed.stderr).toMatch(/Ganeti: .* - INFO: Trying to hotplug device\.\.\./);
    expect(removed.stderr).toMatch(/Ganeti: .* - INFO: Hotplug done\./);
    expect(await ganetiNicUuids(NAME)).toEqual(before);
    expect((await livePci(s, NAME)).has(0x13)).toBe(false);

    // The runtime-only NIC Ganeti never knew goes our way (nothing to change in its configuration).
    const ours = await cli(["nic", "remove", NAME, ro.intent.uuid]);
    expect(ours.code, ours.stdout + ours.stderr).toBe(0);
    expect((JSON.parse(ours.stdout) as { plan: { steps: { kind: string }[] } }).plan.steps.map((st) => st.kind)).toContain("write-runtime");
    expect((await livePci(s, NAME)).has(0x14)).toBe(false);
  });

  let carried: { uuid: string } | undefined;

  it("a NIC added configuration first migrates at its slot: the guest sees it there on the other node", async () => {
    const { outcome } = await now({ action: "add-nic", link: lab.bridge, slot: "0x16" });
    const uuid = recordedUuid(done(outcome))!;
    const from = await pnodeOf(NAME);
    await gntOut("gnt-instance", "migrate", "-f", NAME);
    const to = await pnodeOf(NAME);
    expect(to).not.toBe(from);
    await rearmKvmd(NAME);
    const s = await sessionNow();
    expect((await livePci(s, NAME)).get(0x16)).toBe(deviceIdV2("nic", uuid));
    expect(runtimeSlots(await runtimeText(s, NAME)).get(uuid)).toBe(0x16);
    await guestSees(s, NAME, (a) => a.includes(guestAddress(0x16)));
    expect(await ganetiNicUuids(NAME)).toContain(uuid);
    carried = { uuid };
  });

  it("comes back after a hard reboot, at the slot Ganeti picks, and the three-way view says all three", async () => {
    expect(carried).toBeDefined();
    const { uuid } = carried!;
    await gntOut("gnt-instance", "reboot", "--type=hard", "--shutdown-timeout=0", NAME);
    await rearmKvmd(NAME);
    const s = await sessionNow();
    const slot = runtimeSlots(await runtimeText(s, NAME)).get(uuid);
    expect(slot).toBeDefined();
    expect((await livePci(s, NAME)).get(slot!)).toBe(deviceIdV2("nic", uuid));
    await guestSees(s, NAME, (a) => a.includes(guestAddress(slot!)));
    const files = await readGanetiNodeFiles(await session("node1"), "/");
    const { context } = inventoryContextOf(files, labNodeInfo("node1").ssh.host, undefined);
    const view = await loadInstanceView(s, NAME, { nodeId: "n", root: "/", ganetiVersion: lab.ganetiVersion, ganeti: context });
    expect(view.threeWay.find((d) => d.uuid === uuid)).toMatchObject({ combination: "all-three", where: { config: true, file: true, live: true }, slot, drift: false });
    expect(view.threeWay.every((d) => d.combination === "all-three")).toBe(true);
  });

  it("changes and removes it through Ganeti's own hotplug, the job's log shown as it runs", async () => {
    expect(carried).toBeDefined();
    const { uuid } = carried!;
    const s = await sessionNow();
    const slot = runtimeSlots(await runtimeText(s, NAME)).get(uuid)!;
    const mac = newMac();
    const modified = await now({ action: "modify-nic", ref: uuid, mac });
    expect(modified.plan.steps.map((st) => st.kind)).toEqual(["ganeti-config", "verify"]);
    const m = done(modified.outcome);
    expect(m.written).toMatchObject({ state: "by-ganeti", ganetiJob: m.ganetiJobs![0]!.jobId });
    expect(m.ganetiJobs![0]!.log.join("\n")).toMatch(/INFO: Trying to hotplug device\.\.\.[\s\S]*INFO: Hotplug done\./);
    expect(modified.progress.filter((p) => p.kind === "ganeti-config" && p.state === "running").map((p) => p.detail)).toEqual(
      expect.arrayContaining([expect.stringMatching(/INFO: Trying to hotplug device/), expect.stringMatching(/INFO: Hotplug done/)]),
    );
    expect(await info()).toMatch(new RegExp(`MAC: ${mac}[\\s\\S]*?UUID: ${uuid}`));
    expect((await livePci(s, NAME)).get(slot)).toBe(deviceIdV2("nic", uuid));
    expect(await runtimeText(s, NAME)).toContain(`"mac": "${mac}"`);

    const removed = await now({ action: "remove", kind: "nic", ref: uuid });
    const r = done(removed.outcome);
    expect(r.written.state).toBe("by-ganeti");
    expect(await ganetiNicUuids(NAME)).not.toContain(uuid);
    expect((await livePci(s, NAME)).has(slot)).toBe(false);
    expect(runtimeSlots(await runtimeText(s, NAME)).has(uuid)).toBe(false);
    await guestSees(s, NAME, (a) => !a.includes(guestAddress(slot)));
  });
});
