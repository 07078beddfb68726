// Runs a hotplug plan (shared/hotplug planner) on a running instance:
// node-side tap and fd steps over SSH, QMP commands over a short session to
// ctrl/<instance>.qmp, verification on the live bus, and finally the
// downgrade-safe runtime write (compare-and-swap, journaled for undo).
//
// Rules it keeps:
// - the per-instance lock is held for the whole run (the runtime write, the
//   last step, frees it on the node in the same request once the file is
//   replaced; a failed run keeps it until its undo is done);
// - consecutive node-side steps go as one chain that the helper stops at the
//   first failure (QEMU refusing a command inside the fd pass included);
// - QMP sessions are short: closed before node-side steps (the python fd
//   passer needs the socket, which takes one client) and before the write;
// - a removal is recorded only after DEVICE_DELETED or the device leaving
//   the bus; a guest that does not let go fails the plan, nothing recorded;
// - any failure undoes the live steps already done, newest first, and the
//   runtime file is left as it was.
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import { SshConnectionLostError, type NodeSession } from "../ssh/session.js";
import { QmpBusyError, QmpClosedError, QmpError, QmpTimeoutError, type QmpClient } from "../qmp/client.js";
import { assertUnchanged, RuntimeChangedError, RuntimeFileError, RuntimeStore } from "../on-node/runtime-store.js";
import type { Journal, JournalEntry } from "../hotplug/journal.js";
import { InstanceLockedError, InstanceLocks, type HeldLock } from "../on-node/instance-lock.js";
import { ExecError } from "../on-node/exec.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { FDSET_PLACEHOLDER, type PlanOk, type PlanStep, type PlanStepKind, type QmpCall, type QmpStep, type VerifyStep } from "../../shared/hotplug/index.js";
import type { Generation } from "../../shared/runtime/index.js";
import { displayPciAddr } from "../../shared/slots/index.js";
import { QueryPciResultSchema, liveSlotsFromQueryPci, type LivePciDevice } from "../../shared/qmp/query-pci.js";
import { livePci, liveScsi, openQmp, peripherals, type QmpTimeouts } from "./qmp-session.js";
import { NicFileOut, NodeHelperError, PassFdOut, TapCreateOut, TapRemoveOut, runNodeHelper, runNodeHelperChain, type ChainedRequest } from "../on-node/node-helper.js";

export type StepState = "running" | "done" | "failed" | "undoing" | "undone" | "waiting-guest";

export interface ProgressEvent {
  /** Index into plan.steps; -1 for the checks before the first step. */
  index: number;
  total: number;
  kind: PlanStepKind | "precheck";
  describe: string;
  state: StepState;
  /** Extra words for the UI ("ran /usr/lib/ganeti/kvm-ifup", what an undo did). */
  detail?: string;
}

export interface ExecutePlanOptions {
  session: NodeSession;
  root: string;
  /** How the journal names this node (RuntimeStore.nodeId). */
  nodeId: string;
  instance: string;
  plan: PlanOk;
  /** The runtime file's bytes the plan was made from. */
  expectedRuntime: Buffer;
  journal: Journal;
  /** Defaults to InstanceLocks(session, root). */
  locks?: InstanceLocks;
  /**
   * A lock already held on the instance, taken with the runtime file read
   * under it (gatherInstanceStateLocked): used instead of taking one, and
   * released when the run ends.
   */
  lock?: HeldLock;
  /** An open QMP session to the instance (closed when the run no longer needs it). */
  openQmp?: QmpClient;
  lockTimeoutMs?: number;
  /**
   * Awaited, so a caller (or a test) can hold the run between steps; except
   * that consecutive node-side steps go to the node as one chain, so holding
   * after one of them does not hold the next.
   */
  onProgress?: (e: ProgressEvent) => void | Promise<void>;
  planId?: string;
  qmp?: QmpTimeouts;
  /** Override the plan's wait for DEVICE_DELETED (ms). */
  deviceDeletedTimeoutMs?: number;
}

export interface VerifiedDevice {
  id: string;
  bus: "pci" | "scsi";
  expect: "present" | "absent";
  slot?: number;
  scsiId?: number;
}

export interface ExecuteSuccess {
  ok: true;
  planId: string;
  stepsDone: number;
  verified: VerifiedDevice[];
  written: { generation: Generation; journalEntryId: string };
  /** Things the user should know: how the tap was configured, best-effort steps. */
  notes: string[];
}

