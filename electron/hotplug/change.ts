// The hotplug use case: the one path from "change this instance" to an
// outcome, which the app's handlers and the CLI's commands both call.
//
//   ask (ChangeRequest) → read the instance → complete the request (ids,
//   MAC, the default link) → plan its parts as one plan → run it → outcome
//
// Two ways through it:
// - review, then apply (the UI): read without the lock, plan, keep the plan
//   for a while; applying takes the lock and checks the runtime file still
//   holds the bytes the plan was made from;
// - now (the CLI, a script): take the lock, read under it, plan and run at
//   once (or only plan: a dry run).
// Every refusal and every outcome is recorded the same way, whichever path
// met it. On a Ganeti cluster, both ways run inside the Ganeti stage
// (electron/ganeti/guard.ts): wait for Ganeti's jobs on the instance first,
// and after the write keep our record whole against a Ganeti save.
import type { NodeSession } from "../ssh/session.js";
import { InstanceLockedError } from "../on-node/instance-lock.js";
import {
  ChangeRequestSchema,
  describeChange,
  diskPathsOf,
  describeOutcome,
  intentIssues,
  outcomeState,
  needsNicTaps,
  planComposed,
  recordChange,
  resolvedPlan,
  type ChangeFailed,
  type ChangeOutcome,
  type ChangeRefusal,
  type ChangeRequest,
  type ChangeRequestInput,
  type GanetiFacts,
  type HotplugIntentInput,
  type PlanOk,
  type Readers,
  type StepProgress,
} from "../../shared/hotplug/index.js";
import type { Journal } from "./journal.js";
import { executePlan } from "./executor.js";
import type { Reconnect } from "./plan-run.js";
import { gatherInstanceState, InstanceStateError, type GatheredState } from "./state.js";
import { gatherInstanceStateLocked, type LockedState } from "./locked-state.js";
import { KeptPlans, type KeptPlan } from "./kept-plans.js";
import { failureCause } from "./step-failure.js";
import { newDeviceUuid, newMac } from "./ids.js";
import type { NodeGanetiContext } from "../inventory/node-inventory.js";
import { afterEarlierTry, ganetiAfter, ganetiAgain, ganetiBefore, ganetiReviewNotes, openGanetiStage, worthAnotherTry, type GanetiAccess, type GanetiGuard } from "../ganeti/guard.js";
import { replanned } from "../ganeti/replan.js";
import { ganetiFactsFor, type OpenedStage } from "../ganeti/facts.js";

/** The node a change is made on, connected. */
export interface ChangeTarget {
  session: NodeSession;
  /** How the journal and the views name the node. */
  nodeId: string;
  root: string;
  /** Ganeti versions of this node and of every node the instance may migrate to; unset: assumed from the file. */
  readers?: Readers;
  /** The node's Ganeti cluster facts (the instance's configured hvparams), when it belongs to one. */
  cluster?: NodeGanetiContext;
  /** How to reach the cluster's master for its job queue; unset: no Ganeti stage. */
  ganeti?: GanetiAccess;
  /** Reach the node again when `session` is gone (to read the runtime file after a write whose answer was lost). */
  reconnect?: Reconnect;
  /** Where disks may also live on this node, beyond its Ganeti storage (node settings, --allow-disk-path). */
  diskPathAllow?: string[];
}

/** One line of the record every refusal and outcome leaves (the app's activity log). */
export interface ChangeRecord {
  nodeId: string;
  instance: string;
  planId?: string;
  summary: string;
  outcome: "refused" | "succeeded" | "failed" | "unknown";
  detail?: string;
}

export interface ChangeDeps {
  journal: Journal;
  /** Where refusals and outcomes are recorded; nothing is recorded without it. */
  record?: (r: ChangeRecord) => void | Promise<void>;
  /** How long a reviewed plan may wait for apply (default PLAN_TTL_MS). */
  planTtlMs?: number;
}

/** How a running change reports itself. The outcome comes before it is recorded. */
export interface ChangeReport {
  progress?: (p: StepProgress) => void | Promise<void>;
  outcome?: (o: ChangeOutcome) => void;
}

export type Reviewed = { ok: true; kept: KeptPlan } | { ok: false; summary: string; refusals: ChangeRefusal[] };

