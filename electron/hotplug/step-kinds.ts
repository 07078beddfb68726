// What the executor knows about each kind of plan step, side by side: the
// device it concerns (named when it fails), the node helper request it
// makes (node-side steps, sent in a chain with their neighbours), how it is
// done, and what undoes it. Adding a step kind means adding one entry here.
import { QmpError } from "../qmp/client.js";
import { RuntimeStore, RuntimeWriteUnknownError } from "../on-node/runtime-store.js";
import { NicFileOut, PassFdOut, TapCreateOut, TapRemoveOut, runNodeHelper, type ChainedRequest } from "../on-node/node-helper.js";
import { FDSET_PLACEHOLDER, type PlanStep, type PlanStepKind, type PlanStepOf, type QmpCall, type QmpStep } from "../../shared/hotplug/index.js";
import { displayPciAddr } from "../../shared/slots/index.js";
import { QueryPciResultSchema, liveSlotsFromQueryPci } from "../../shared/qmp/query-pci.js";
import { livePci, liveScsi } from "./qmp-session.js";
import type { NodeSession } from "../ssh/session.js";
import { GanetiCommandError, activateDisks, ganetiDisks, ganetiNics, ganetiNicUuid, runGanetiModify, type GanetiCommandResult } from "../ganeti/config-jobs.js";
import { argvText, diskRemoveArgv, nicRemoveArgv, type GanetiJobRun } from "../../shared/ganeti/config-change.js";
import { provisionalDiskPath } from "../../shared/hotplug/ganeti-uuid.js";
import { StepFailure, markAnswerLost } from "./step-failure.js";
import type { PlanRun, UndoEntry } from "./plan-run.js";

/** What a step did: words for the UI, and what undoes it (pushed even when `failure` is set). */
export interface StepDone {
  detail?: string;
  undo?: Omit<UndoEntry, "index">[];
  /** Only part of the step ran: its undo covers that part, and the run fails with this. */
  failure?: Error;
}

export interface StepKind<S extends PlanStep> {
  /** The device the step concerns, for messages. */
  device(step: S): string | undefined;
  /** Node-side steps only: the helper request that does it. */
  request?(run: PlanRun, index: number, step: S): ChainedRequest;
  /** Do it. Throws when nothing of it stands. */
  run(run: PlanRun, index: number, step: S): Promise<StepDone>;
}

const VERIFY_TRIES = 5;
const VERIFY_PAUSE_MS = 400;
const UNDO_DELETE_WAIT_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function isMissingError(err: unknown): boolean {
  return err instanceof QmpError && (err.errorClass === "DeviceNotFound" || /not found|cannot find|failed to find/i.test(err.desc));
}

function qmpDevice(call: QmpCall): string | undefined {
  const a = call.arguments;
  return typeof a.id === "string" ? a.id : typeof a["node-name"] === "string" ? a["node-name"] : undefined;
}

/** The undo of a QMP command that ran: its `undo` call (and, for device_del, the wait for the device to go). */
function qmpUndo(run: PlanRun, step: QmpStep, call: QmpCall): Omit<UndoEntry, "index"> {
  return {
    kind: "qmp",
    describe: `${call.command} ${qmpDevice(step) ?? ""} (undo of ${step.command})`.replace(/ {2,}/g, " "),
    run: async () => {
      const q = await run.ensureQmp();
      try {
        await q.execute(call.command, call.arguments);
      } catch (err) {
        if (isMissingError(err)) return `${call.command}: already gone`;
        throw err;
      }
      if (call.command === "device_del" && typeof call.arguments.id === "string") {
        // The backend (netdev/block node) can only go once the device has.
        await run.waitGone(call.arguments.id, UNDO_DELETE_WAIT_MS);
      }
    },
  };
}

