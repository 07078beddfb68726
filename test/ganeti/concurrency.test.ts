// Our changes and Ganeti's own hotplug on one instance at the same moment.
// Ganeti's hotplug does not take our lock: it loads the runtime file, runs
// QMP and saves the file. Our change asks Ganeti's job queue (on the master,
// found among the configured nodes) before it starts and after its write,
// retries once when Ganeti changed the file under it, and after Ganeti's
// jobs end re-records our devices a Ganeti save undid. Whatever the timing,
// the end state must be whole: every device on the live bus is recorded in
// the runtime file at its slot, and nothing recorded is missing from the bus;
// and a migration afterwards carries every device.
//
// Three races are made to happen on purpose, holding each side at the right
// moment (no fakes: real Ganeti, real QEMU, a real guest):
// - our run can be held between its steps (its progress listener is awaited);
// - Ganeti's NIC hot-add can be held between its runtime-file load and its
//   save: kvm-ifup runs the user-supplied /etc/ganeti/kvm-vif-bridge, which
//   the test installs on the instance's node, and which waits while a marker
//   file exists (taking the marker, so only the next NIC setup waits).
// Then many rounds start both at staggered offsets, both ways our change runs
// (review then Apply; the CLI's lock-read-run), adds and removals.
import { afterAll, beforeAll, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addInstance, onMachine, rearmKvmd } from "../../electron/lab/ganeti/cluster.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { HotplugChanges, newDeviceUuid, newMac, type ChangeRecord, type ChangeTarget } from "../../electron/hotplug/index.js";
import type { ChangeOutcome, ChangeRequestInput, StepProgress } from "../../shared/hotplug/index.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import { describeGaneti, ganetiNicUuids, gntOut, guestAddress, guestSees, labNodes, livePci, pnodeOf, recordedPci, reviewThenApply as reviewAndApply, runtimeText } from "./ganeti-fixture.js";

const NAME = "race1";
const ROUNDS = Math.max(16, Number(process.env.RACE_ROUNDS ?? 16));
/** Slots for our NICs, above where Ganeti's hot-adds land (it takes the lowest free slot the file shows). */
const OUR_SLOTS = [0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f];
const HOLD_MARKER = "/run/ganeti/hold-next-ifup";
const VIF_SCRIPT = "/etc/ganeti/kvm-vif-bridge";