/** What was read before planning, for people (the CLI prints it). */
export interface ReadNotes {
  /** Set when the readers were assumed from the file's generation. */
  readersAssumed?: string;
  /** Why the live bus is unknown, when it is. */
  liveProblem?: string;
  /** Why Ganeti's job queue cannot be checked, when it cannot. */
  ganetiQueue?: string;
}

export type ChangedNow = { summary: string; read?: ReadNotes; intents: HotplugIntentInput[]; timings: { readMs: number; planMs: number } } & (
  | { status: "refused"; refusals: ChangeRefusal[] }
  | { status: "dry-run"; plan: PlanOk }
  | { status: "done" | "failed" | "unknown"; plan: PlanOk; outcome: ChangeOutcome }
);

export interface ChangeNowOptions {
  /** Only read and plan (without the lock); change nothing. */
  dryRun?: boolean;
  /** Override the plan's wait for the guest to release a device (ms). */
  deviceDeletedTimeoutMs?: number;
  /** How long to wait for another operation's lock on the instance (default 10 s). */
  lockTimeoutMs?: number;
  report?: ChangeReport;
}

type Planned = { ok: true; plan: PlanOk; intents: HotplugIntentInput[] } | { ok: false; refusals: ChangeRefusal[]; intents: HotplugIntentInput[] };