const qmp: StepKind<PlanStepOf<"qmp">> = {
  device: qmpDevice,
  async run(run, _index, step) {
    const q = await run.ensureQmp();
    try {
      await q.execute(step.command, step.arguments);
    } catch (err) {
      if (step.tolerateMissing && isMissingError(err)) {
        run.notes.push(`${step.command} ${qmpDevice(step) ?? ""}: nothing to delete (${(err as QmpError).desc}); fine.`.replace(/ {2,}/g, " "));
        return {};
      }
      // QEMU's own refusal is an answer; anything else (closed, timed out) lost it after the command went out.
      throw err instanceof QmpError ? err : markAnswerLost(err);
    }
    if (step.command === "device_del" && typeof step.arguments.id === "string") run.unplugRequested(step.arguments.id);
    return step.undo ? { undo: [qmpUndo(run, step, step.undo)] } : {};
  },
};

const tapCreate: StepKind<PlanStepOf<"node-tap-create">> = {
  device: (step) => `tap ${step.tap}`,
  request(run, _index, step) {
    const nic = run.nicForTap(step.tap);
    const env: Record<string, string> = { INSTANCE: run.instance, MODE: step.mode, INTERFACE: step.tap, TAGS: "" };
    if (nic) Object.assign(env, { MAC: nic.mac, INTERFACE_INDEX: String(nic.seq), INTERFACE_UUID: nic.uuid });
    if (step.link) env.LINK = step.link;
    if (step.mode === "bridged" && step.link) env.BRIDGE = step.link;
    if (step.vlan) env.VLAN = step.vlan;
    return { op: "tap-create", args: { tap: step.tap, link: step.link, mode: step.mode, root: run.opts.root, env, instance: run.opts.instance }, schema: TapCreateOut };
  },
  async run(run, index, step) {
    const r = await run.chain.answer(index, step, TapCreateOut);
    const how = `tap ${step.tap}: ${r.how}${r.master ? ` (master ${r.master})` : ""}`;
    run.notes.push(how);
    return {
      detail: how,
      undo: [
        {
          kind: step.kind,
          describe: `delete tap ${step.tap} on the node`,
          run: async () => {
            const d = await runNodeHelper(run.session, "tap-remove", { tap: step.tap, instance: run.opts.instance }, TapRemoveOut);
            return d.removed ? undefined : `tap ${step.tap} was already gone`;
          },
        },
      ],
    };
  },
};

const tapRemove: StepKind<PlanStepOf<"node-tap-remove">> = {
  device: (step) => (step.tap ? `tap ${step.tap}` : undefined),
  request: (run, _index, step) => ({ op: "tap-remove", args: { tap: step.tap, nicFile: `${run.paths.nicDir}/${step.seq}`, instance: run.opts.instance }, schema: TapRemoveOut }),
  async run(run, index, step) {
    const r = await run.chain.answer(index, step, TapRemoveOut);
    const what = r.removed ? `deleted tap ${r.tap}` : `no tap to delete${r.tap ? ` (${r.tap} is already gone)` : ""}`;
    run.notes.push(what);
    return { detail: what };
  },
};

const nicFile: StepKind<PlanStepOf<"node-nic-file">> = {
  device: (step) => `nic/${step.instance}/${step.seq}`,
  request: (run, _index, step) => ({ op: "nic-file", args: { path: `${run.paths.nicDir}/${step.seq}`, action: step.action, content: step.tap ?? "" }, schema: NicFileOut }),
  async run(run, index, step) {
    const path = `${run.paths.nicDir}/${step.seq}`;
    const r = await run.chain.answer(index, step, NicFileOut);
    return {
      undo: [
        {
          kind: step.kind,
          describe: `restore ${path}`,
          run: async () => {
            await runNodeHelper(run.session, "nic-file", r.previous === null ? { path, action: "remove" } : { path, action: "write", content: r.previous }, NicFileOut);
          },
        },
      ],
    };
  },
};

