// Plans kept for review: handed out once, and only while they are recent.
import { describe, it, expect } from "vitest";
import { KeptPlans } from "../../electron/hotplug/kept-plans";
import type { PlanOk } from "../../shared/hotplug";

const plan = { ok: true, steps: [] } as unknown as PlanOk;
const kept = (plans: KeptPlans) => plans.keep({ nodeId: "n1", instance: "web1", summary: "Add a NIC to web1", plan, expectedRuntime: Buffer.from("x") });

describe("kept plans", () => {
  it("hands a plan out once", () => {
    const plans = new KeptPlans();
    const p = kept(plans);
    expect(plans.take(p.planId)).toMatchObject({ nodeId: "n1", instance: "web1", summary: "Add a NIC to web1" });
    expect(plans.take(p.planId)).toBeUndefined();
    expect(plans.take("no-such-plan")).toBeUndefined();
  });

  it("does not hand out a plan older than its time to live", () => {
    let now = 1_000;
    const plans = new KeptPlans(60_000, () => now);
    const young = kept(plans);
    const old = kept(plans);
    now += 60_001;
    expect(plans.take(old.planId)).toBeUndefined();
    now -= 1;
    expect(plans.take(young.planId)).toBeDefined();
  });
});
