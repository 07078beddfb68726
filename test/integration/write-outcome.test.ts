// A runtime write whose answer is lost (issue 13, item 5), on the lab: the
// real node helper is held by strace right after (or right before) its
// rename, then killed, made to answer garbage, or cut off with its SSH
// connection. The outcome must be "unknown", never "not written": nothing is
// rolled back on a guess, the journal entry stays pending, and the file is
// read again (over a new connection when the old one is gone) to say what
// it holds now. Before this, a lost answer after the rename counted as "not
// written": the live device was rolled back while the file still listed it.
import { it, expect, beforeAll, afterAll } from "vitest";
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { NodeSession, type NodeTarget } from "../../electron/ssh/session.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { executePlan, newDeviceUuid, newMac } from "../../electron/hotplug/index.js";
import { InstanceLocks } from "../../electron/on-node/instance-lock.js";
import { livePci, openQmp } from "../../electron/hotplug/qmp-session.js";
import { loadInstanceView } from "../../electron/inventory/node-inventory.js";
import { runHotplugCommand } from "../../electron/cli/hotplug-commands.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import type { ChangeFailed, ChangeOutcome, StepProgress } from "../../shared/hotplug/index.js";
import { missingPrograms, describeWhere } from "../support/skip.js";
import { expectFailure, planOn, tempJournal } from "./hotplug-fixture.js";
import { STRACE, helperPids, stallAt, writeIntoAnswerPipe, type Stall } from "./helper-stall.js";
import type { Journal } from "../../electron/hotplug/journal.js";

let node: LabNode;
let target: NodeTarget;
let mike: StartedLabInstance; // paused (-S): device_add works, nothing needs a guest
let journal: Journal;
let journalDir: string;
let removeJournal: (() => Promise<void>) | undefined;

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

