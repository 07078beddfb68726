/**
 * How a running change reports itself, step by step: the one progress type
 * the executor emits, the CLI prints and the contract carries to the UI.
 */
import { z } from "zod";
import { PlanStepSchema, type PlanStepKind } from "./steps";

export const StepStateSchema = z.enum(["running", "done", "failed", "undoing", "undone", "waiting-guest"]);
export type StepState = z.infer<typeof StepStateSchema>;

const planStepKinds = PlanStepSchema.options.map((o) => o.shape.kind.value) as [PlanStepKind, ...PlanStepKind[]];
/**
 * A plan step's kind, or one of the stages around the steps: "precheck" (the
 * lock, the file unchanged), "ganeti-jobs" (waiting for Ganeti's jobs on the
 * instance, before and after) and "repair-runtime" (our record compared with
 * the live bus after them, and put right).
 */
export const ProgressKindSchema = z.enum([...planStepKinds, "precheck", "ganeti-jobs", "repair-runtime"]);
export type ProgressKind = z.infer<typeof ProgressKindSchema>;

export const StepProgressSchema = z.object({
  /** Index into plan.steps; -1 for the checks before the first step. */
  index: z.number().int(),
  total: z.number().int(),
  kind: ProgressKindSchema,
  describe: z.string(),
  state: StepStateSchema,
  /** Extra words for people ("ran /usr/lib/ganeti/kvm-ifup", what an undo did, why a step failed). */
  detail: z.string().optional(),
});
export type StepProgress = z.infer<typeof StepProgressSchema>;
