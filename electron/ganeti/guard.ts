// A change's Ganeti stage. Ganeti's hotplug (and its start, reboot,
// migration) loads the runtime file, works and saves it without our lock, so
// around a change on an instance of a Ganeti cluster:
// - before: ask the master's job queue for jobs acting on the instance and
//   wait for them to end (each shown as progress), or refuse once the wait
//   runs out: so the change starts from what Ganeti left;
// - after our write: ask again and wait for any job that overlapped us, then
//   compare our devices with the live bus and the file and repair a record a
//   Ganeti save undid (reconcile.ts); a repair is followed by another round,
//   since a job may have loaded the file before it.
// Where the master cannot be asked (not a configured node, unreachable), the
// review says so, the change still runs, and the comparison after the write
// is made all the same.
import type { NodeSession } from "../ssh/session.js";
import type { Journal } from "../hotplug/journal.js";
import type { ChangeOutcome, PlanOk, StepProgress } from "../../shared/hotplug/index.js";
import type { GanetiJob, GanetiStageReport, SeenJob } from "../../shared/ganeti/jobs.js";
import { ganetiNameOf, reachMaster, type MasterReach, type RegistryNode } from "./master.js";
import { jobsOn, waitForJob } from "./jobs.js";
import { expectationsOf, repairOurRecord, type OurChange } from "./reconcile.js";

/** How a change reaches Ganeti: the configured nodes, among which the master is found. */
export interface GanetiAccess {
  registry: () => readonly RegistryNode[];
  /** What to do when the master is not in the registry (default: add it as a node). */
  hint?: string;
  /** How long a change waits for Ganeti's jobs on the instance, before and after (default 5 minutes). */
  waitTimeoutMs?: number;
}

export const DEFAULT_GANETI_WAIT_MS = 5 * 60_000;
/** Rounds of "wait for jobs, then compare" after a write; each round that repaired something asks for another. */
const MAX_AFTER_ROUNDS = 5;

type Emit = (p: Omit<StepProgress, "total">) => void | Promise<void>;

const seen = (j: GanetiJob): SeenJob => ({ id: j.id, summary: j.summary });
const named = (jobs: readonly SeenJob[]) => jobs.map((j) => `${j.id} (${j.summary})`).join(", ");

export class GanetiBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GanetiBusyError";
  }
}

export class GanetiGuard {
  readonly report: GanetiStageReport;
  private readonly master: NodeSession | undefined;
  /** What went wrong after the write, if anything. */
  private problem: string | undefined;

  private constructor(
    reach: Exclude<MasterReach, { kind: "not-ganeti" }>,
    readonly instance: string,
    /** Ganeti's name of the instance's node, when known (node-level jobs then count only for it). */
    private readonly nodeName: string | undefined,
    private readonly waitMs: number,
  ) {
    this.master = reach.kind === "reachable" ? reach.session : undefined;
    this.report =
      reach.kind === "reachable"
        ? { queue: "checked", master: reach.master, waitedBefore: [], waitedAfter: [], repairs: [] }
        : { queue: "unchecked", ...(reach.master !== "?" ? { master: reach.master } : {}), reason: reach.reason, waitedBefore: [], waitedAfter: [], repairs: [] };
  }

  /** The stage for a change on `instance` of the node `session` reaches (as `host`); undefined when the node is in no Ganeti cluster. */
  static async open(session: NodeSession, root: string, host: string, instance: string, access: GanetiAccess): Promise<GanetiGuard | undefined> {
    const reach = await reachMaster(session, root, access.registry(), access.hint);
    if (reach.kind === "not-ganeti") return undefined;
    const nodeName = reach.cluster ? ganetiNameOf(reach.cluster, host) : undefined;
    return new GanetiGuard(reach, instance, nodeName, access.waitTimeoutMs ?? DEFAULT_GANETI_WAIT_MS);
  }

  /** The master, connected, when it can be reached: where Ganeti's configuration is changed. */
  get masterAccess(): { name: string; session: NodeSession } | undefined {
    return this.master && this.report.master ? { name: this.report.master, session: this.master } : undefined;
  }

  /** Why Ganeti's job queue cannot be checked, for the review; undefined when it can. */
  get uncheckedNote(): string | undefined {
    return this.report.queue === "unchecked" ? `Ganeti's job queue cannot be checked: ${this.report.reason} Ganeti's own jobs on ${this.instance} may then overlap this change unseen; after the write, our record in the runtime file is compared with the live bus all the same.` : undefined;
  }

  /** Jobs acting on the instance now (for the review); empty when the queue cannot be asked. */
  async jobsNow(): Promise<SeenJob[]> {
    if (!this.master) return [];
    return (await jobsOn(this.master, this.instance, this.nodeName)).map(seen);
  }