const passFd: StepKind<PlanStepOf<"node-pass-fd">> = {
  device: (step) => step.commands.map(qmpDevice).find((d) => d !== undefined),
  request: (run, index, step) => ({
    op: "pass-fd",
    args: {
      socket: run.paths.qmp,
      mechanism: step.mechanism,
      source: step.source,
      fdnames: step.fdnames,
      commands: step.commands.map((c) => ({ command: c.command, arguments: c.arguments })),
      placeholder: FDSET_PLACEHOLDER,
      timeoutS: 10,
      readAfter: run.readsBusAfter(index) ? ["query-pci"] : [],
    },
    schema: PassFdOut,
  }),
  async run(run, index, step) {
    const r = await run.chain.answer(index, step, PassFdOut);
    if (run.readsBusAfter(index) && r.after.length === 1) {
      run.freshPci = { afterStep: index, devices: liveSlotsFromQueryPci(QueryPciResultSchema.parse(r.after[0])) };
    }
    const passing = r.results.filter((x) => x.command === "getfd" || x.command === "add-fd");
    const failedPass = passing.find((x) => !x.ok);
    if (failedPass) throw new QmpError(failedPass.command, failedPass.error?.class ?? "GenericError", failedPass.error?.desc ?? "failed");
    const ran = r.results.slice(passing.length);
    // Each command that ran is undone on its own if anything later fails, this step's own commands included.
    const undo: Omit<UndoEntry, "index">[] = [];
    for (const [i, c] of step.commands.entries()) {
      const res = ran[i];
      if (!res) return { undo, failure: new StepFailure("other", `The node-side step stopped before ${c.command} (${c.describe}) without saying why.`, qmpDevice(c)) };
      if (!res.ok) {
        if (c.command === "remove-fd") {
          // Best effort, as in Ganeti: the block node holds its own reference.
          run.notes.push(`remove-fd failed (${res.error?.desc ?? "?"}); the fd set is dropped when QEMU no longer uses it.`);
          break;
        }
        return { undo, failure: new StepFailure("qmp-refused", `QEMU refused ${c.command} (${c.describe}): ${res.error?.desc ?? "?"} (${res.error?.class ?? "?"})`, qmpDevice(c)) };
      }
      if (c.undo) undo.push(qmpUndo(run, c, c.undo));
    }
    return { undo, detail: `passed ${step.mechanism === "getfd" ? step.fdnames.join(", ") : `fd set ${r.fdset ?? "?"}`} over ${run.paths.qmp}` };
  },
};

const waitDeviceDeleted: StepKind<PlanStepOf<"wait-device-deleted">> = {
  device: (step) => step.id,
  async run(run, index, step) {
    await run.emit({ index, kind: step.kind, describe: step.describe, state: "waiting-guest" });
    const how = await run.waitGone(step.id, run.opts.deviceDeletedTimeoutMs ?? step.timeoutMs);
    run.unplugDone(step.id);
    const detail = how === "event" ? `DEVICE_DELETED for ${step.id}` : `${step.id} left the bus`;
    const restore = step.restore ?? [];
    if (restore.length === 0) {
      run.irreversible.push(`${step.id} was removed from the running instance (the guest released it); undo cannot put it back, so the live bus no longer has what the runtime file lists`);
      return { detail };
    }
    return { detail, undo: [{ kind: step.kind, describe: `plug ${step.id} back where it was (undo of its unplug)`, run: () => replugged(run, index, step.id, restore) }] };
  },
};

/** The undo of an unplug that has a way back: its steps run one by one (the QMP session closed before the node-side ones, which connect themselves). */
async function replugged(run: PlanRun, index: number, id: string, restore: NonNullable<PlanStepOf<"wait-device-deleted">["restore"]>): Promise<string> {
  for (const r of restore) {
    if (r.kind === "qmp") {
      const q = await run.ensureQmp();
      try {
        await q.execute(r.command, r.arguments);
      } catch (err) {
        if (!(r.tolerateMissing && isMissingError(err))) throw err;
      }
      continue;
    }
    run.closeQmp();
    if (r.kind === "node-tap-remove") await runNodeHelper(run.session, "tap-remove", tapRemove.request!(run, index, r).args, TapRemoveOut);
    else if (r.kind === "node-tap-create") await runNodeHelper(run.session, "tap-create", tapCreate.request!(run, index, r).args, TapCreateOut);
    else {
      const out = await runNodeHelper(run.session, "pass-fd", { ...passFd.request!(run, index, r).args, readAfter: [] }, PassFdOut);
      const bad = out.results.find((x) => !x.ok && x.command !== "remove-fd");
      if (bad) throw new Error(`QEMU refused ${bad.command} while plugging ${id} back: ${bad.error?.desc ?? "?"}`);
    }
  }
  const live = await livePci(await run.ensureQmp());
  const here = live.find((d) => d.qdevId === id && d.function === 0);
  if (!here) throw new Error(`${id} was plugged back but query-pci does not show it`);
  return `${id} is back at ${displayPciAddr(here.slot)}`;
}

