// Repairs of every drift among Ganeti's configuration, the runtime file and
// the live bus, against the real two-node cluster, on an instance the test
// creates (and removes). Each drift is made on purpose:
// - file and live, not in the configuration: a runtime-only NIC add; adopt
//   records it in Ganeti's configuration and re-plugs it at the same slot
//   under Ganeti's id, after which Ganeti's own hot-remove finds it;
// - live only: device_add over QMP; record it (MAC and link given), or unplug it;
// - file only: device_del over QMP behind the file's back; replug it at its
//   recorded slot, or forget it;
// - configuration only: gnt-instance modify --net add without --hotplug; plug
//   it (then Ganeti can hot-remove it), or unrecord it;
// - configuration and live, not in the file: the runtime file edited; record
//   it from Ganeti's configuration.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KVM_DIR, addInstance, kvmPaths } from "../../electron/lab/ganeti/cluster.js";
import { paths } from "../../electron/lab/ganeti/layout.js";
import type { NodeSession } from "../../electron/ssh/session.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { HotplugChanges, newMac } from "../../electron/hotplug/index.js";
import { execOnNode } from "../../electron/on-node/exec.js";
import { QmpClient } from "../../electron/qmp/client.js";
import type { ChangeOutcome, ChangeRequestInput } from "../../shared/hotplug/index.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import { buildCli } from "../unit/cli-bundle.js";
import {
  describeGaneti,
  ganetiNicUuids,
  gntOut,
  guestAddress,
  guestSees,
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

const NAME = "repair1";
/** A disk of ours: a file in Ganeti's shared file storage. */
const DISK_FILE = `${NAME}-extra.img`;

describeGaneti("repairs of every drift, through the review and Apply path", (lab) => {
  let journalDir: string;
  let changes: HotplugChanges;
  const nodes = labNodes(lab);
  const sessionNow = async () => nodes.session(await pnodeOf(NAME));
  const target = () => nodes.target(NAME);
  const reviewThenApply = async (request: ChangeRequestInput, between?: () => Promise<void>) => reviewAndApply(changes, await target(), NAME, request, between);
  /** The CLI on node 1 (the master), reached through its ProxyCommand. */
  const cli = masterCli(() => journalDir);
  const done = (o: ChangeOutcome) => {
    if (!o.ok) throw new Error(`the change failed: ${o.error.message}\n${o.undone.join("\n")}`);
    return o;
  };
  /** A runtime-only NIC add (live and in the runtime file, not in Ganeti's configuration); its uuid. */
  const runtimeOnlyNic = async (slot: string): Promise<string> => {
    const r = await changes.now(await target(), NAME, { action: "add-nic", link: lab.bridge, slot, runtimeOnly: true });
    if (r.status !== "done") throw new Error(`runtime-only add: ${JSON.stringify(r)}`);
    const add = r.intents.find((i) => i.action === "add-nic");
    return (add as { uuid: string }).uuid;
  };
  const qmpCall = async (s: NodeSession, command: string, args: Record<string, unknown>) => {
    const q = await QmpClient.connect(await s.openUnixSocket(kvmPaths(NAME).qmp), { label: "behind the app's back" });
    try {
      return await q.execute(command, args);
    } finally {
      q.close();
    }
  };
  const linkExists = async (s: NodeSession, name: string) => (await execOnNode(s, ["ip", "link", "show", "dev", name])).code === 0;
  /** The MAC Ganeti's configuration has for a NIC uuid. */
  const ganetiMacs = async () => (await gntOut("gnt-instance", "list", "--no-headers", "-o", "nic.macs", NAME)).trim().split(",");

  beforeAll(async () => {
    journalDir = await mkdtemp(join(tmpdir(), "hd-ganeti-repairs-"));
    changes = new HotplugChanges({ journal: new Journal(journalDir) });
    await addInstance({ name: NAME, node: 1, template: "diskless", nics: 1 });
    const file = join(paths.sharedFileStorage, DISK_FILE);
    await writeFile(file, "");
    await truncate(file, 16 << 20);
    buildCli();
  });

  afterAll(async () => {
    nodes.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    await rm(join(paths.sharedFileStorage, DISK_FILE), { force: true });
    await rm(journalDir, { recursive: true, force: true });
  });

  it("adopts a NIC that is live and in the runtime file only: Ganeti records it with the same MAC and link, it is re-plugged at the same slot under Ganeti's id, and Ganeti's own hot-remove then finds it", async () => {
    const old = await runtimeOnlyNic("0x12");
    const oldId = deviceIdV2("nic", old);
    const s = await sessionNow();
    const mac = JSON.parse(await runtimeText(s, NAME))[1].find((n: { uuid: string }) => n.uuid === old).mac as string;
    const before = await ganetiNicUuids(NAME);
    const { plan, outcome } = await reviewThenApply({ action: "repair", repair: "adopt", ref: oldId });
    // The review warned of the link drop and showed Ganeti's command, then the unplug and the plug at the same slot.
    expect(plan.recording?.note).toMatch(/loses this NIC's link for a moment/);
    expect(plan.steps.map((x) => x.kind)).toEqual([
      "ganeti-config",
      "qmp",
      "wait-device-deleted",
      "qmp",
      "node-tap-remove",
      "verify",
      "node-nic-file",
      "node-tap-create",
      "node-pass-fd",
      "node-nic-file",
      "verify",
      "write-runtime",
    ]);
    const ok = done(outcome);
    const uuid = ok.ganetiJobs?.find((j) => !j.undo && j.provisionalUuid)?.uuid as string;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const id = deviceIdV2("nic", uuid);
    expect(await ganetiNicUuids(NAME)).toEqual([...before, uuid]);
    expect(await ganetiMacs()).toContain(mac);
    const live = await livePci(s, NAME);
    expect(live.get(0x12)).toBe(id);
    expect([...live.values()]).not.toContain(oldId);
    const text = await runtimeText(s, NAME);
    expect(runtimeSlots(text).get(uuid)).toBe(0x12);
    expect(runtimeSlots(text).has(old)).toBe(false);
    expect(text).toContain(`"mac": "${mac}"`);
    const index = JSON.parse(text)[1].findIndex((n: { uuid: string }) => n.uuid === uuid) as number;
    expect((await readNodeFile(s, `${KVM_DIR}/nic/${NAME}/${index}`)).trim()).toBe(`tap${uuid.slice(0, 8)}`);
    await guestSees(s, NAME, (a) => a.includes(guestAddress(0x12)));

    const out = await gntOut("gnt-instance", "modify", "--hotplug", "--net", `${uuid}:remove`, NAME);
    expect(out).toMatch(/hotplug:done/);
    expect((await livePci(s, NAME)).has(0x12)).toBe(false);
    expect(runtimeSlots(await runtimeText(s, NAME)).has(uuid)).toBe(false);
    expect(await ganetiNicUuids(NAME)).toEqual(before);
    expect(await linkExists(s, `tap${uuid.slice(0, 8)}`)).toBe(false);
  });

  it("undoes Ganeti's record when the adopt fails (the NIC unplugged behind its back after the review); replug then plugs it back", async () => {
    const old = await runtimeOnlyNic("0x18");
    const oldId = deviceIdV2("nic", old);
    const s = await sessionNow();
    const before = await ganetiNicUuids(NAME);
    const fileBefore = await runtimeText(s, NAME);
    const { outcome } = await reviewThenApply({ action: "repair", repair: "adopt", ref: old }, async () => {
      await qmpCall(s, "device_del", { id: oldId });
      await expect.poll(async () => (await livePci(s, NAME)).has(0x18), { timeout: 30_000 }).toBe(false);
    });
    if (outcome.ok) throw new Error("the adopt succeeded on a NIC that was gone");
    expect(outcome.failedStep.kind).toBe("qmp");
    expect(outcome.error.message).toMatch(/device_del/);
    expect(outcome.undone.at(-1)).toMatch(/^remove the NIC with MAC [0-9a-f:]{17} from Ganeti's configuration again \(configuration only\) \(NIC [0-9a-f-]{36}, job \d+\)$/);
    expect(outcome.notUndone).toEqual([]);
    expect(await ganetiNicUuids(NAME)).toEqual(before);
    expect(await runtimeText(s, NAME)).toBe(fileBefore);

    done((await reviewThenApply({ action: "repair", repair: "replug", ref: old })).outcome);
    expect((await livePci(s, NAME)).get(0x18)).toBe(oldId);
    done((await reviewThenApply({ action: "remove", kind: "nic", ref: old })).outcome);
  });

  it("undoes everything when the adopt fails after the guest released the NIC (its new tap's name taken on the node): the NIC is plugged back at its slot under its old id, and Ganeti's record removed", async () => {
    const old = await runtimeOnlyNic("0x19");
    const oldId = deviceIdV2("nic", old);
    const s = await sessionNow();
    const before = await ganetiNicUuids(NAME);
    const fileBefore = await runtimeText(s, NAME);
    const t = await target();
    const reviewed = await changes.review(t, NAME, { action: "repair", repair: "adopt", ref: old });
    if (!reviewed.ok) throw new Error(reviewed.refusals.map((r) => r.message).join("; "));
    let squatter: string | undefined;
    // Once Ganeti has named the NIC (and before the next step runs: progress is awaited), a tap of the name the new NIC's would have is made on the node.
    const outcome = await changes.apply(changes.kept.take(reviewed.kept.planId)!, async () => t, {
      progress: async (p) => {
        const uuid = p.kind === "ganeti-config" && p.state === "done" ? /recorded the NIC as ([0-9a-f-]{36})/.exec(p.detail ?? "")?.[1] : undefined;
        if (!uuid) return;
        squatter = `tap${uuid.slice(0, 8)}`;
        const r = await execOnNode(s, ["ip", "tuntap", "add", "dev", squatter, "mode", "tap"]);
        if (r.code !== 0) throw new Error(`could not make ${squatter}: ${r.stderr}`);
      },
    });
    try {
      expect(squatter).toBeDefined();
      if (outcome.ok) throw new Error("the adopt succeeded though its tap's name was taken");
      expect(outcome.failedStep.kind).toBe("node-tap-create");
      expect(outcome.error.message).toMatch(new RegExp(`${squatter} already exists`));
      expect(outcome.undone).toEqual(expect.arrayContaining([`plug ${oldId} back where it was (undo of its unplug) (${oldId} is back at 0x19)`]));
      expect(outcome.undone.at(-1)).toMatch(/^remove the NIC with MAC [0-9a-f:]{17} from Ganeti's configuration again \(configuration only\)/);
      expect(outcome.notUndone).toEqual([]);
      expect((await livePci(s, NAME)).get(0x19)).toBe(oldId);
      expect(await ganetiNicUuids(NAME)).toEqual(before);
      expect(await runtimeText(s, NAME)).toBe(fileBefore);
      await guestSees(s, NAME, (a) => a.includes(guestAddress(0x19)));
    } finally {
      if (squatter) await execOnNode(s, ["ip", "link", "del", "dev", squatter]);
    }
    done((await reviewThenApply({ action: "remove", kind: "nic", ref: old })).outcome);
  });

  it("refuses a repair that does not fit the drift, naming the device and what applies", async () => {
    const t = await target();
    const first = (await ganetiNicUuids(NAME))[0]!;
    const r = await changes.review(t, NAME, { action: "repair", repair: "adopt", ref: first });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.refusals[0]!.message).toMatch(new RegExp(`^adopt does not apply to nic nic-[0-9a-f-]+ of ${NAME}: it is all three .*Nothing here repairs it\\.$`));
  });

  it("live only (device_add over QMP): records one in the runtime file with the MAC and link given, unplugs another", async () => {
    const s = await sessionNow();
    const a = { id: "nic-0a0a0a0a-0000-4000", mac: newMac() };
    const b = { id: "nic-0b0b0b0b-0000-4000", mac: newMac() };
    await qmpCall(s, "device_add", { driver: "virtio-net-pci", id: a.id, bus: "pci.0", addr: "0x13", mac: a.mac });
    await qmpCall(s, "device_add", { driver: "virtio-net-pci", id: b.id, bus: "pci.0", addr: "0x14", mac: b.mac });

    const rec = await reviewThenApply({ action: "repair", repair: "record", ref: a.id, mac: a.mac, link: lab.bridge });
    expect(rec.plan.recording).toMatchObject({ mode: "runtime-only" });
    expect(rec.plan.steps.map((x) => x.kind)).toEqual(["verify", "write-runtime"]);
    done(rec.outcome);
    const text = await runtimeText(s, NAME);
    expect(recordedPci(text).get(a.id)).toBe(0x13);
    expect(text).toContain(`"mac": "${a.mac}"`);

    const un = await reviewThenApply({ action: "repair", repair: "unplug", ref: b.id });
    expect(un.plan.steps.map((x) => x.kind)).toEqual(["qmp", "wait-device-deleted", "qmp", "verify"]);
    const u = done(un.outcome);
    expect(u.written.state).toBe("unchanged");
    expect((await livePci(s, NAME)).has(0x14)).toBe(false);
    expect(await runtimeText(s, NAME)).toBe(text);
  });

  it("file only (device_del over QMP behind the file's back): plugs it back at its recorded slot, then drops it from the file", async () => {
    const uuid = await runtimeOnlyNic("0x15");
    const id = deviceIdV2("nic", uuid);
    const s = await sessionNow();
    const unplugBehind = async () => {
      await qmpCall(s, "device_del", { id });
      await expect.poll(async () => (await livePci(s, NAME)).has(0x15), { timeout: 30_000 }).toBe(false);
    };
    await unplugBehind();
    const text = await runtimeText(s, NAME);

    const re = await reviewThenApply({ action: "repair", repair: "replug", ref: uuid });
    expect(re.plan.steps.map((x) => x.kind)).toEqual(["qmp", "node-tap-remove", "node-tap-create", "node-pass-fd", "node-nic-file", "verify"]);
    expect(done(re.outcome).written.state).toBe("unchanged");
    expect((await livePci(s, NAME)).get(0x15)).toBe(id);
    expect(await runtimeText(s, NAME)).toBe(text);
    await guestSees(s, NAME, (a) => a.includes(guestAddress(0x15)));

    await unplugBehind();
    const index = JSON.parse(text)[1].findIndex((n: { uuid: string }) => n.uuid === uuid) as number;
    // From the command line this time: a dry run first, then the repair.
    const dry = await cli(["repair", NAME, id, "--action", "forget", "--dry-run"]);
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ command: "repair forget", status: "dry-run", intent: { action: "forget", kind: "nic", ref: id } });
    expect(runtimeSlots(await runtimeText(s, NAME)).get(uuid)).toBe(0x15);
    const fo = await cli(["repair", NAME, id, "--action", "forget"]);
    expect(fo.code, fo.stdout + fo.stderr).toBe(0);
    expect(JSON.parse(fo.stdout)).toMatchObject({ status: "done", plan: { recording: { mode: "ganeti", note: expect.stringMatching(/^Dropped from the runtime file/) } } });
    expect(runtimeSlots(await runtimeText(s, NAME)).has(uuid)).toBe(false);
    expect(await linkExists(s, `tap${uuid.slice(0, 8)}`)).toBe(false);
    await expect(readNodeFile(s, `${KVM_DIR}/nic/${NAME}/${index}`)).rejects.toThrow();
  });

  it("a disk in the runtime file only (device_del over QMP): opened again from its recorded path and plugged back at its slot", async () => {
    const r = await changes.now(await target(), NAME, { action: "add-disk", path: `${lab.sharedFileStorageDir}/${DISK_FILE}`, bus: "pci", slot: "0x1a", runtimeOnly: true });
    if (r.status !== "done") throw new Error(`runtime-only disk add: ${JSON.stringify(r)}`);
    const uuid = (r.intents[0] as { uuid: string }).uuid;
    const id = deviceIdV2("disk", uuid);
    const s = await sessionNow();
    await qmpCall(s, "device_del", { id });
    await expect.poll(async () => (await livePci(s, NAME)).has(0x1a), { timeout: 30_000 }).toBe(false);
    const text = await runtimeText(s, NAME);
    const re = await reviewThenApply({ action: "repair", repair: "replug", ref: uuid });
    expect(re.plan.steps.map((x) => (x.kind === "qmp" ? x.command : x.kind))).toEqual(["blockdev-del", "blockdev-add", "device_add", "verify"]);
    expect(done(re.outcome).written.state).toBe("unchanged");
    expect((await livePci(s, NAME)).get(0x1a)).toBe(id);
    expect(await runtimeText(s, NAME)).toBe(text);
    await guestSees(s, NAME, (a) => a.includes(guestAddress(0x1a)));
    done((await reviewThenApply({ action: "remove", kind: "disk", ref: uuid })).outcome);
  });

  it("only in Ganeti's configuration (added without --hotplug): plugs one at a chosen slot under Ganeti's id (then Ganeti hot-removes it), drops another from the configuration", async () => {
    const before = await ganetiNicUuids(NAME);
    const mac1 = newMac();
    const mac2 = newMac();
    await gntOut("gnt-instance", "modify", "--net", `add:mac=${mac1},link=${lab.bridge}`, NAME);
    await gntOut("gnt-instance", "modify", "--net", `add:mac=${mac2},link=${lab.bridge}`, NAME);
    const [u1, u2] = (await ganetiNicUuids(NAME)).slice(before.length);
    const s = await sessionNow();

    const pl = await reviewThenApply({ action: "repair", repair: "plug", ref: u1!, slot: "0x16" });
    expect(pl.plan.steps.some((x) => x.kind === "ganeti-config")).toBe(false);
    done(pl.outcome);
    expect((await livePci(s, NAME)).get(0x16)).toBe(deviceIdV2("nic", u1!));
    expect(runtimeSlots(await runtimeText(s, NAME)).get(u1!)).toBe(0x16);

    const un = await reviewThenApply({ action: "repair", repair: "unrecord", ref: u2! });
    expect(un.plan.steps.map((x) => x.kind)).toEqual(["ganeti-config"]);
    done(un.outcome);
    expect(await ganetiNicUuids(NAME)).toEqual([...before, u1]);
    expect(await ganetiMacs()).not.toContain(mac2);

    expect(await gntOut("gnt-instance", "modify", "--hotplug", "--net", `${u1}:remove`, NAME)).toMatch(/hotplug:done/);
    expect((await livePci(s, NAME)).has(0x16)).toBe(false);
  });

  it("in Ganeti's configuration and live but not in the runtime file (the file edited): records it from the configuration, and all three agree", async () => {
    const before = await ganetiNicUuids(NAME);
    const mac = newMac();
    await gntOut("gnt-instance", "modify", "--net", `add:mac=${mac},link=${lab.bridge}`, NAME);
    const uuid = (await ganetiNicUuids(NAME)).find((u) => !before.includes(u))!;
    const pl = await reviewThenApply({ action: "repair", repair: "plug", ref: uuid, slot: "0x17" });
    done(pl.outcome);
    const s = await sessionNow();
    // Edit the runtime file behind the app's back: the NIC leaves it, stays live and in the configuration.
    const parsed = JSON.parse(await runtimeText(s, NAME));
    parsed[1] = parsed[1].filter((n: { uuid: string }) => n.uuid !== uuid);
    const sftp = await s.sftp();
    await new Promise<void>((resolve, reject) => sftp.writeFile(kvmPaths(NAME).runtime, JSON.stringify(parsed), (err) => (err ? reject(err) : resolve())));
    sftp.end();

    const rec = await reviewThenApply({ action: "repair", repair: "record", ref: uuid });
    expect(rec.plan.recording).toMatchObject({ mode: "ganeti", note: expect.stringMatching(/all three sources then agree/) });
    done(rec.outcome);
    const text = await runtimeText(s, NAME);
    expect(runtimeSlots(text).get(uuid)).toBe(0x17);
    expect(text).toContain(`"mac": "${mac}"`);
    expect(await gntOut("gnt-instance", "modify", "--hotplug", "--net", `${uuid}:remove`, NAME)).toMatch(/hotplug:done/);
    expect((await livePci(s, NAME)).has(0x17)).toBe(false);
  });
});
