// One run of a plan: everything the steps share while it lasts. The QMP
// session (opened when a step needs it, closed before node-side steps and
// the write), node-side requests sent ahead as one chain (node-chain.ts), the undo stack,
// the lock, the journal entry made while the live steps run, and how a
// failure is rolled back and reported. The steps themselves are in
// step-kinds.ts; executor.ts walks the plan.
import { randomUUID } from "node:crypto";
import { SshConnectionLostError, type NodeSession } from "../ssh/session.js";
import type { QmpClient } from "../qmp/client.js";
import { RuntimeStore, RuntimeWriteUnknownError, sha256Hex } from "../on-node/runtime-store.js";
import type { Journal, JournalEntry } from "./journal.js";
import type { HeldLock, InstanceLocks } from "../on-node/instance-lock.js";
import { instancePaths, type InstancePaths } from "../../shared/on-node/layout.js";
import { describeOnNode, withGanetiUuid, type ChangeFailed, type ChangeSucceeded, type PlanOk, type PlanStep, type PlanStepKind, type ProgressKind, type StepProgress, type VerifiedDevice, type WriteUnknown } from "../../shared/hotplug/index.js";
import type { GanetiJobRun } from "../../shared/ganeti/config-change.js";
import type { LivePciDevice } from "../../shared/qmp/query-pci.js";
import { livePci, openQmp, peripherals, type QmpTimeouts } from "./qmp-session.js";
import type { ChainedRequest } from "../on-node/node-helper.js";
import { NodeChain } from "./node-chain.js";
import { NEXT_STEP, StepFailure, WriteUnknownFailure, failureCause, isAnswerLost } from "./step-failure.js";

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
  onProgress?: (e: StepProgress) => void | Promise<void>;
  planId?: string;
  qmp?: QmpTimeouts;
  /** Override the plan's wait for DEVICE_DELETED (ms). */
  deviceDeletedTimeoutMs?: number;
  /**
   * A session to the node when this run's own is gone, to read the runtime
   * file again after a write whose answer was lost. `done` is called once
   * the read is over (a session made for it is closed there).
   */
  reconnect?: Reconnect;
  /** The cluster's master, connected: where a plan's ganeti-config steps run. */
  ganeti?: { name: string; session: NodeSession };
}

/** How to reach the node again; see ExecutePlanOptions.reconnect. */
export type Reconnect = () => Promise<{ session: NodeSession; done: () => void }>;

/** How long reading the file again after a lost write answer may take, per way of reaching the node. */
const READ_BACK_MS = 20_000;

/** What undoes one done thing, run newest first if a later step fails. */
export interface UndoEntry {
  index: number;
  kind: PlanStepKind;
  describe: string;
  /** Resolves to extra words for the UI, if any. */
  run: () => Promise<string | void>;
  /** It runs on the master, not on the node: a lost connection to the node does not stop it. */
  onMaster?: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The first sentence of an error's message, for a list entry. */
function shortReason(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  const cut = m.search(/[.:](\s|$)/);
  return (cut > 0 ? m.slice(0, cut) : m).slice(0, 200);
}

/**
 * `fn`, or an error naming `what` after `ms`. `late` registers what to run
 * if `fn` gets something (a session) after the limit: it is let go then.
 */
async function withinMs<T>(ms: number, what: string, fn: (late: (release: () => void) => void) => Promise<T>): Promise<T> {
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onLate: (() => void)[] = [];
  const work = fn((release) => {
    if (timedOut) release();
    else onLate.push(release);
  });
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          for (const r of onLate) r();
          reject(new Error(`${what} took more than ${ms / 1000} s`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined);
  }
}

export class PlanRun {
  readonly session: NodeSession;
  readonly instance: string;
  /** The plan as it runs now: a NIC Ganeti recorded takes its uuid from then on (useGanetiUuid). */
  private current: PlanOk;
  readonly planId: string;
  readonly paths: InstancePaths;
  readonly total: number;
  readonly notes: string[] = [];
  readonly undo: UndoEntry[] = [];
  /** Done things no undo can take back (a device the guest released). */
  readonly irreversible: string[] = [];
  /** Devices whose unplug QEMU accepted (device_del) and the guest has not yet released: no undo takes the request back. */
  private readonly unplugs = new Set<string>();
  readonly verified: VerifiedDevice[] = [];
  /** Ganeti's commands run on the master (ganeti-config steps and their undos). */
  readonly ganetiJobs: GanetiJobRun[] = [];
  /** Ganeti's own hotplug saved the runtime file (the job that did), in a plan that has no write of its own. */
  ganetiWrote: { jobId?: number } | undefined;
  stepsDone = 0;
  lock: HeldLock | undefined;
  /** Set by the write step. */
  written: ChangeSucceeded["written"] | undefined;
  /** The write request went out: from then on a lost connection may have replaced the file. */
  writeAttempted = false;
  sshClosed = false;
  /** query-pci as read by the node-side step at `afterStep`, right after its change. */
  freshPci: { afterStep: number; devices: LivePciDevice[] } | undefined;