const verify: StepKind<PlanStepOf<"verify">> = {
  device: (step) => step.id,
  async run(run, index, step) {
    let lastSeen = "";
    for (let attempt = 1; attempt <= VERIFY_TRIES; attempt++) {
      // The first look may use the bus as the last step that touched it read it, in its own session.
      const fresh = attempt === 1 && run.freshPci && run.nextOnBus(run.freshPci.afterStep) === index ? run.freshPci.devices : undefined;
      run.freshPci = undefined;
      if (step.bus === "pci") {
        const live = fresh ?? (await livePci(await run.ensureQmp()));
        const here = live.find((d) => d.qdevId === step.id && d.function === 0);
        if (step.expect === "present" && here && (step.slot === undefined || here.slot === step.slot)) return verified(run, step);
        if (step.expect === "absent" && !here) return verified(run, step);
        lastSeen = here ? `query-pci shows ${step.id} at ${displayPciAddr(here.slot)}` : `query-pci does not show ${step.id}`;
      } else {
        const q = await run.ensureQmp();
        const scsi = await liveScsi(q);
        const here = scsi.find((t) => t.qdevId === step.id);
        if (step.expect === "present" && here && (step.scsiId === undefined || here.scsiId === step.scsiId)) return verified(run, step);
        if (step.expect === "absent" && !here && !(await run.present(q, step.id))) return verified(run, step);
        lastSeen = here ? `${step.id} is attached at SCSI target ${here.scsiId}` : `${step.id} is not attached`;
      }
      if (attempt < VERIFY_TRIES) await sleep(VERIFY_PAUSE_MS);
    }
    throw new StepFailure(
      "verify-failed",
      `The live bus does not match the plan: expected ${step.id} ${step.expect}${step.slot !== undefined ? ` at ${displayPciAddr(step.slot)}` : step.scsiId !== undefined ? ` at SCSI target ${step.scsiId}` : ""}, but ${lastSeen}.`,
      step.id,
    );
  },
};

function verified(run: PlanRun, step: PlanStepOf<"verify">): StepDone {
  run.verified.push({ id: step.id, bus: step.bus, expect: step.expect, ...(step.slot !== undefined ? { slot: step.slot } : {}), ...(step.scsiId !== undefined ? { scsiId: step.scsiId } : {}) });
  return {};
}

const writeRuntime: StepKind<PlanStepOf<"write-runtime">> = {
  device: (step) => `${step.instance}.runtime`,
  async run(run, index, step) {
    run.closeQmp();
    const prepared = await run.journalEntry();
    // Known lost before the request went out: then the file is surely untouched.
    if (run.sshClosed) throw new StepFailure("connection-lost", `The SSH connection to ${run.session.label} was gone before the write was sent, so the runtime file was not written.`);
    run.writeAttempted = true;
    const store = new RuntimeStore(run.session, run.opts.nodeId);
    // The last step: the node frees the lock in the same request once the file is replaced.
    const last = index === run.total - 1 && run.lock?.held ? run.lock.handOver() : undefined;
    let committed: Awaited<ReturnType<typeof run.opts.journal.commit>>;
    try {
      committed = await run.opts.journal.commit(store, prepared, last ? { unlock: last.token } : {});
    } catch (err) {
      // The answer was lost after the request went out: settle nothing on a guess; read the file again.
      if (err instanceof RuntimeWriteUnknownError) throw await run.writeUnknown(err, prepared.id, `${step.instance}.runtime`);
      throw err;
    }
    const { entry, unlocked } = committed;
    if (unlocked) last?.released();
    run.written = { state: "written", generation: step.generation, journalEntryId: entry.id };
    return { detail: `journal entry ${entry.id}` };
  },
};