export type FailureCause =
  | "lock"
  | "runtime-changed"
  | "qmp-refused"
  | "qmp-busy"
  | "guest-holds-device"
  | "verify-failed"
  | "node-step"
  | "connection-lost"
  | "timeout"
  | "other";

export interface ExecuteFailure {
  ok: false;
  planId: string;
  cause: FailureCause;
  failedStep: { index: number; kind: PlanStepKind | "precheck"; describe: string; device?: string };
  error: { name: string; message: string };
  stepsDone: number;
  /** What was undone, newest first. */
  undone: string[];
  /** What could not be undone, and why. */
  notUndone: string[];
  /**
   * True when the runtime file was not written. False only when the
   * connection died during the write itself: then the journal keeps a
   * pending entry and the file must be checked.
   */
  runtimeUnchanged: boolean;
  notes: string[];
}

export type ExecuteResult = ExecuteSuccess | ExecuteFailure;

class StepFailure extends Error {
  constructor(
    readonly reason: FailureCause,
    message: string,
    readonly device?: string,
  ) {
    super(message);
    this.name = "StepFailure";
  }
}

interface UndoEntry {
  index: number;
  kind: PlanStepKind;
  describe: string;
  run: () => Promise<string | void>;
}

const VERIFY_TRIES = 5;
const VERIFY_PAUSE_MS = 400;
const UNDO_DELETE_WAIT_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function deviceOf(step: PlanStep): string | undefined {
  switch (step.kind) {
    case "qmp": {
      const a = step.arguments;
      return typeof a.id === "string" ? a.id : typeof a["node-name"] === "string" ? a["node-name"] : undefined;
    }
    case "node-tap-create":
      return `tap ${step.tap}`;
    case "node-tap-remove":
      return step.tap ? `tap ${step.tap}` : undefined;
    case "node-pass-fd":
      return step.commands.map(deviceOf).find((d) => d !== undefined);
    case "wait-device-deleted":
    case "verify":
      return step.id;
    case "node-nic-file":
      return `nic/${step.instance}/${step.seq}`;
    case "write-runtime":
      return `${step.instance}.runtime`;
  }
}

function isMissingError(err: unknown): boolean {
  return err instanceof QmpError && (err.errorClass === "DeviceNotFound" || /not found|cannot find|failed to find/i.test(err.desc));
}

const NEXT_STEP: Record<FailureCause, string> = {
  lock: "Wait for the other operation on this instance to finish, then try again.",
  "runtime-changed": "Reload the instance (someone else, Ganeti included, changed its runtime file) and plan the change again.",
  "qmp-refused": "Read QEMU's reason above; reload the instance (the live bus may hold a device the runtime file does not list) and plan again, e.g. with another slot.",
  "qmp-busy": "Another client holds the QMP socket (a Ganeti job or kvmd); try again in a moment.",
  "guest-holds-device":
    "Release the device inside the guest (unmount the disk, take the interface down) or check that the guest supports ACPI PCI hotplug, then remove it again. QEMU keeps the request: if the guest lets go later, the device disappears while the runtime file still lists it, and the inventory shows that drift.",
  "verify-failed": "Reload the instance and compare the live bus with the plan; plan the change again.",
  "node-step": "Fix the node-side problem shown above and try again.",
  "connection-lost": "Reconnect to the node and reload the instance: the inventory shows any device left live that the runtime file does not list; remove it or plan again.",
  timeout: "QEMU or the node did not answer in time; reload the instance to see what state it is in, then try again.",
  other: "Reload the instance and check its state before trying again.",
};