/** Ganeti's user-supplied NIC script on the test's node: sets the NIC up as kvm-ifup would, after a hold while the marker exists. */
const HOLDING_VIF_SCRIPT = `#!/bin/bash
# Installed by test/ganeti/concurrency.test.ts: holds the next NIC setup while
# ${HOLD_MARKER} exists (taking it), so a Ganeti hot-add waits between its
# runtime-file load and its save.
source /usr/lib/ganeti/net-common
if [ -e ${HOLD_MARKER} ]; then
  rm -f ${HOLD_MARKER}
  sleep 3
fi
setup_bridge
setup_ovs
setup_route
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeGaneti("our changes racing Ganeti's own hotplug on one instance", (lab) => {
  const records: ChangeRecord[] = [];
  let journalDir: string;
  let changes: HotplugChanges;
  const nodes = labNodes(lab);
  const session = nodes.session;
  const target = () => nodes.target(NAME);
  const markerOnNode = async () => onMachine(await pnodeOf(NAME), HOLD_MARKER);

  /** Ganeti's own hot-add of a NIC; resolves when its command has returned. */
  const ganetiAdd = () => gntOut("gnt-instance", "modify", "--hotplug", "--net", `add:link=${lab.bridge}`, NAME);
  /** Ganeti's hot-remove of its last NIC (its first, from the instance's creation, stays). */
  const ganetiRemoveLast = async () => {
    const n = (await ganetiNicUuids(NAME)).length;
    if (n > 1) await gntOut("gnt-instance", "modify", "--hotplug", "--net", `${n - 1}:remove`, NAME);
  };
  /** Starts Ganeti's hot-add held inside its load-save window; resolves once it is there (its job running, the file loaded). */
  const ganetiAddHeld = async (): Promise<{ done: Promise<string> }> => {
    const marker = await markerOnNode();
    await writeFile(marker, "");
    const done = ganetiAdd();
    for (const t0 = Date.now(); existsSync(marker); await sleep(25)) {
      if (Date.now() - t0 > 60_000) {
        await rm(marker, { force: true });
        throw new Error(`Ganeti's hot-add never reached its NIC setup: ${await done.catch((e: unknown) => String(e))}`);
      }
    }
    // Wrapped: an async function returning the promise itself would wait for it.
    return { done };
  };

  // Runtime only: these race Ganeti's saves of the runtime file (configuration first is test/ganeti/config-first.test.ts).
  const ourAdd = (slot: number, uuid = newDeviceUuid()): ChangeRequestInput => ({ action: "add-nic", uuid, mac: newMac(), link: lab.bridge, slot, runtimeOnly: true });
  const ourRemove = (uuid: string): ChangeRequestInput => ({ action: "remove", kind: "nic", ref: uuid, runtimeOnly: true });

  /**
   * The CLI's way: lock, read, plan and run at once. `hold` runs at a
   * progress event and is awaited (a failing hold fails the test: the change
   * itself ignores its listener's errors).
   */
  const now = async (request: ChangeRequestInput, hold?: (p: StepProgress) => Promise<void> | void) => {
    const progress: StepProgress[] = [];
    let holdFailed: unknown;
    const r = await changes.now(await target(), NAME, request, {
      report: {
        progress: async (p) => {
          progress.push(p);
          await Promise.resolve(hold?.(p)).catch((err: unknown) => (holdFailed ??= err));
        },
      },
    });
    if (holdFailed) throw holdFailed;
    if (r.status !== "done" && r.status !== "failed") throw new Error(`our change was ${r.status}: ${JSON.stringify(r)}`);
    return { outcome: r.outcome, progress };
  };
  /** The UI's way: review (read and plan), then Apply, started when `go` says. */
  const reviewThenApply = async (request: ChangeRequestInput, go?: () => Promise<void>) => reviewAndApply(changes, await target(), NAME, request, go);

  /** Every device on the live bus (with a Ganeti-style id) is recorded at its slot, and every recorded one is live there. */
  const expectWhole = async (when: string) => {
    const s = await session(await pnodeOf(NAME));
    const live = [...(await livePci(s, NAME))].filter(([, id]) => /^(nic|disk)-/.test(id)).map(([slot, id]) => `${id}@${slot}`);
    const file = [...recordedPci(await runtimeText(s, NAME))].map(([id, slot]) => `${id}@${slot}`);
    expect(file.sort(), `${when}: the runtime file records exactly the live bus`).toEqual(live.sort());
  };
  const expectDone = (o: ChangeOutcome, when: string) => {
    expect(o.ok, `${when}: ${o.ok ? "" : o.error.message}`).toBe(true);
    expect(o.ganeti?.queue, `${when}: the job queue was asked`).toBe("checked");
    expect(o.ganeti?.master).toBe(lab.nodes[0]!.name);
  };
  /** Whole, with our NIC live; then ours and Ganeti's last NIC removed, and whole again. */
  const wholeThenTidy = async (uuid: string, when: string) => {
    await expectWhole(when);
    expect(await ourLive(uuid), `${when}: our NIC is live`).toBe(true);
    await now(ourRemove(uuid));
    await ganetiRemoveLast();
    await expectWhole(`${when}, tidied`);
  };
  const ourLive = async (uuid: string) => [...(await livePci(await session(await pnodeOf(NAME)), NAME)).values()].includes(deviceIdV2("nic", uuid));

  beforeAll(async () => {
    journalDir = await mkdtemp(join(tmpdir(), "hd-race-journal-"));
    changes = new HotplugChanges({ journal: new Journal(journalDir), record: (r) => void records.push(r) });
    await addInstance({ name: NAME, node: 2, template: "diskless", nics: 1 });
    const script = onMachine(2, VIF_SCRIPT);
    await writeFile(script, HOLDING_VIF_SCRIPT);
    await chmod(script, 0o755);
  });

  afterAll(async () => {
    nodes.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    for (const n of [1, 2]) await rm(onMachine(n, VIF_SCRIPT), { force: true });
    await rm(journalDir, { recursive: true, force: true });
  });

  it("re-records our NIC when a Ganeti hot-add that loaded the file before our write saves it after (the job started after our queue check)", async () => {
    const uuid = newDeviceUuid();
    let ganeti: Promise<string> | undefined;
    // Held after our lock-read: Ganeti's job enters the queue after our check, and loads the file before our write.
    const { outcome, progress } = await now(ourAdd(OUR_SLOTS[0]!, uuid), async (p) => {
      if (p.kind === "precheck" && p.state === "done" && !ganeti) ganeti = (await ganetiAddHeld()).done;
    });
    await ganeti;
    expectDone(outcome, "add");
    expect(outcome.ganeti?.waitedBefore).toEqual([]);
    expect(outcome.ganeti?.waitedAfter.map((j) => j.summary)).toEqual([`INSTANCE_SET_PARAMS(${NAME})`]);
    expect(outcome.ganeti?.repairs).toEqual([{ device: deviceIdV2("nic", uuid), action: "re-recorded", journalEntryId: expect.any(String) }]);
    expect(progress.some((p) => p.kind === "repair-runtime" && p.state === "done" && /re-recorded/.test(p.detail ?? ""))).toBe(true);
    expect(await ourLive(uuid)).toBe(true);
    await expectWhole("after the repair");
    // Ganeti's NIC is there too, recorded by its own save.
    expect(await ganetiNicUuids(NAME)).toHaveLength(2);

    // And the other way: our removal, while a Ganeti hot-add that loaded the file before it saves after.
    // Held after the guest let go and our QMP session closed (Ganeti's job asks QEMU too), just before our write.
    ganeti = undefined;
    const removed = await now(ourRemove(uuid), async (p) => {
      if (p.kind === "node-nic-file" && p.state === "done" && !ganeti) ganeti = (await ganetiAddHeld()).done;
    });
    await ganeti;
    expectDone(removed.outcome, "remove");
    expect(removed.outcome.ganeti?.repairs).toEqual([{ device: deviceIdV2("nic", uuid), action: "dropped", journalEntryId: expect.any(String) }]);
    expect(await ourLive(uuid)).toBe(false);
    await expectWhole("after the removal's repair");
    expect(await ganetiNicUuids(NAME)).toHaveLength(3);
    await ganetiRemoveLast();
    await ganetiRemoveLast();
    await expectWhole("after Ganeti removed its NICs");
  });

  it("undoes and makes our change again when Ganeti saves the file between our read and our write", async () => {
    const uuid = newDeviceUuid();
    let ganeti: Promise<string> | undefined;
    // Held after our NIC is live and verified, before our write: Ganeti's whole hot-add runs there.
    const { outcome, progress } = await now(ourAdd(OUR_SLOTS[1]!, uuid), async (p) => {
      if (p.kind === "verify" && p.state === "done" && !ganeti) {
        ganeti = ganetiAdd();
        await ganeti;
      }
    });
    expectDone(outcome, "add");
    expect(progress.filter((p) => p.kind === "write-runtime" && p.state === "failed")).toHaveLength(1);
    expect(progress.filter((p) => p.kind === "write-runtime" && p.state === "done")).toHaveLength(1);
    expect(outcome.notes[0]).toMatch(/^A first try was undone because Ganeti got in the way .*changed since the plan was made/);
    expect(records.at(-2)).toMatchObject({ outcome: "failed", instance: NAME });
    expect(records.at(-1)).toMatchObject({ outcome: "succeeded", instance: NAME });
    await wholeThenTidy(uuid, "after the second try");
  });

  it("makes Apply wait for a Ganeti job already running on the instance, then plans the reviewed change again on what the job left", async () => {
    const uuid = newDeviceUuid();
    let ganeti: Promise<string> | undefined;
    const { outcome, progress } = await reviewThenApply(ourAdd(OUR_SLOTS[2]!, uuid), async () => {
      ganeti = (await ganetiAddHeld()).done;
    });
    await ganeti;
    expectDone(outcome, "apply");
    expect(outcome.ganeti?.waitedBefore.map((j) => j.summary)).toEqual([`INSTANCE_SET_PARAMS(${NAME})`]);
    expect(outcome.ganeti?.repairs).toEqual([]);
    // The wait was shown while it lasted.
    expect(progress.some((p) => p.index === -1 && p.kind === "ganeti-jobs" && p.state === "running" && /Waiting for Ganeti's job \d+ \(INSTANCE_SET_PARAMS/.test(p.detail ?? ""))).toBe(true);
    await wholeThenTidy(uuid, "after Apply");
  });

  it("says in the review when Ganeti's job queue cannot be checked (the master is not a configured node), and still keeps the record whole after the write", async () => {
    const t = await target();
    const withoutMaster: ChangeTarget = { ...t, ganeti: { registry: () => nodes.registry.filter((n) => n.name !== lab.nodes[0]!.name) } };
    const uuid = newDeviceUuid();
    const reviewed = await changes.review(withoutMaster, NAME, ourAdd(OUR_SLOTS[4]!, uuid));
    if (!reviewed.ok) throw new Error(reviewed.refusals.map((r) => r.message).join("; "));
    expect(reviewed.kept.plan.warnings).toContainEqual(
      expect.stringMatching(/^Ganeti's job queue cannot be checked: The master, node1\.ganeti\.example \(198\.51\.100\.11\), is not among the nodes this change can reach: add it as a node/),
    );
    const outcome = await changes.apply(changes.kept.take(reviewed.kept.planId)!, async () => withoutMaster);
    expect(outcome.ok).toBe(true);
    expect(outcome.ganeti).toMatchObject({ queue: "unchecked", master: lab.nodes[0]!.name, repairs: [] });
    expect(outcome.notes).toContainEqual(expect.stringMatching(/^Ganeti's job queue was not checked: /));
    await expectWhole("after an unchecked change");
    await now(ourRemove(uuid));
  });

  it(`stays whole over ${ROUNDS} rounds of our change and Ganeti's hot-add, then both removals, started -300 to +300 ms apart`, async () => {
    const tally = { rounds: ROUNDS, changes: 0, repaired: 0, avoidedByQueueCheck: 0, waitedAfterWrite: 0, secondTry: 0 };
    const count = (o: ChangeOutcome) => {
      tally.changes++;
      if (o.ganeti?.repairs.length) tally.repaired++;
      if (o.ganeti?.waitedBefore.length) tally.avoidedByQueueCheck++;
      if (o.ganeti?.waitedAfter.length) tally.waitedAfterWrite++;
      if (o.notes.some((n) => n.startsWith("A first try was undone"))) tally.secondTry++;
    };
    /** Ours at 0, Ganeti's at `offset` ms (negative: Ganeti first); both to the end. */
    const together = async <T>(offset: number, ours: (go: () => Promise<void>) => Promise<T>, theirs: () => Promise<unknown>): Promise<T> => {
      let start!: () => void;
      const started = new Promise<void>((r) => (start = r));
      const theirsDone = started.then(() => sleep(Math.max(0, offset))).then(theirs);
      const oursDone = ours(async () => {
        start();
        await sleep(Math.max(0, -offset));
      });
      const [o] = await Promise.all([oursDone, theirsDone]);
      return o;
    };
    for (let i = 0; i < ROUNDS; i++) {
      const offset = Math.round(-300 + (600 * i) / (ROUNDS - 1));
      const uuid = newDeviceUuid();
      const viaApply = i % 2 === 0;
      const ganetiNics = (await ganetiNicUuids(NAME)).length;
      const when = `round ${i + 1} (${offset} ms, ${viaApply ? "review+Apply" : "lock-read-run"})`;
      // Adds: ours and Ganeti's.
      const added = await together(
        offset,
        (go) => (viaApply ? reviewThenApply(ourAdd(OUR_SLOTS[i % OUR_SLOTS.length]!, uuid), go) : go().then(() => now(ourAdd(OUR_SLOTS[i % OUR_SLOTS.length]!, uuid)))),
        ganetiAdd,
      );
      expectDone(added.outcome, `${when}, add`);
      count(added.outcome);
      await expectWhole(`${when}, after both adds`);
      expect(await ourLive(uuid), `${when}: our NIC is live`).toBe(true);
      expect(await ganetiNicUuids(NAME), `${when}: Ganeti's NIC is in its configuration`).toHaveLength(ganetiNics + 1);
      // Removals: ours and Ganeti's.
      const removed = await together(offset, (go) => (viaApply ? reviewThenApply(ourRemove(uuid), go) : go().then(() => now(ourRemove(uuid)))), ganetiRemoveLast);
      expectDone(removed.outcome, `${when}, remove`);
      count(removed.outcome);
      await expectWhole(`${when}, after both removals`);
      expect(await ourLive(uuid)).toBe(false);
      expect(await ganetiNicUuids(NAME)).toHaveLength(ganetiNics);
      const said = (o: ChangeOutcome) => `${o.ganeti?.waitedBefore.length ? "waited before" : ""}${o.ganeti?.waitedAfter.length ? " waited after" : ""}${o.ganeti?.repairs.length ? " REPAIRED" : ""}`.trim() || "no overlap seen";
      console.log(`${when}: add ${said(added.outcome)}; remove ${said(removed.outcome)}`);
    }
    console.log(`concurrency with Ganeti: ${JSON.stringify(tally)}`);
    expect(tally.changes).toBe(2 * ROUNDS);
  }, 30 * 60_000);

  it("migrates afterwards with every device: our NIC and Ganeti's, added together, at the same slots on the other node, recorded and seen by the guest", async () => {
    const uuid = newDeviceUuid();
    const ganetiBefore = await ganetiNicUuids(NAME);
    const [ours] = await Promise.all([now(ourAdd(OUR_SLOTS[3]!, uuid)), ganetiAdd()]);
    const theirs = deviceIdV2("nic", (await ganetiNicUuids(NAME)).find((u) => !ganetiBefore.includes(u))!);
    expectDone(ours.outcome, "add before migrating");
    await expectWhole("before the migration");
    const from = await pnodeOf(NAME);
    const before = await livePci(await session(from), NAME);
    await gntOut("gnt-instance", "migrate", "-f", NAME);
    const to = await pnodeOf(NAME);
    expect(to).not.toBe(from);
    await rearmKvmd(NAME);
    const after = await livePci(await session(to), NAME);
    const nics = (m: Map<number, string>) => [...m].filter(([, id]) => id.startsWith("nic-")).sort(([a], [b]) => a - b);
    expect(nics(after)).toEqual(nics(before));
    expect(nics(after).map(([, id]) => id)).toEqual(expect.arrayContaining([deviceIdV2("nic", uuid), theirs]));
    await expectWhole("after the migration");
    await guestSees(await session(to), NAME, (a) => a.includes(guestAddress(OUR_SLOTS[3]!)));
  });
});