export class HotplugChanges {
  readonly kept: KeptPlans;
  /** Changes running now, per node. */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly deps: ChangeDeps) {
    this.kept = new KeptPlans(deps.planTtlMs);
  }

  /** Whether a change is being applied on the node now. */
  changing(nodeId: string): boolean {
    return (this.inFlight.get(nodeId) ?? 0) > 0;
  }

  /** Runs `fn` counted as a change on the node (executePlan does not throw: it returns failures as outcomes). */
  private async running<T>(nodeId: string, fn: () => Promise<T>): Promise<T> {
    this.inFlight.set(nodeId, (this.inFlight.get(nodeId) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      this.inFlight.set(nodeId, (this.inFlight.get(nodeId) ?? 1) - 1);
    }
  }

  /** Reads the instance (no lock), plans the change and keeps the plan for `apply`. */
  async review(target: ChangeTarget, instance: string, asked: ChangeRequestInput): Promise<Reviewed> {
    const request = this.parse(asked);
    const summary = request.ok ? describeChange(request.request, instance) : `Change ${instance}`;
    if (!request.ok) return { ok: false, summary, refusals: await this.refused(target.nodeId, instance, summary, request.refusals) };
    const read = await this.read(target, instance, request.request, false);
    if (!read.ok) return { ok: false, summary, refusals: await this.refused(target.nodeId, instance, summary, read.refusals) };
    // Ganeti's stage opened once: whether its configuration can be changed (the way the change goes) and what its job queue says.
    const stage = await openGanetiStage(target, instance);
    const planned = plan(read.state, request.request, await ganetiFactsFor(stage, target.cluster, instance, request.request));
    if (!planned.ok) return { ok: false, summary, refusals: await this.refused(target.nodeId, instance, summary, planned.refusals) };
    const ganeti = await ganetiReviewNotes(stage, instance);
    const shown = ganeti.length ? { ...planned.plan, warnings: [...planned.plan.warnings, ...ganeti] } : planned.plan;
    return { ok: true, kept: this.kept.keep({ nodeId: target.nodeId, instance, summary, plan: shown, intents: planned.intents, expectedRuntime: read.state.expectedRuntime }) };
  }

  /**
   * Runs a kept plan (take it with `kept.take`). `connect` finds the node
   * again; when that fails, the outcome says so and nothing ran.
   */
  async apply(kept: KeptPlan, connect: () => Promise<ChangeTarget>, report: ChangeReport = {}): Promise<ChangeOutcome> {
    const outcome = await this.running(kept.nodeId, async () => {
      let target: ChangeTarget;
      try {
        target = await connect();
      } catch (err) {
        return notStarted(kept.planId, `Connect to ${kept.nodeId}`, err);
      }
      const emit = progressTo(report, kept.plan.steps.length);
      let g: Awaited<ReturnType<typeof ganetiBefore>>;
      try {
        g = await ganetiBefore(target, kept.instance, emit);
      } catch (err) {
        return notStarted(kept.planId, `Find the Ganeti master of ${kept.nodeId}`, err);
      }
      if ("failed" in g) return notStarted(kept.planId, "Wait for Ganeti's jobs on the instance", g.failed);
      const master = g.guard?.masterAccess;
      if (changesGanetiConfig(kept.plan) && !master) {
        const why = g.guard?.report.reason ?? "the node is not in a Ganeti cluster any more";
        return notStarted(kept.planId, "Reach Ganeti's master", new Error(`This change goes through Ganeti's configuration, but its master cannot be reached now (${why}). Nothing was changed. Review it again: it can then be made runtime only.`));
      }
      let { plan: toRun, expectedRuntime } = kept;
      let earlier: ChangeOutcome | undefined;
      for (let attempt = 1; ; attempt++) {
        const waited = attempt > 1 ? await ganetiAgain(g.guard, emit) : g.guard?.report.waitedBefore.length ? true : undefined;
        if (waited instanceof Error) return notStarted(kept.planId, "Wait for Ganeti's jobs on the instance", waited);
        if (waited) {
          // Ganeti's jobs may have saved the file since the review: the same change, planned again on what they left.
          const again = await replanned(target, kept);
          if (!again.ok) return notStarted(kept.planId, "Plan the reviewed change again after Ganeti's jobs", new Error(again.message));
          ({ plan: toRun, expectedRuntime } = again);
          if (kept.plan.recording) toRun = { ...toRun, recording: kept.plan.recording };
        }
        const out = await executePlan({
          session: target.session,
          root: target.root,
          nodeId: target.nodeId,
          instance: kept.instance,
          plan: toRun,
          expectedRuntime,
          journal: this.deps.journal,
          planId: kept.planId,
          reconnect: target.reconnect ?? (async () => ({ session: (await connect()).session, done: () => undefined })),
          ...(master ? { ganeti: master } : {}),
          ...(report.progress ? { onProgress: report.progress } : {}),
        });
        if (g.guard && attempt === 1 && worthAnotherTry(out)) {
          earlier = out;
          continue;
        }
        // The plan as it ran: a NIC or disk Ganeti recorded under the uuid it gave.
        return g.guard ? ganetiAfter(g.guard, target, kept.instance, afterEarlierTry(out, earlier), resolvedPlan(toRun, out.ganetiJobs), expectedRuntime, this.deps.journal, emit) : out;
      }
    });
    await this.finished(kept, outcome, report);
    return outcome;
  }

  /** Takes the lock, reads the instance under it, plans and runs the change at once. */
  async now(target: ChangeTarget, instance: string, asked: ChangeRequestInput, opts: ChangeNowOptions = {}): Promise<ChangedNow> {
    const t0 = performance.now();
    const request = this.parse(asked);
    const summary = request.ok ? describeChange(request.request, instance) : `Change ${instance}`;
    if (!request.ok) return { summary, status: "refused", refusals: await this.refused(target.nodeId, instance, summary, request.refusals), intents: [], timings: { readMs: 0, planMs: 0 } };
    // Before the plan exists its step count is unknown: the stage reports against 0.
    const emit = progressTo(opts.report ?? {}, 0);
    // A dry run waits for nothing, but asks whether Ganeti's configuration can be changed (the way the change would go).
    const opened = opts.dryRun ? await openGanetiStage(target, instance) : undefined;
    const g: Awaited<ReturnType<typeof ganetiBefore>> = opened ?? (await ganetiBefore(target, instance, emit));
    let earlier: ChangeOutcome | undefined;
    for (let attempt = 1; ; attempt++) {
      const failed = "failed" in g ? g.failed : attempt > 1 ? await ganetiAgain(g.guard, emit) : undefined;
      if (failed instanceof Error) {
        const refusals = await this.refused(target.nodeId, instance, summary, [{ code: "ganeti-busy", message: failed.message }]);
        return { summary, status: "refused", refusals, intents: [], timings: { readMs: performance.now() - t0, planMs: 0 } };
      }
      const guard = "guard" in g ? g.guard : undefined;
      const stage: OpenedStage = opened ?? { ...(guard ? { guard } : {}), consulted: target.ganeti !== undefined };
      const r = await this.nowOnce(target, instance, request.request, summary, opts, t0, stage, earlier);
      // Ganeti changed the file (or held QEMU's socket) while we ran, and everything was undone: once more, from what it left.
      if (guard && attempt === 1 && r.status === "failed" && worthAnotherTry(r.outcome)) {
        earlier = r.outcome;
        continue;
      }
      return r;
    }
  }

  private async nowOnce(
    target: ChangeTarget,
    instance: string,
    request: ChangeRequest,
    summary: string,
    opts: ChangeNowOptions,
    t0: number,
    stage: OpenedStage,
    earlier: ChangeOutcome | undefined,
  ): Promise<ChangedNow> {
    const guard: GanetiGuard | undefined = opts.dryRun ? undefined : stage.guard;
    const read = await this.read(target, instance, request, opts.dryRun ? false : { lockTimeoutMs: opts.lockTimeoutMs });
    const t1 = performance.now();
    if (!read.ok) return { summary, status: "refused", refusals: await this.refused(target.nodeId, instance, summary, read.refusals), intents: [], timings: { readMs: t1 - t0, planMs: 0 } };
    const { state } = read;
    const notes: ReadNotes = {
      ...(state.readersAssumed ? { readersAssumed: state.readersAssumed } : {}),
      ...(state.liveProblem ? { liveProblem: state.liveProblem } : {}),
      ...(guard?.uncheckedNote ? { ganetiQueue: guard.uncheckedNote } : {}),
    };
    let handedOver = false;
    try {
      const planned = plan(state, request, await ganetiFactsFor(stage, target.cluster, instance, request));
      const timings = { readMs: t1 - t0, planMs: performance.now() - t1 };
      const base = { summary, read: notes, intents: planned.intents, timings };
      if (!planned.ok) return { ...base, status: "refused", refusals: await this.refused(target.nodeId, instance, summary, planned.refusals) };
      if (opts.dryRun) return { ...base, status: "dry-run", plan: planned.plan };
      handedOver = true;
      const outcome = await this.running(target.nodeId, async () => {
        const out = await executePlan({
          session: target.session,
          root: target.root,
          nodeId: target.nodeId,
          instance,
          plan: planned.plan,
          expectedRuntime: state.expectedRuntime,
          journal: this.deps.journal,
          ...(target.reconnect ? { reconnect: target.reconnect } : {}),
          ...(state.lock ? { lock: state.lock } : {}),
          ...(state.qmp ? { openQmp: state.qmp } : {}),
          ...(guard?.masterAccess ? { ganeti: guard.masterAccess } : {}),
          ...(opts.deviceDeletedTimeoutMs !== undefined ? { deviceDeletedTimeoutMs: opts.deviceDeletedTimeoutMs } : {}),
          ...(opts.report?.progress ? { onProgress: opts.report.progress } : {}),
        });
        const ran = resolvedPlan(planned.plan, out.ganetiJobs);
        return guard ? ganetiAfter(guard, target, instance, afterEarlierTry(out, earlier), ran, state.expectedRuntime, this.deps.journal, progressTo(opts.report ?? {}, planned.plan.steps.length)) : out;
      });
      await this.finished({ planId: outcome.planId, nodeId: target.nodeId, instance, summary, plan: planned.plan }, outcome, opts.report ?? {});
      // The plan as it ran (a NIC or disk Ganeti recorded under the uuid it gave).
      return { ...base, status: outcomeState(outcome), plan: resolvedPlan(planned.plan, outcome.ganetiJobs), outcome };
    } finally {
      // Refused or dry run: nothing ran, let the instance go.
      if (!handedOver) {
        state.qmp?.close();
        await state.lock?.release();
      }
    }
  }

  private parse(asked: ChangeRequestInput): { ok: true; request: ChangeRequest } | { ok: false; refusals: ChangeRefusal[] } {
    const r = ChangeRequestSchema.safeParse(asked);
    return r.success ? { ok: true, request: r.data } : { ok: false, refusals: intentIssues(r.error).map((m) => ({ code: "invalid-intent", message: `Invalid request: ${m}` })) };
  }

  /** The instance as the plan needs it; what cannot be planned on is a refusal, any other failure is thrown. */
  private async read(
    target: ChangeTarget,
    instance: string,
    request: ChangeRequest,
    /** Read under the instance's lock, waiting this long for it; false: no lock. */
    locked: false | { lockTimeoutMs?: number | undefined },
  ): Promise<{ ok: true; state: GatheredState & Partial<Pick<LockedState, "lock" | "qmp">> } | { ok: false; refusals: ChangeRefusal[] }> {
    const opts = {
      root: target.root,
      nodeId: target.nodeId,
      nicTaps: needsNicTaps(request),
      diskPaths: { paths: diskPathsOf(request), allow: target.diskPathAllow ?? [] },
      ...(target.readers ? { readers: target.readers } : {}),
      ...(target.cluster ? { ganeti: target.cluster } : {}),
    };
    try {
      const state = locked
        ? await gatherInstanceStateLocked(target.session, instance, { ...opts, ...(locked.lockTimeoutMs !== undefined ? { lockTimeoutMs: locked.lockTimeoutMs } : {}) })
        : await gatherInstanceState(target.session, instance, opts);
      return { ok: true, state };
    } catch (err) {
      if (err instanceof InstanceStateError) return { ok: false, refusals: [{ code: "runtime-unreadable", message: err.message }] };
      if (err instanceof InstanceLockedError) return { ok: false, refusals: [{ code: "locked", message: err.message }] };
      throw err;
    }
  }

  /** Records a refusal (every path records them alike) and hands the refusals back. */
  private async refused(nodeId: string, instance: string, summary: string, refusals: ChangeRefusal[]): Promise<ChangeRefusal[]> {
    await this.deps.record?.({ nodeId, instance, summary: `${summary}: refused`, outcome: "refused", detail: refusals.map((r) => r.message).join("\n") });
    return refusals;
  }

  private async finished(c: Pick<KeptPlan, "planId" | "nodeId" | "instance" | "summary" | "plan">, outcome: ChangeOutcome, report: ChangeReport): Promise<void> {
    report.outcome?.(outcome);
    const words = describeOutcome(outcome, c.plan.slot);
    await this.deps.record?.({
      nodeId: c.nodeId,
      instance: c.instance,
      planId: c.planId,
      summary: c.summary,
      outcome: outcome.ok ? "succeeded" : outcomeState(outcome) === "unknown" ? "unknown" : "failed",
      ...(outcome.ok ? {} : { detail: [words.message, ...words.undone.map((u) => `undone: ${u}`)].join("\n") }),
    });
  }
}