  private qmp: QmpClient | undefined;
  private readonly onSshClose = () => {
    this.sshClosed = true;
  };
  /** The node-side steps, sent ahead in chains. */
  readonly chain: NodeChain;
  private journaling: Promise<JournalEntry> | undefined;

  constructor(
    readonly opts: ExecutePlanOptions,
    /** The node helper request a node-side step makes (undefined for other steps). */
    nodeRequest: (run: PlanRun, index: number, step: PlanStep) => ChainedRequest | undefined,
  ) {
    this.session = opts.session;
    this.instance = opts.instance;
    this.current = opts.plan;
    this.planId = opts.planId ?? randomUUID();
    this.paths = instancePaths(opts.root, opts.instance);
    this.total = opts.plan.steps.length;
    this.qmp = opts.openQmp;
    this.chain = new NodeChain(opts.session, () => this.plan.steps, (index, step) => nodeRequest(this, index, step), () => this.closeQmp());
    this.session.client.once("close", this.onSshClose);
  }

  get plan(): PlanOk {
    return this.current;
  }

  /** Ganeti recorded a NIC or disk under `real` (a disk: with its storage at `realPath`): the steps from `from` on, and what is written, take it in place of `provisional`. */
  useGanetiUuid(from: number, provisional: string, real: string, realPath?: string): void {
    this.current = withGanetiUuid(this.current, provisional, real, from, realPath);
  }

  /** Whether the plan still waits for Ganeti to name a device's uuid (what it writes is not final before that). */
  awaitsGanetiUuid(from: number): boolean {
    return this.plan.steps.slice(from).some((s) => s.kind === "ganeti-config" && (s.op === "add-nic" || s.op === "add-disk"));
  }

  async emit(e: Omit<StepProgress, "total">): Promise<void> {
    try {
      await this.opts.onProgress?.({ ...e, total: this.total });
    } catch {
      // A broken progress listener must not break the change it reports on.
    }
  }

  // ---- the QMP session

  async ensureQmp(): Promise<QmpClient> {
    if (!this.qmp) this.qmp = await openQmp(this.session, this.paths.qmp, this.opts.qmp);
    return this.qmp;
  }

  closeQmp(): void {
    this.qmp?.close();
    this.qmp = undefined;
  }

  /**
   * A session handed over but first needed by the node-side fd passer (which
   * connects itself; the socket serves one client): let it go now, so QEMU
   * has taken the hang-up by the time the passer knocks.
   */
  dropSessionNeededByPasser(): void {
    if (this.qmp && this.plan.steps.find((st) => st.kind === "qmp" || st.kind === "node-pass-fd" || st.kind === "verify")?.kind === "node-pass-fd") this.closeQmp();
  }

  async present(q: QmpClient, id: string): Promise<boolean> {
    if (q.supports("qom-list")) return (await peripherals(q)).has(id);
    return (await livePci(q)).some((d) => d.qdevId === id);
  }

  /** Resolves once `id` is gone (DEVICE_DELETED or no longer on the bus); throws on timeout. */
  async waitGone(id: string, timeoutMs: number): Promise<"event" | "gone"> {
    const q = await this.ensureQmp();
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
      if (!(await this.present(q, id))) return "gone";
      if (Date.now() >= deadline) {
        throw new StepFailure(
          "guest-holds-device",
          `${id} is still in use by the guest: no DEVICE_DELETED within ${Math.round(timeoutMs / 100) / 10} s and it is still on the bus. Nothing was recorded.`,
          id,
        );
      }
    }
  }

  /** QEMU accepted device_del for `id`: the guest may release it from now on, whatever happens to this run. */
  unplugRequested(id: string): void {
    this.unplugs.add(id);
  }

  /** The guest released `id`. */
  unplugDone(id: string): void {
    this.unplugs.delete(id);
  }

  /** Unplugs asked for and not seen through, in words: the guest may still let go of each. */
  private pendingUnplugs(): string[] {
    return [...this.unplugs].map(
      (id) =>
        `device_del ${id} went out and QEMU accepted it: the guest may still release ${id} at any time, and then the runtime file (unchanged) lists a device that is not live (the inventory shows that drift)`,
    );
  }

  // ---- the plan around a step