  /**
   * Waits until no job acts on the instance; returns the jobs waited for.
   * A queue that cannot be asked any more turns the report to unchecked.
   */
  private async waitQuiet(emit: Emit, index: number, when: string): Promise<SeenJob[]> {
    const waited: SeenJob[] = [];
    if (!this.master) return waited;
    const deadline = Date.now() + this.waitMs;
    const describe = `Ask Ganeti's job queue on ${this.report.master} for jobs on ${this.instance} ${when}`;
    await emit({ index, kind: "ganeti-jobs", describe, state: "running" });
    for (;;) {
      let jobs: GanetiJob[];
      try {
        jobs = await jobsOn(this.master, this.instance, this.nodeName);
      } catch (err) {
        this.report.queue = "unchecked";
        this.report.reason = (err as Error).message;
        await emit({ index, kind: "ganeti-jobs", describe, state: "done", detail: `Ganeti's job queue cannot be checked: ${(err as Error).message}` });
        return waited;
      }
      if (jobs.length === 0) break;
      for (const j of jobs) {
        const left = deadline - Date.now();
        await emit({ index, kind: "ganeti-jobs", describe, state: "running", detail: `Waiting for Ganeti's job ${j.id} (${j.summary}, ${j.status}) to finish.` });
        if (left <= 0) {
          const message = `Ganeti's job ${j.id} (${j.summary}) is still ${j.status} on ${this.instance} after ${Math.round(this.waitMs / 1000)} s. Try again once it has finished (gnt-job watch ${j.id} on ${this.report.master}).`;
          await emit({ index, kind: "ganeti-jobs", describe, state: "failed", detail: message });
          throw new GanetiBusyError(message);
        }
        await waitForJob(this.master, j.id, left);
        if (!waited.some((w) => w.id === j.id)) waited.push(seen(j));
      }
    }
    await emit({ index, kind: "ganeti-jobs", describe, state: "done", ...(waited.length ? { detail: `Waited for Ganeti's job(s) ${named(waited)}.` } : {}) });
    return waited;
  }

  /** Before the change: waits for Ganeti's jobs on the instance; throws GanetiBusyError when they outlast the wait. */
  async before(emit: Emit): Promise<void> {
    this.report.waitedBefore.push(...(await this.waitQuiet(emit, -1, "before the change")));
  }

  /**
   * After our write: waits for jobs that overlapped it, then keeps our record
   * whole (repairing it if a Ganeti save undid it). What it could not do is
   * said in notes(), never thrown: the change itself is done.
   */
  async after(change: OurChange, journal: Journal, session: NodeSession, emit: Emit): Promise<void> {
    try {
      await this.keepWhole(change, journal, session, emit);
    } catch (err) {
      this.problem = `The runtime file could not be compared with the live bus after the change: ${(err as Error).message}. Check ${this.instance}'s drift in the inventory.`;
      await emit({ index: change.plan.steps.length + 1, kind: "repair-runtime", describe: `Compare ${this.instance}'s live bus with its runtime file`, state: "failed", detail: this.problem });
    }
  }

  private async keepWhole(change: OurChange, journal: Journal, session: NodeSession, emit: Emit): Promise<void> {
    const index = change.plan.steps.length;
    const expected = expectationsOf(change);
    for (let round = 1; round <= MAX_AFTER_ROUNDS; round++) {
      const waited = await this.waitQuiet(emit, index, "that overlapped our write");
      for (const w of waited) if (!this.report.waitedAfter.some((x) => x.id === w.id)) this.report.waitedAfter.push(w);
      const describe = `Compare ${this.instance}'s live bus with its runtime file for the devices this change touched`;
      await emit({ index: index + 1, kind: "repair-runtime", describe, state: "running" });
      const repairs = await repairOurRecord(session, change, journal, expected);
      this.report.repairs.push(...repairs);
      const detail = repairs.length
        ? `A Ganeti save${waited.length ? ` (job ${named(waited)})` : ""} had undone our record: ${repairs.map((r) => `${r.device} ${r.action}`).join(", ")} (journal entry ${repairs[0]?.journalEntryId}).`
        : "Every device this change touched is recorded as it is live.";
      await emit({ index: index + 1, kind: "repair-runtime", describe, state: "done", detail });
      // A repair is a write too: a job that loaded the file before it may save over it. No repair: whole.
      if (repairs.length === 0 || !this.master) return;
    }
  }

