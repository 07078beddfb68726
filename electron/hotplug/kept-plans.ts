// Plans made for review, kept until they are applied or grow too old: a
// reviewed plan is applied exactly as shown, and only while what it was made
// from is recent (the executor still checks the runtime file's bytes).
import { randomUUID } from "node:crypto";
import type { HotplugIntentInput, PlanOk } from "../../shared/hotplug/index.js";

/** A reviewed plan may be applied for this long; after that the user reviews again. */
export const PLAN_TTL_MS = 10 * 60_000;

export interface KeptPlan {
  planId: string;
  nodeId: string;
  instance: string;
  /** What the change does, in one line. */
  summary: string;
  plan: PlanOk;
  /** The intents the plan was made from (ids and MAC filled in): to plan the same change again. */
  intents?: HotplugIntentInput[];
  /** The runtime file's bytes the plan was made from. */
  expectedRuntime: Buffer;
  keptAt: number;
}

export class KeptPlans {
  private readonly plans = new Map<string, KeptPlan>();

  constructor(
    readonly ttlMs = PLAN_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keeps a plan under a new id; plans past their time are dropped on the way. */
  keep(p: Omit<KeptPlan, "planId" | "keptAt">): KeptPlan {
    const at = this.now();
    for (const [id, old] of this.plans) if (at - old.keptAt > this.ttlMs) this.plans.delete(id);
    const kept: KeptPlan = { ...p, planId: randomUUID(), keptAt: at };
    this.plans.set(kept.planId, kept);
    return kept;
  }

  /** The plan, handed out once; undefined when unknown, already taken or too old. */
  take(planId: string): KeptPlan | undefined {
    const p = this.plans.get(planId);
    if (!p || this.now() - p.keptAt > this.ttlMs) return undefined;
    this.plans.delete(planId);
    return p;
  }
}