/** A Ganeti command on the master, its job id and log passed on as progress and kept for the outcome. */
async function ganetiCommand(
  run: PlanRun,
  index: number,
  master: NodeSession,
  argv: readonly string[],
  shown: { describe: string; state: "running" | "undoing"; undo?: boolean },
): Promise<{ result: GanetiCommandResult; rec: GanetiJobRun }> {
  const rec: GanetiJobRun = { step: index, command: argvText(argv), ...(shown.undo ? { undo: true } : {}), ok: false, log: [], changes: [] };
  run.ganetiJobs.push(rec);
  const say = (detail: string) => void run.emit({ index, kind: "ganeti-config", describe: shown.describe, state: shown.state, detail });
  try {
    const result = await runGanetiModify(master, argv, {
      onJob: (id) => {
        rec.jobId = id;
        say(`Ganeti job ${id}: ${rec.command}`);
      },
      onLine: (line) => {
        rec.log.push(line);
        say(line);
      },
    });
    const o = result.output;
    Object.assign(rec, { ok: result.ok, log: o.log, changes: o.changes.map((c) => `${c.what} -> ${c.value}`), ...(o.jobId !== undefined ? { jobId: o.jobId } : {}), ...(result.error ? { error: result.error } : {}) });
    return { result, rec };
  } catch (err) {
    rec.error = (err as Error).message;
    throw err;
  }
}

const jobName = (rec: GanetiJobRun) => (rec.jobId !== undefined ? `job ${rec.jobId}` : "its job");

/**
 * A disk recorded in Ganeti's configuration (configuration only): Ganeti
 * creates its storage and names its uuid, found as the one disk its
 * configuration did not have before; activate-disks then makes its
 * instance-disks link and says where its storage is. Undo: Ganeti's
 * hot-remove of it (a running instance's disk cannot be removed otherwise;
 * its hotplug part fails harmlessly once our undo took the disk off the
 * bus), which deletes the storage it created.
 */