export async function executePlan(opts: ExecutePlanOptions): Promise<ExecuteResult> {
  const { session, root, instance, plan } = opts;
  const planId = opts.planId ?? randomUUID();
  const paths = instancePaths(root, instance);
  const total = plan.steps.length;
  const notes: string[] = [];
  const undo: UndoEntry[] = [];
  const irreversible: string[] = [];
  const verified: VerifiedDevice[] = [];
  let qmp: QmpClient | undefined = opts.openQmp;
  let sshClosed = false;
  const onSshClose = () => {
    sshClosed = true;
  };
  session.client.once("close", onSshClose);
  let stepsDone = 0;
  let lock: HeldLock | undefined;
  let writeAttempted = false;

  const emit = async (e: Omit<ProgressEvent, "total">) => {
    try {
      await opts.onProgress?.({ ...e, total });
    } catch {
      // A broken progress listener must not break the change it reports on.
    }
  };
  const ensureQmp = async (): Promise<QmpClient> => {
    if (!qmp) qmp = await openQmp(session, paths.qmp, opts.qmp);
    return qmp;
  };
  const closeQmp = () => {
    qmp?.close();
    qmp = undefined;
  };

  /** query-pci as read by the node-side step at `afterStep`, right after its change. */
  let freshPci: { afterStep: number; devices: LivePciDevice[] } | undefined;

  const present = async (q: QmpClient, id: string): Promise<boolean> => {
    if (q.supports("qom-list")) return (await peripherals(q)).has(id);
    return (await livePci(q)).some((d) => d.qdevId === id);
  };

  /** Resolves once `id` is gone (DEVICE_DELETED or no longer on the bus); throws on timeout. */
  const waitGone = async (id: string, timeoutMs: number): Promise<"event" | "gone"> => {
    const q = await ensureQmp();
    const deadline = Date.now() + timeoutMs;
    const ev = q
      .waitForEvent((e) => (e.event === "DEVICE_DELETED" || e.event === "DEVICE_UNPLUG_GUEST_ERROR") && e.data?.device === id, timeoutMs, `DEVICE_DELETED for ${id}`)
      .catch(() => null);
    for (;;) {
      const e = await Promise.race([ev, sleep(300).then(() => undefined)]);
      if (e) {
        if (e.event === "DEVICE_UNPLUG_GUEST_ERROR") {
          throw new StepFailure("guest-holds-device", `The guest refused to release ${id} (DEVICE_UNPLUG_GUEST_ERROR): it is still in use by the guest.`, id);
        }
        return "event";
      }
      if (!(await present(q, id))) return "gone";
      if (Date.now() >= deadline) {
        throw new StepFailure(
          "guest-holds-device",
          `${id} is still in use by the guest: no DEVICE_DELETED within ${Math.round(timeoutMs / 100) / 10} s and it is still on the bus. Nothing was recorded.`,
          id,
        );
      }
    }
  };

  const qmpUndo = (index: number, call: QmpCall, describe: string): UndoEntry => ({
    index,
    kind: "qmp",
    describe,
    run: async () => {
      const q = await ensureQmp();
      try {
        await q.execute(call.command, call.arguments);
      } catch (err) {
        if (isMissingError(err)) return `${call.command}: already gone`;
        throw err;
      }
      if (call.command === "device_del" && typeof call.arguments.id === "string") {
        // The backend (netdev/block node) can only go once the device has.
        await waitGone(call.arguments.id, UNDO_DELETE_WAIT_MS);
      }
    },
  });

  const runQmpStep = async (index: number, step: QmpStep): Promise<void> => {
    const q = await ensureQmp();
    try {
      await q.execute(step.command, step.arguments);
    } catch (err) {
      if (step.tolerateMissing && isMissingError(err)) {
        notes.push(`${step.command} ${deviceOf(step) ?? ""}: nothing to delete (${(err as QmpError).desc}); fine.`.replace(/ {2,}/g, " "));
        return;
      }
      throw err;
    }
    if (step.undo) undo.push(qmpUndo(index, step.undo, `${step.undo.command} ${deviceOf(step) ?? ""} (undo of ${step.command})`.replace(/ {2,}/g, " ")));
  };

  const verifyStep = async (index: number, step: VerifyStep): Promise<void> => {
    let lastSeen = "";
    for (let attempt = 1; attempt <= VERIFY_TRIES; attempt++) {
      // The first look may use the bus as the last step that touched it read it, in its own session.
      const fresh = attempt === 1 && freshPci && nextOnBus(freshPci.afterStep) === index ? freshPci.devices : undefined;
      freshPci = undefined;
      if (step.bus === "pci") {
        const live = fresh ?? (await livePci(await ensureQmp()));
        const here = live.find((d) => d.qdevId === step.id && d.function === 0);
        if (step.expect === "present" && here && (step.slot === undefined || here.slot === step.slot)) return;
        if (step.expect === "absent" && !here) return;
        lastSeen = here ? `query-pci shows ${step.id} at ${displayPciAddr(here.slot)}` : `query-pci does not show ${step.id}`;
      } else {
        const q = await ensureQmp();
        const scsi = await liveScsi(q);
        const here = scsi.find((t) => t.qdevId === step.id);
        if (step.expect === "present" && here && (step.scsiId === undefined || here.scsiId === step.scsiId)) return;
        if (step.expect === "absent" && !here && !(await present(q, step.id))) return;
        lastSeen = here ? `${step.id} is attached at SCSI target ${here.scsiId}` : `${step.id} is not attached`;
      }
      if (attempt < VERIFY_TRIES) await sleep(VERIFY_PAUSE_MS);
    }
    throw new StepFailure(
      "verify-failed",
      `The live bus does not match the plan: expected ${step.id} ${step.expect}${step.slot !== undefined ? ` at ${displayPciAddr(step.slot)}` : step.scsiId !== undefined ? ` at SCSI target ${step.scsiId}` : ""}, but ${lastSeen}.`,
      step.id,
    );
  };

  /** MAC, uuid and seq of the NIC a tap belongs to (for the ifup script's environment). */
  const nicForTap = (tap: string): { seq: number; mac: string; uuid: string } | undefined => {
    const file = plan.steps.find((s) => s.kind === "node-nic-file" && s.action === "write" && s.tap === tap);
    if (!file || file.kind !== "node-nic-file") return undefined;
    const nic = plan.runtimeAfter.nics[file.seq];
    return nic ? { seq: file.seq, mac: nic.mac ?? "", uuid: nic.uuid ?? "" } : undefined;
  };

  /** The first step after `index` that is not a nic file (which leaves the bus alone). */
  const nextOnBus = (index: number): number => {
    let i = index + 1;
    while (plan.steps[i]?.kind === "node-nic-file") i++;
    return i;
  };
  /** A NIC add's verify may use the bus as the fd-passing step read it, in its own QMP session. */
  const readsBusAfter = (index: number): boolean => {
    const next = plan.steps[nextOnBus(index)];
    return next?.kind === "verify" && next.bus === "pci";
  };

  /** The node helper request a node-side step makes (undefined for other steps). */
  const nodeRequest = (index: number, step: PlanStep): ChainedRequest | undefined => {
    switch (step.kind) {
      case "node-tap-create": {
        const nic = nicForTap(step.tap);
        const env: Record<string, string> = { INSTANCE: instance, MODE: step.mode, INTERFACE: step.tap, TAGS: "" };
        if (nic) Object.assign(env, { MAC: nic.mac, INTERFACE_INDEX: String(nic.seq), INTERFACE_UUID: nic.uuid });
        if (step.link) env.LINK = step.link;
        if (step.mode === "bridged" && step.link) env.BRIDGE = step.link;
        if (step.vlan) env.VLAN = step.vlan;
        return { op: "tap-create", args: { tap: step.tap, link: step.link, mode: step.mode, root, env, instance }, schema: TapCreateOut };
      }
      case "node-tap-remove":
        return { op: "tap-remove", args: { tap: step.tap, nicFile: `${paths.nicDir}/${step.seq}`, instance }, schema: TapRemoveOut };
      case "node-nic-file":
        return { op: "nic-file", args: { path: `${paths.nicDir}/${step.seq}`, action: step.action, content: step.tap ?? "" }, schema: NicFileOut };
      case "node-pass-fd":
        return {
          op: "pass-fd",
          args: {
            socket: paths.qmp,
            mechanism: step.mechanism,
            source: step.source,
            fdnames: step.fdnames,
            commands: step.commands.map((c) => ({ command: c.command, arguments: c.arguments })),
            placeholder: FDSET_PLACEHOLDER,
            timeoutS: 10,
            readAfter: readsBusAfter(index) ? ["query-pci"] : [],
          },
          schema: PassFdOut,
        };
      default:
        return undefined;
    }
  };

  /**
   * Answers of node-side steps already sent, by step index. Consecutive
   * node-side steps (tap, nic file, fd passing) go to the helper as one
   * chain: one round trip, and the helper skips the rest of the chain at
   * the first failure, so what ran is exactly what answered.
   */
  const chained = new Map<number, { describe: string; answer: Promise<unknown> }>();

  const sendChainFrom = (index: number): void => {
    if (chained.has(index)) return;
    const run: { index: number; describe: string; req: ChainedRequest }[] = [];
    for (let i = index; i < total; i++) {
      const step = plan.steps[i]!;
      const req = nodeRequest(i, step);
      if (!req) break;
      run.push({ index: i, describe: step.describe, req });
    }
    if (run.length < 2) return;
    // The fd passer connects to .qmp itself, and the socket serves one client.
    closeQmp();
    const answers = runNodeHelperChain(
      session,
      run.map((r) => r.req),
    );
    run.forEach((r, k) => chained.set(r.index, { describe: r.describe, answer: answers[k]! }));
  };

  /** A node-side step's answer, checked against `schema` (the one its request names). */
  const callNode = async <S extends z.ZodTypeAny>(index: number, step: PlanStep, schema: S): Promise<z.infer<S>> => {
    const pre = chained.get(index);
    if (pre) {
      chained.delete(index);
      // Checked by the chain with the request's schema, which is `schema`.
      return (await pre.answer) as z.infer<S>;
    }
    const req = nodeRequest(index, step);
    if (!req) throw new StepFailure("other", `Step ${index + 1} (${step.kind}) is not a node-side step. This is an executor bug.`);
    // The fd passer connects to .qmp itself, and the socket serves one client.
    closeQmp();
    return runNodeHelper(session, req.op, req.args, schema);
  };

  /** Chained steps after a failure: skipped by the helper, or (if their own answer was fine) already run. */
  const settleChained = async (): Promise<string[]> => {
    const left = [...chained.values()];
    chained.clear();
    const ran: string[] = [];
    for (const c of left) {
      try {
        await c.answer;
        ran.push(`${c.describe}: it ran on the node before the failure above was known; check it`);
      } catch {
        // Skipped, or failed: nothing of it stands.
      }
    }
    return ran;
  };

  const runStep = async (index: number, step: PlanStep): Promise<string | undefined> => {
    switch (step.kind) {
      case "qmp":
        await runQmpStep(index, step);
        return undefined;
      case "node-tap-create": {
        const r = await callNode(index, step, TapCreateOut);
        undo.push({
          index,
          kind: step.kind,
          describe: `delete tap ${step.tap} on the node`,
          run: async () => {
            const d = await runNodeHelper(session, "tap-remove", { tap: step.tap, instance }, TapRemoveOut);
            return d.removed ? undefined : `tap ${step.tap} was already gone`;
          },
        });
        const how = `tap ${step.tap}: ${r.how}${r.master ? ` (master ${r.master})` : ""}`;
        notes.push(how);
        return how;
      }
      case "node-tap-remove": {
        const r = await callNode(index, step, TapRemoveOut);
        const what = r.removed ? `deleted tap ${r.tap}` : `no tap to delete${r.tap ? ` (${r.tap} is already gone)` : ""}`;
        notes.push(what);
        return what;
      }
      case "node-nic-file": {
        const path = `${paths.nicDir}/${step.seq}`;
        const r = await callNode(index, step, NicFileOut);
        undo.push({
          index,
          kind: step.kind,
          describe: `restore ${path}`,
          run: async () => {
            await runNodeHelper(session, "nic-file", r.previous === null ? { path, action: "remove" } : { path, action: "write", content: r.previous }, NicFileOut);
          },
        });
        return undefined;
      }
      case "node-pass-fd": {
        const r = await callNode(index, step, PassFdOut);
        if (readsBusAfter(index) && r.after.length === 1) {
          freshPci = { afterStep: index, devices: liveSlotsFromQueryPci(QueryPciResultSchema.parse(r.after[0])) };
        }
        const passing = r.results.filter((x) => x.command === "getfd" || x.command === "add-fd");
        const failedPass = passing.find((x) => !x.ok);
        if (failedPass) throw new QmpError(failedPass.command, failedPass.error?.class ?? "GenericError", failedPass.error?.desc ?? "failed");
        const ran = r.results.slice(passing.length);
        for (const [i, c] of step.commands.entries()) {
          const res = ran[i];
          if (!res) throw new StepFailure("other", `The node-side step stopped before ${c.command} (${c.describe}) without saying why.`, deviceOf(c));
          if (!res.ok) {
            if (c.command === "remove-fd") {
              // Best effort, as in Ganeti: the block node holds its own reference.
              notes.push(`remove-fd failed (${res.error?.desc ?? "?"}); the fd set is dropped when QEMU no longer uses it.`);
              break;
            }
            throw new StepFailure("qmp-refused", `QEMU refused ${c.command} (${c.describe}): ${res.error?.desc ?? "?"} (${res.error?.class ?? "?"})`, deviceOf(c));
          }
          if (c.undo) undo.push(qmpUndo(index, c.undo, `${c.undo.command} ${deviceOf(c) ?? ""} (undo of ${c.command})`.replace(/ {2,}/g, " ")));
        }
        return `passed ${step.mechanism === "getfd" ? step.fdnames.join(", ") : `fd set ${r.fdset ?? "?"}`} over ${paths.qmp}`;
      }
      case "wait-device-deleted": {
        await emit({ index, kind: step.kind, describe: step.describe, state: "waiting-guest" });
        const how = await waitGone(step.id, opts.deviceDeletedTimeoutMs ?? step.timeoutMs);
        irreversible.push(`${step.id} was removed from the running instance (the guest released it); undo cannot put it back, so the live bus no longer has what the runtime file lists`);
        return how === "event" ? `DEVICE_DELETED for ${step.id}` : `${step.id} left the bus`;
      }
      case "verify":
        await verifyStep(index, step);
        verified.push({ id: step.id, bus: step.bus, expect: step.expect, ...(step.slot !== undefined ? { slot: step.slot } : {}), ...(step.scsiId !== undefined ? { scsiId: step.scsiId } : {}) });
        return undefined;
      case "write-runtime": {
        closeQmp();
        const prepared = await journalEntry();
        // Known lost before the request went out: then the file is surely untouched.
        if (sshClosed) throw new StepFailure("connection-lost", `The SSH connection to ${session.label} was gone before the write was sent, so the runtime file was not written.`);
        writeAttempted = true;
        const store = new RuntimeStore(session, opts.nodeId);
        // The last step: the node frees the lock in the same request once the file is replaced.
        const last = index === total - 1 && lock?.held ? lock.handOver() : undefined;
        const { entry, unlocked } = await opts.journal.commit(store, prepared, last ? { unlock: last.token } : {});
        if (unlocked) last?.released();
        written = { generation: step.generation, journalEntryId: entry.id };
        return `journal entry ${entry.id}`;
      }
    }
  };
  let written: ExecuteSuccess["written"] | undefined;

  // The journal's pending entry is made while the live steps run (the bytes
  // come from the plan), so the write step waits for no local disk.
  let journaling: Promise<JournalEntry> | undefined;
  const journalEntry = (): Promise<JournalEntry> => {
    journaling ??= opts.journal.prepare(opts.nodeId, { root, instance, planId, content: plan.fileTextAfter, expected: opts.expectedRuntime });
    return journaling;
  };
  /** A prepared entry whose write never started is not a write: drop it. */
  const dropUnusedEntry = async () => {
    if (!journaling || writeAttempted) return;
    await journaling.then((e) => opts.journal.discard(e)).catch(() => undefined);
  };

  const classify = (err: unknown): FailureCause => {
    if (err instanceof StepFailure) return err.reason;
    if (sshClosed || err instanceof SshConnectionLostError) return "connection-lost";
    if (err instanceof InstanceLockedError) return "lock";
    if (err instanceof RuntimeChangedError) return "runtime-changed";
    if (err instanceof QmpBusyError) return "qmp-busy";
    if (err instanceof QmpError) return "qmp-refused";
    if (err instanceof QmpTimeoutError) return "timeout";
    if (err instanceof QmpClosedError) return "connection-lost";
    if (err instanceof NodeHelperError || err instanceof ExecError) return "node-step";
    return "other";
  };

  const rollback = async (): Promise<{ undone: string[]; notUndone: string[] }> => {
    const undone: string[] = [];
    const notUndone: string[] = await settleChained();
    for (const u of [...undo].reverse()) {
      if (sshClosed) {
        notUndone.push(`${u.describe}: the SSH connection is gone`);
        continue;
      }
      await emit({ index: u.index, kind: u.kind, describe: u.describe, state: "undoing" });
      try {
        const detail = await u.run();
        undone.push(detail ? `${u.describe} (${detail})` : u.describe);
        await emit({ index: u.index, kind: u.kind, describe: u.describe, state: "undone", ...(detail ? { detail } : {}) });
      } catch (err) {
        notUndone.push(`${u.describe}: ${(err as Error).message}`);
      }
    }
    closeQmp();
    return { undone, notUndone: [...notUndone, ...irreversible] };
  };

  const fail = async (index: number, kind: PlanStepKind | "precheck", describe: string, err: unknown, device?: string): Promise<ExecuteFailure> => {
    // ssh2 may report the lost socket before its "close" event: undo nothing over a dead link.
    if (err instanceof SshConnectionLostError) sshClosed = true;
    const cause = classify(err);
    const { undone, notUndone } = await rollback();
    const runtimeUnchanged = !(writeAttempted && !(err instanceof RuntimeChangedError) && !(err instanceof RuntimeFileError) && cause === "connection-lost");
    const dev = (err instanceof StepFailure && err.device) || device;
    const where = index >= 0 ? `Step ${index + 1}/${total} (${kind}: ${describe})` : `Before the first step (${describe})`;
    const parts = [
      `${where} failed${dev ? ` for ${dev}` : ""}: ${(err as Error).message ?? String(err)}`,
      undone.length ? `Undone: ${undone.join("; ")}.` : undo.length === 0 ? "Nothing had been changed yet." : "",
      notUndone.length ? `NOT undone: ${notUndone.join("; ")}.` : "",
      runtimeUnchanged
        ? `The runtime file of ${instance} was left as it was.`
        : `The connection died while the runtime file was being replaced: it holds either the old or the new bytes (never a mix); the journal keeps the write as pending.`,
      `Next: ${NEXT_STEP[cause]}`,
    ].filter((s) => s.length > 0);
    return {
      ok: false,
      planId,
      cause,
      failedStep: { index, kind, describe, ...(dev ? { device: dev } : {}) },
      error: { name: err instanceof Error ? err.name : "Error", message: parts.join(" ") },
      stepsDone,
      undone,
      notUndone,
      runtimeUnchanged,
      notes,
    };
  };

  // A session handed over but first needed by the node-side fd passer (which
  // connects itself; the socket serves one client): let it go now, so QEMU
  // has taken the hang-up by the time the passer knocks.
  if (qmp && plan.steps.find((st) => st.kind === "qmp" || st.kind === "node-pass-fd" || st.kind === "verify")?.kind === "node-pass-fd") closeQmp();

  try {
    const lockDescribe = `Take the lock on ${instance} and check its runtime file still holds the bytes the plan was made from`;
    try {
      await emit({ index: -1, kind: "precheck", describe: lockDescribe, state: "running" });
      // The lock request also reads the file's digest under the lock: one round trip for both.
      lock = opts.lock ?? (await (opts.locks ?? new InstanceLocks(session, root)).acquire(instance, { timeoutMs: opts.lockTimeoutMs ?? 10_000, check: paths.runtime }));
      if (!lock.held) throw new StepFailure("lock", `The lock on ${instance} was lost before the first step; nothing was changed.`);
      assertUnchanged(paths.runtime, session.label, lock.checked ?? null, opts.expectedRuntime);
      journalEntry().catch(() => undefined); // awaited (and its error seen) by the write step
      await emit({ index: -1, kind: "precheck", describe: lockDescribe, state: "done" });
    } catch (err) {
      await emit({ index: -1, kind: "precheck", describe: lockDescribe, state: "failed", detail: (err as Error).message });
      return await fail(-1, "precheck", lockDescribe, err);
    }

    for (const [index, step] of plan.steps.entries()) {
      if (lock && !lock.held) {
        const err = new StepFailure(sshClosed ? "connection-lost" : "lock", `The lock on ${instance} was lost before this step; stopping so no other operation is overrun.`);
        return await fail(index, step.kind, step.describe, err, deviceOf(step));
      }
      await emit({ index, kind: step.kind, describe: step.describe, state: "running" });
      try {
        sendChainFrom(index);
        const detail = await runStep(index, step);
        stepsDone++;
        await emit({ index, kind: step.kind, describe: step.describe, state: "done", ...(detail ? { detail } : {}) });
      } catch (err) {
        await emit({ index, kind: step.kind, describe: step.describe, state: "failed", detail: (err as Error).message });
        return await fail(index, step.kind, step.describe, err, deviceOf(step));
      }
    }
    if (!written) {
      return await fail(total - 1, "write-runtime", "write the runtime file", new StepFailure("other", "The plan has no write-runtime step: nothing would be recorded. This is a planner bug."));
    }
    return { ok: true, planId, stepsDone, verified, written, notes };
  } finally {
    closeQmp();
    session.client.off("close", onSshClose);
    await Promise.all([lock?.release().catch(() => undefined), dropUnusedEntry()]);
  }
}