/** The request completed against the instance (through Ganeti where it keeps the change) and its parts planned as one plan. */
function plan(read: GatheredState, request: ChangeRequest, ganeti: GanetiFacts): Planned {
  const completed = recordChange(request, read.state, { uuid: newDeviceUuid, mac: newMac }, ganeti);
  if (!completed.ok) return { ok: false, refusals: completed.refusals, intents: [] };
  const p = planComposed(read.state, completed.intents);
  return p.ok ? { ok: true, plan: { ...p, recording: completed.recording }, intents: completed.intents } : { ok: false, refusals: p.refusals, intents: completed.intents };
}

/** Whether a plan changes Ganeti's configuration (it then needs the master). */
function changesGanetiConfig(p: PlanOk): boolean {
  return p.steps.some((s) => s.kind === "ganeti-config");
}

/** The change's progress listener for stages around the plan's steps (`total` steps). */
function progressTo(report: ChangeReport, total: number): (p: Omit<StepProgress, "total">) => Promise<void> {
  return async (p) => {
    try {
      await report.progress?.({ ...p, total });
    } catch {
      // A broken progress listener must not break the change it reports on.
    }
  };
}

/** The outcome of a change that failed before its first step: nothing ran. */
function notStarted(planId: string, describe: string, err: unknown): ChangeFailed {
  return {
    ok: false,
    planId,
    cause: failureCause(err, false),
    failedStep: { index: -1, kind: "precheck", describe },
    error: { name: err instanceof Error ? err.name : "Error", message: err instanceof Error ? err.message : String(err) },
    stepsDone: 0,
    undone: [],
    notUndone: [],
    write: { state: "not-written" },
    notes: [],
  };
}