async function addDisk(run: PlanRun, index: number, step: PlanStepOf<"ganeti-config">, master: NodeSession): Promise<StepDone> {
  const describe = step.describe;
  const inst = step.instance;
  const before = (await ganetiDisks(master, inst)).uuids;
  let uuid: string | undefined;
  const undo: Omit<UndoEntry, "index"> = {
    kind: step.kind,
    onMaster: true,
    describe: `remove the new disk from Ganeti's configuration again, deleting the storage Ganeti created`,
    run: async () => {
      const found = uuid ?? (await ganetiDisks(master, inst)).uuids.find((u) => u !== null && !before.includes(u)) ?? undefined;
      if (!found) return "Ganeti's configuration has no new disk: nothing to remove";
      const { result, rec } = await ganetiCommand(run, index, master, diskRemoveArgv(inst, found), { describe, state: "undoing", undo: true });
      if (!result.ok) throw new GanetiCommandError(`Ganeti refused to remove disk ${found} (${jobName(rec)}): ${result.error}; remove it yourself: ${argvText(diskRemoveArgv(inst, found))} on the master`);
      const left = (await ganetiDisks(master, inst)).uuids;
      if (left.includes(found)) throw new GanetiCommandError(`Ganeti's ${jobName(rec)} ended, but its configuration still has disk ${found}: remove it yourself (${argvText(diskRemoveArgv(inst, found))} on the master)`);
      return `disk ${found} and its storage, ${jobName(rec)}`;
    },
  };
  let rec: GanetiJobRun;
  try {
    const ran = await ganetiCommand(run, index, master, step.argv, { describe, state: "running" });
    rec = ran.rec;
    if (!ran.result.ok) throw new StepFailure("ganeti-refused", `Ganeti refused to create and record the disk (${jobName(rec)}): ${ran.result.error}`, `disk/${step.index ?? "?"}`);
  } catch (err) {
    // Refused: nothing recorded (Ganeti removes storage it created for a job that fails). Cut off: its job may have recorded it; the undo looks.
    if (err instanceof StepFailure) throw err;
    return { undo: [undo], failure: err as Error };
  }
  try {
    const added = (await ganetiDisks(master, inst)).uuids.flatMap((u, i) => (u !== null && !before.includes(u) ? [{ u, i }] : []));
    if (added.length !== 1) throw new GanetiCommandError(`Ganeti's configuration of ${inst} has ${added.length} new disks after ${jobName(rec)}, where one was expected: another change ran at the same time.`);
    uuid = added[0]!.u;
    if (added[0]!.i !== step.index) {
      throw new GanetiCommandError(`Ganeti recorded the disk as disk/${added[0]!.i}, not disk/${step.index ?? "?"} as planned (its disks changed since the review), so its instance-disks link differs from the plan's: review the change again.`);
    }
  } catch (err) {
    return { undo: [undo], failure: err instanceof GanetiCommandError ? err : new GanetiCommandError(`Ganeti's ${jobName(rec)} recorded the disk, but its uuid could not be read: ${(err as Error).message}`) };
  }
  let path: string | undefined;
  try {
    // The link QEMU opens exists only once Ganeti assembles the disk; a config-only add does not.
    const disks = await activateDisks(master, inst);
    path = disks.find((d) => d.ivName === `disk/${step.index}`)?.path;
    if (!path) throw new GanetiCommandError(`gnt-instance activate-disks ${inst} did not list disk/${step.index}: its link may be missing.`);
  } catch (err) {
    return { undo: [undo], failure: err as Error };
  }
  Object.assign(rec, { uuid, provisionalUuid: step.uuid, path, provisionalPath: provisionalDiskPath(step.uuid) });
  run.useGanetiUuid(index + 1, step.uuid, uuid, path);
  if (!run.awaitsGanetiUuid(index + 1) && run.plan.steps.some((s) => s.kind === "write-runtime")) run.journalEntry().catch(() => undefined);
  return { detail: `Ganeti's ${jobName(rec)} created and recorded the disk as ${uuid} (disk/${step.index}, storage ${path}); the steps below use that uuid.`, undo: [undo] };
}

/**
 * Ganeti's configuration, changed on the master (shared/hotplug/steps.ts).
 * Do: the gnt-instance command. Undo: a NIC it recorded is removed from
 * the configuration again (configuration only, by its uuid, else by its
 * MAC), a disk it created through its own hot-remove (addDisk); Ganeti's
 * own hotplug (remove, modify) cannot be undone.
 */