  /** The first step after `index` that is not a nic file (which leaves the bus alone). */
  nextOnBus(index: number): number {
    let i = index + 1;
    while (this.plan.steps[i]?.kind === "node-nic-file") i++;
    return i;
  }

  /** A NIC add's verify may use the bus as the fd-passing step read it, in its own QMP session. */
  readsBusAfter(index: number): boolean {
    const next = this.plan.steps[this.nextOnBus(index)];
    return next?.kind === "verify" && next.bus === "pci";
  }

  /** MAC, uuid and seq of the NIC a tap belongs to (for the ifup script's environment). */
  nicForTap(tap: string): { seq: number; mac: string; uuid: string } | undefined {
    const file = this.plan.steps.find((s) => s.kind === "node-nic-file" && s.action === "write" && s.tap === tap);
    if (!file || file.kind !== "node-nic-file") return undefined;
    const nic = this.plan.runtimeAfter.nics[file.seq];
    return nic ? { seq: file.seq, mac: nic.mac ?? "", uuid: nic.uuid ?? "" } : undefined;
  }

  // ---- the journal

  /**
   * The journal's pending entry, made while the live steps run (the bytes
   * come from the plan), so the write step waits for no local disk.
   */
  journalEntry(): Promise<JournalEntry> {
    this.journaling ??= this.opts.journal.prepare(this.opts.nodeId, {
      root: this.opts.root,
      instance: this.instance,
      planId: this.planId,
      content: this.plan.fileTextAfter,
      expected: this.opts.expectedRuntime,
    });
    return this.journaling;
  }

  /** A prepared entry whose write never started is not a write: drop it. */
  private async dropUnusedEntry(): Promise<void> {
    if (!this.journaling || this.writeAttempted) return;
    await this.journaling.then((e) => this.opts.journal.discard(e)).catch(() => undefined);
  }

  // ---- the end of a run

  succeeded(): ChangeSucceeded | undefined {
    const by = this.plan.runtimeWrite;
    // A plan without a write of its own: Ganeti's hotplug saved the file, or only Ganeti's configuration changed.
    const written: ChangeSucceeded["written"] | undefined =
      this.written ??
      (by === "unchanged"
        ? { state: "unchanged", generation: this.plan.writeGeneration }
        : by === "ganeti" && this.ganetiWrote !== undefined
          ? { state: "by-ganeti", generation: this.plan.writeGeneration, ...(this.ganetiWrote.jobId !== undefined ? { ganetiJob: this.ganetiWrote.jobId } : {}) }
          : undefined);
    if (!written) return undefined;
    return { ok: true, planId: this.planId, stepsDone: this.stepsDone, verified: this.verified, written, notes: this.notes, ...(this.ganetiJobs.length ? { ganetiJobs: this.ganetiJobs } : {}) };
  }

  private async rollback(): Promise<{ undone: string[]; notUndone: string[] }> {
    const undone: string[] = [];
    const notUndone: string[] = await this.chain.settle();
    for (const u of [...this.undo].reverse()) {
      if (this.sshClosed && !u.onMaster) {
        notUndone.push(`${u.describe}: the SSH connection is gone`);
        continue;
      }
      await this.emit({ index: u.index, kind: u.kind, describe: u.describe, state: "undoing" });
      try {
        const detail = await u.run();
        undone.push(detail ? `${u.describe} (${detail})` : u.describe);
        await this.emit({ index: u.index, kind: u.kind, describe: u.describe, state: "undone", ...(detail ? { detail } : {}) });
      } catch (err) {
        notUndone.push(`${u.describe}: ${(err as Error).message}`);
      }
    }
    this.closeQmp();
    return { undone, notUndone: [...notUndone, ...this.pendingUnplugs(), ...this.irreversible] };
  }

  /**
   * A write whose answer was lost: nothing is settled on a guess. The file
   * is read again (over this run's connection, or a new one when that is
   * gone) and the failure says what it holds now.
   */
  async writeUnknown(err: RuntimeWriteUnknownError, journalEntryId: string, device: string): Promise<WriteUnknownFailure> {
    const unknown: WriteUnknown = { state: "unknown", why: err.why, journalEntryId, ...(await this.readBack()) };
    return new WriteUnknownFailure(err.message, unknown, device);
  }