describeWhere(missingPrograms([[STRACE, "strace"]]), "a runtime write whose answer is lost", () => {
  beforeAll(async () => {
    node = await LabNode.start();
    mike = await startLabInstance(node, { name: "mike.lab", generation: "C", nics: 1, disks: [], memoryMiB: 64, paused: true });
    target = sessionTarget(node.info);
    ({ journal, dir: journalDir, remove: removeJournal } = await tempJournal());
  });

  afterAll(async () => {
    await node?.stop();
    await removeJournal?.();
  });

  /** Our session's helper: the one under the lab's sshd that was not there before. */
  async function newHelper(before: number[]): Promise<number> {
    const now = (await helperPids(node.sshd.process.child.pid!)).filter((p) => !before.includes(p));
    if (now.length !== 1) throw new Error(`expected one new node helper, found ${now.length}`);
    return now[0]!;
  }

  const liveIds = async (s: NodeSession) => {
    const q = await openQmp(s, mike.paths.qmp);
    try {
      return (await livePci(q)).map((d) => d.qdevId);
    } finally {
      q.close();
    }
  };

  /**
   * Plans a NIC add at `slot` and runs it; when the write step starts, holds
   * the helper at its rename (`at`) and does `act` to it.
   */
  async function addNicLosingTheAnswer(slot: string, at: "enter" | "exit", act: (helper: number, session: NodeSession) => Promise<void>) {
    const before = await helperPids(node.sshd.process.child.pid!);
    const session = await NodeSession.open(target);
    let reconnects = 0;
    let stall: Stall | undefined;
    try {
      const uuid = newDeviceUuid();
      const p = await planOn(session, node.root, "mike.lab", { action: "add-nic", uuid, mac: newMac(), link: node.network.bridge!, slot });
      const events: StepProgress[] = [];
      const outcome: ChangeOutcome = await executePlan({
        session,
        root: node.root,
        nodeId: "lab",
        instance: "mike.lab",
        plan: p.plan,
        expectedRuntime: p.expected,
        journal,
        reconnect: async () => {
          reconnects++;
          const again = await NodeSession.open(target);
          return { session: again, done: () => again.close() };
        },
        onProgress: async (e) => {
          events.push(e);
          if (e.kind === "write-runtime" && e.state === "running") {
            const helper = await newHelper(before);
            stall = await stallAt(helper, "rename", at);
            // Acts once the helper is held there (the write step waits for its answer meanwhile), then
            // lets go of it: a killed tracee is reaped only once strace lets go.
            const held = stall;
            void held.hit.then(() => act(helper, session)).finally(() => held.stop());
          }
        },
      });
      return { outcome, plan: p, id: deviceIdV2("nic", uuid), events, reconnects: () => reconnects };
    } finally {
      await stall?.stop();
      session.close();
    }
  }

  async function expectUnknown(outcome: ChangeOutcome, onNode: string): Promise<ChangeFailed> {
    expectFailure(outcome);
    expect(outcome.cause, outcome.error.message).toBe("write-unknown");
    expect(outcome.failedStep.kind).toBe("write-runtime");
    expect(outcome.write).toMatchObject({ state: "unknown", onNode });
    expect(outcome.undone).toEqual([]);
    expect(outcome.error.message).toMatch(/Nothing was undone: the live changes stay/);
    // The journal keeps the write, pending, under the id the outcome names.
    const entries = await journal.list("lab", "mike.lab");
    const entry = entries.find((e) => outcome.write.state === "unknown" && e.id === outcome.write.journalEntryId);
    expect(entry?.state).toBe("pending");
    return outcome;
  }

  it("the helper is killed (SIGKILL) right after its rename: unknown, the file holds the planned bytes, nothing rolled back", async () => {
    const r = await addNicLosingTheAnswer("0x10", "exit", async (helper) => void process.kill(helper, "SIGKILL"));
    const o = await expectUnknown(r.outcome, "planned");
    expect(o.error.message).toMatch(/holds the planned bytes/);
    expect(o.write.state === "unknown" && o.write.why).toMatch(/exit|KILL|ended|connection/i);
    expect(sha(await readFile(mike.paths.runtime))).toBe(sha(r.plan.plan.fileTextAfter));
    const s = await NodeSession.open(target);
    try {
      // Still live: the file records it, and it was not taken back on a guess.
      expect(await liveIds(s)).toContain(r.id);
      // The helper died with its lock: the next operation is not stuck.
      await (await new InstanceLocks(s, node.root).acquire("mike.lab", { timeoutMs: 5_000 })).release();
    } finally {
      s.close();
    }
  });

  it("the helper answers garbage after its rename: unknown, planned bytes, nothing rolled back", async () => {
    const r = await addNicLosingTheAnswer("0x11", "exit", (helper) => writeIntoAnswerPipe(helper, "Traceback (most recent call last): garbage\n"));
    const o = await expectUnknown(r.outcome, "planned");
    expect(o.write.state === "unknown" && o.write.why).toMatch(/did not answer with JSON.*garbage/);
    expect(sha(await readFile(mike.paths.runtime))).toBe(sha(r.plan.plan.fileTextAfter));
    // Its own connection was still up: read again over it, no new one.
    expect(r.reconnects()).toBe(0);
    const s = await NodeSession.open(target);
    try {
      expect(await liveIds(s)).toContain(r.id);
    } finally {
      s.close();
    }
  });

  it("the SSH connection drops after the rename: unknown, the file is read again over a new connection", async () => {
    const r = await addNicLosingTheAnswer("0x12", "exit", async (_helper, session) => void session.client.destroy());
    const o = await expectUnknown(r.outcome, "planned");
    expect(r.reconnects()).toBe(1);
    expect(o.write.state === "unknown" && o.write.detail).toMatch(/^sha256 [0-9a-f]{16}…, \d+ bytes$/);
    expect(sha(await readFile(mike.paths.runtime))).toBe(sha(r.plan.plan.fileTextAfter));
  });

  it("the helper is killed before its rename: unknown, the file still holds the previous bytes, the live NIC is kept and shows as drift", async () => {
    const before = await readFile(mike.paths.runtime);
    const r = await addNicLosingTheAnswer("0x13", "enter", async (helper) => void process.kill(helper, "SIGKILL"));
    const o = await expectUnknown(r.outcome, "previous");
    expect(o.error.message).toMatch(/still held the previous bytes/);
    expect(o.error.message).toMatch(/Next: Reload the instance/);
    expect(o.notUndone.join("\n")).toMatch(/device_del nic-.*not done, because the runtime file may record the change/);
    expect((await readFile(mike.paths.runtime)).equals(before)).toBe(true);
    const s = await NodeSession.open(target);
    try {
      expect(await liveIds(s)).toContain(r.id);
      const view = await loadInstanceView(s, "mike.lab", { nodeId: "lab", root: node.root });
      expect(view.drift).toContainEqual(expect.objectContaining({ bus: "pci", at: 0x13, kind: "live-only" }));
    } finally {
      s.close();
    }
  });

  it('the CLI says "unknown" with what the file holds and the next step, and exits 1', async () => {
    // Hold the instance's lock from elsewhere so the CLI's helper is up and
    // waiting; then hold that helper at its second rename (the first is the
    // lock's holder file; a disk add has no other) and answer garbage there.
    const disk = await node.createDisk("mike.lab", 5, 8);
    const other = await NodeSession.open(target);
    const held = await new InstanceLocks(other, node.root).acquire("mike.lab");
    const before = await helperPids(node.sshd.process.child.pid!);
    const out: string[] = [];
    const running = runHotplugCommand(
      ["disk", "add", "mike.lab", "--path", disk, "--slot", "0x14", "--node", `${node.info.user}@127.0.0.1:${node.info.port}`, "-i", node.info.privateKeyPath, "--known-hosts", node.info.knownHostsPath, "--root", node.root, "--journal", journalDir, "--ganeti-version", "3.0.2"],
      { out: (t) => void out.push(t), err: () => undefined },
    );
    let stall: Stall | undefined;
    try {
      const helper = await waitForNew(before);
      stall = await stallAt(helper, "rename", "exit", { nth: 2 });
      const renamedAt = stall.hit.then(async (line) => {
        await writeIntoAnswerPipe(helper, "garbage\n");
        return line;
      });
      await held.release();
      const code = await running;
      expect(await renamedAt).toMatch(/hotplug-desk\.new", ".*mike\.lab\.runtime"/);
      const res = JSON.parse(out.join("")) as { status: string; result: ChangeFailed };
      expect(res.status, out.join("")).toBe("unknown");
      expect(code).toBe(1);
      expect(res.result.write).toMatchObject({ state: "unknown", onNode: "planned" });
      expect(res.result.error.message).toMatch(/holds the planned bytes.*Next: Reload the instance to confirm it/);
    } finally {
      await stall?.stop();
      await held.release();
      other.close();
    }
  });

  async function waitForNew(before: number[]): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = (await helperPids(node.sshd.process.child.pid!)).filter((p) => !before.includes(p));
      if (now.length === 1) return now[0]!;
      if (Date.now() > deadline) throw new Error(`no new node helper appeared (${now.length})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
});