const ganetiConfig: StepKind<PlanStepOf<"ganeti-config">> = {
  device: (step) => (step.op.endsWith("disk") ? `disk ${step.uuid}` : `NIC ${step.uuid}${step.mac ? ` (MAC ${step.mac})` : ""}`),
  async run(run, index, step) {
    const master = run.opts.ganeti;
    if (!master) {
      throw new StepFailure("ganeti-refused", `This step changes Ganeti's configuration on its master${step.master ? ` ${step.master}` : ""}, which this change cannot reach; nothing was changed there. Review the change again (it can be made runtime only).`);
    }
    const describe = step.describe;
    // QEMU serves one QMP client at a time, and Ganeti's hotplug needs the socket.
    run.closeQmp();
    if (step.op === "add-disk") return addDisk(run, index, step, master.session);
    if (step.op === "add-nic") {
      const mac = step.mac as string;
      let uuid: string | undefined;
      const undo: Omit<UndoEntry, "index"> = {
        kind: step.kind,
        onMaster: true,
        describe: `remove the NIC with MAC ${mac} from Ganeti's configuration again (configuration only)`,
        run: async () => {
          const found = uuid ?? (await ganetiNics(master.session, step.instance)).find((n) => n.mac === mac)?.uuid ?? undefined;
          if (!found) return `Ganeti's configuration has no NIC with MAC ${mac}: nothing to remove`;
          const { result, rec } = await ganetiCommand(run, index, master.session, nicRemoveArgv(step.instance, found, false), { describe, state: "undoing", undo: true });
          if (!result.ok) throw new GanetiCommandError(`Ganeti refused to remove NIC ${found} (${jobName(rec)}): ${result.error}`);
          return `NIC ${found}, ${jobName(rec)}`;
        },
      };
      let rec: GanetiJobRun;
      try {
        const ran = await ganetiCommand(run, index, master.session, step.argv, { describe, state: "running" });
        rec = ran.rec;
        if (!ran.result.ok) throw new StepFailure("ganeti-refused", `Ganeti refused to record the NIC (${jobName(rec)}): ${ran.result.error}`, `MAC ${mac}`);
      } catch (err) {
        // Refused: nothing recorded. Cut off: its job may have recorded it all the same, and the undo looks by MAC.
        if (err instanceof StepFailure) throw err;
        return { undo: [undo], failure: err as Error };
      }
      try {
        uuid = await ganetiNicUuid(master.session, step.instance, mac);
      } catch (err) {
        return { undo: [undo], failure: new GanetiCommandError(`Ganeti's ${jobName(rec)} recorded the NIC, but the uuid it gave could not be read: ${(err as Error).message}`) };
      }
      rec.uuid = uuid;
      rec.provisionalUuid = step.uuid;
      run.useGanetiUuid(index + 1, step.uuid, uuid);
      if (!run.awaitsGanetiUuid(index + 1) && run.plan.steps.some((s) => s.kind === "write-runtime")) run.journalEntry().catch(() => undefined);
      return { detail: `Ganeti's ${jobName(rec)} recorded the NIC as ${uuid} (MAC ${mac}); the steps below use that uuid.`, undo: [undo] };
    }
    const { result, rec } = await ganetiCommand(run, index, master.session, step.argv, { describe, state: "running" });
    rec.uuid = step.uuid;
    const device = stepKindOf(step).device(step);
    if (!result.ok) throw new StepFailure("ganeti-refused", `Ganeti refused (${jobName(rec)}): ${result.error}`, device);
    const done = step.op === "remove-nic" ? "removed NIC" : step.op === "remove-disk" ? "removed disk" : "changed NIC";
    const storage = step.op === "remove-disk" ? " and deleted its storage" : "";
    if (step.hotplug) {
      if (result.output.hotplugFailed) {
        const why = rec.log.filter((l) => /WARNING|ERROR/.test(l)).join(" ") || "see its log";
        run.irreversible.push(`Ganeti's ${jobName(rec)} ${done} ${step.uuid} in its configuration${storage}, but its hotplug failed, so the instance and its runtime file still have it as before`);
        throw new StepFailure("ganeti-refused", `Ganeti ${done} ${step.uuid} in its configuration${storage} (${jobName(rec)}) but could not hotplug it: ${why}`, device);
      }
      run.irreversible.push(`Ganeti's ${jobName(rec)} ${done} ${step.uuid}${storage} (its own hotplug, which cannot be undone)`);
      run.ganetiWrote = rec.jobId !== undefined ? { jobId: rec.jobId } : {};
    }
    return { detail: `Ganeti's ${jobName(rec)}: ${rec.changes.join("; ") || "done"}` };
  },
};

/** Every step kind, keyed by kind. */
export const STEP_KINDS: { [K in PlanStepKind]: StepKind<PlanStepOf<K>> } = {
  qmp,
  "node-tap-create": tapCreate,
  "node-tap-remove": tapRemove,
  "node-nic-file": nicFile,
  "node-pass-fd": passFd,
  "wait-device-deleted": waitDeviceDeleted,
  verify,
  "write-runtime": writeRuntime,
  "ganeti-config": ganetiConfig,
};

/** The entry for a step's kind. */
export function stepKindOf<S extends PlanStep>(step: S): StepKind<S> {
  return STEP_KINDS[step.kind] as unknown as StepKind<S>;
}