  /** What the runtime file holds now, against the plan's bytes and the previous ones. */
  private async readBack(): Promise<Pick<WriteUnknown, "onNode" | "detail" | "checkedAt">> {
    const planned = sha256Hex(Buffer.from(this.plan.fileTextAfter, "utf8"));
    const previous = sha256Hex(this.opts.expectedRuntime);
    const ways: Reconnect[] = [];
    if (!this.sshClosed && !this.session.closed) ways.push(async () => ({ session: this.session, done: () => undefined }));
    if (this.opts.reconnect) ways.push(this.opts.reconnect);
    const problems: string[] = [];
    for (const way of ways) {
      try {
        const d = await withinMs(READ_BACK_MS, "reading the runtime file again", async (late) => {
          const reached = await way();
          late(reached.done);
          try {
            return await new RuntimeStore(reached.session, this.opts.nodeId).digest(this.opts.root, this.instance);
          } finally {
            reached.done();
          }
        });
        const checkedAt = new Date().toISOString();
        if (!d) return { onNode: "missing", detail: `${this.paths.runtime} does not exist`, checkedAt };
        const detail = `sha256 ${d.sha256.slice(0, 16)}…, ${d.size} bytes`;
        if (d.regular === false) return { onNode: "other", detail: `${this.paths.runtime} is not a regular file`, checkedAt };
        if (d.sha256 === planned) return { onNode: "planned", detail, checkedAt };
        if (d.sha256 === previous) return { onNode: "previous", detail, checkedAt };
        return { onNode: "other", detail, checkedAt };
      } catch (e) {
        problems.push((e as Error).message ?? String(e));
      }
    }
    if (ways.length === 0) problems.push(`the SSH connection to ${this.session.label} is gone and this run has no way to reconnect`);
    return { onNode: "unread", detail: problems.join("; "), checkedAt: new Date().toISOString() };
  }

  /** After a write whose outcome is unknown: nothing is undone, and each live change is named as kept. */
  private async keepAll(): Promise<{ undone: string[]; notUndone: string[] }> {
    const ran = await this.chain.settle();
    const kept = [...this.undo].reverse().map((u) => `${u.describe}: not done, because the runtime file may record the change (nothing is rolled back on a guess)`);
    this.closeQmp();
    return { undone: [], notUndone: [...ran, ...kept, ...this.pendingUnplugs(), ...this.irreversible] };
  }

  /** Undo what was done, and say what failed, what was undone and what to do next. */
  async fail(index: number, kind: ProgressKind, describe: string, err: unknown, device?: string): Promise<ChangeFailed> {
    // ssh2 may report the lost socket before its "close" event: undo nothing over a dead link.
    if (err instanceof SshConnectionLostError) this.sshClosed = true;
    const cause = failureCause(err, this.sshClosed);
    const unknown = err instanceof WriteUnknownFailure ? err.unknown : undefined;
    const { undone, notUndone } = unknown ? await this.keepAll() : await this.rollback();
    // The failing step itself, when its answer was lost after its request went out: it may have run.
    if (isAnswerLost(err)) notUndone.unshift(`${describe}: its answer was lost (${shortReason(err)}), so it may have run; check it`);
    const dev = (err instanceof StepFailure && err.device) || device;
    const where = index >= 0 ? `Step ${index + 1}/${this.total} (${kind}: ${describe})` : `Before the first step (${describe})`;
    const onNode = unknown ? describeOnNode(unknown, this.instance) : undefined;
    const parts = [
      `${where} failed${dev ? ` for ${dev}` : ""}: ${(err as Error).message ?? String(err)}`,
      unknown
        ? "Nothing was undone: the live changes stay, because the runtime file may record them."
        : undone.length
          ? `Undone: ${undone.join("; ")}.`
          : this.undo.length === 0 && this.irreversible.length === 0 && notUndone.length === 0
            ? "Nothing had been changed yet."
            : "",
      !unknown && notUndone.length ? `NOT undone: ${notUndone.join("; ")}.` : "",
      onNode ? `${onNode.now} The journal keeps the write as pending (entry ${unknown!.journalEntryId}).` : `The runtime file of ${this.instance} was not written.`,
      `Next: ${onNode ? onNode.next : NEXT_STEP[cause]}`,
    ].filter((s) => s.length > 0);
    return {
      ok: false,
      planId: this.planId,
      cause,
      failedStep: { index, kind, describe, ...(dev ? { device: dev } : {}) },
      error: { name: err instanceof Error ? err.name : "Error", message: parts.join(" ") },
      stepsDone: this.stepsDone,
      undone,
      notUndone,
      write: unknown ?? { state: "not-written" },
      notes: this.notes,
      ...(this.ganetiJobs.length ? { ganetiJobs: this.ganetiJobs } : {}),
    };
  }

  /** Whatever happened: no QMP session left open, the lock freed, an unused journal entry dropped. */
  async end(): Promise<void> {
    this.closeQmp();
    this.session.client.off("close", this.onSshClose);
    await Promise.all([this.lock?.release().catch(() => undefined), this.dropUnusedEntry()]);
  }
}