  /** What the outcome should tell people. */
  notes(): string[] {
    const r = this.report;
    const out: string[] = this.problem ? [this.problem] : [];
    if (r.queue === "unchecked") out.push(`Ganeti's job queue was not checked: ${r.reason}`);
    if (r.waitedBefore.length) out.push(`Waited for Ganeti's job(s) ${named(r.waitedBefore)} on ${this.instance} before starting.`);
    if (r.waitedAfter.length) out.push(`Ganeti's job(s) ${named(r.waitedAfter)} ran on ${this.instance} during this change; waited for them before checking the runtime file.`);
    for (const p of r.repairs) out.push(`${p.device} was ${p.action === "re-recorded" ? "live but missing from the runtime file (a Ganeti save overwrote our record): recorded again" : "recorded again by a Ganeti save though no longer live: dropped from the runtime file"} (journal entry ${p.journalEntryId}).`);
    return out;
  }
}

/** What the review should say about Ganeti: the queue cannot be asked, or jobs act on the instance now. */
export async function ganetiReviewNotes(stage: { guard?: GanetiGuard; error?: Error }, instance: string): Promise<string[]> {
  if (stage.error) return [`Ganeti's job queue could not be asked: ${stage.error.message}`];
  const guard = stage.guard;
  if (!guard) return [];
  if (guard.uncheckedNote) return [guard.uncheckedNote];
  try {
    const jobs = await guard.jobsNow();
    return jobs.length ? [`Ganeti's job(s) ${named(jobs)} act on ${instance} now: Apply waits for them to finish, then plans this change again on what they leave.`] : [];
  } catch (err) {
    return [`Ganeti's job queue could not be asked: ${(err as Error).message}`];
  }
}

/** The stage for a review or a dry run (nothing waited for): its guard, none off a cluster, or why it could not be opened. */
export async function openGanetiStage(target: StageTarget, instance: string): Promise<{ guard?: GanetiGuard; error?: Error; consulted: boolean }> {
  if (!target.ganeti) return { consulted: false };
  try {
    const guard = await GanetiGuard.open(target.session, target.root, target.session.target.host, instance, target.ganeti);
    return guard ? { guard, consulted: true } : { consulted: true };
  } catch (err) {
    return { error: err instanceof Error ? err : new Error(String(err)), consulted: true };
  }
}

/** Where a change runs, as the Ganeti stage needs it. */
interface StageTarget {
  session: NodeSession;
  root: string;
  nodeId: string;
  ganeti?: GanetiAccess;
}

/** Opens the stage (none off a Ganeti cluster) and waits for Ganeti's jobs on the instance; `failed` when the wait did not end well. */
export async function ganetiBefore(target: StageTarget, instance: string, emit: Emit): Promise<{ guard?: GanetiGuard } | { failed: Error }> {
  if (!target.ganeti) return {};
  const guard = await GanetiGuard.open(target.session, target.root, target.session.target.host, instance, target.ganeti);
  if (!guard) return {};
  try {
    await guard.before(emit);
  } catch (err) {
    return { failed: err instanceof Error ? err : new Error(String(err)) };
  }
  return { guard };
}

/** Waits again before another try; true when it ran, an Error when the wait did not end well. */
export async function ganetiAgain(guard: GanetiGuard | undefined, emit: Emit): Promise<true | Error | undefined> {
  if (!guard) return undefined;
  try {
    await guard.before(emit);
    return true;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/**
 * A change Ganeti got in the way of, fully undone: the runtime file changed
 * under it (a Ganeti save between our read and our write) or QEMU's socket
 * was held. Worth one more try once Ganeti's jobs have ended.
 */
export function worthAnotherTry(outcome: ChangeOutcome): boolean {
  return !outcome.ok && (outcome.cause === "runtime-changed" || outcome.cause === "qmp-busy") && outcome.notUndone.length === 0 && outcome.write.state === "not-written";
}

/** The outcome of a second try, saying why the first was undone. */
export function afterEarlierTry(outcome: ChangeOutcome, earlier: ChangeOutcome | undefined): ChangeOutcome {
  if (!earlier || earlier.ok) return outcome;
  return { ...outcome, notes: [`A first try was undone because Ganeti got in the way (${earlier.error.message}); this is the second.`, ...outcome.notes] };
}

/** After the change ran: a done change is kept whole against Ganeti's saves; the outcome carries the stage's report and notes. */
export async function ganetiAfter(
  guard: GanetiGuard,
  target: StageTarget,
  instance: string,
  outcome: ChangeOutcome,
  plan: PlanOk,
  expectedRuntime: Buffer,
  journal: Journal,
  emit: Emit,
): Promise<ChangeOutcome> {
  if (outcome.ok) await guard.after({ instance, root: target.root, nodeId: target.nodeId, planId: outcome.planId, plan, expectedRuntime }, journal, target.session, emit);
  return { ...outcome, notes: [...outcome.notes, ...guard.notes()], ganeti: guard.report };
}
