/**
 * How a change ended: the one outcome type the executor returns, the CLI
 * prints, the activity log records and the contract carries to the UI.
 */
import { z } from "zod";
import { GenerationSchema } from "../runtime/generation";
import { ProgressKindSchema } from "./progress";
import { GanetiStageReportSchema } from "../ganeti/jobs";
import { GanetiJobRunSchema } from "../ganeti/config-change";
import type { PlannedSlot } from "./steps";

/** A device the live bus was checked for after the change. */
export const VerifiedDeviceSchema = z.object({
  id: z.string(),
  bus: z.enum(["pci", "scsi"]),
  expect: z.enum(["present", "absent"]),
  slot: z.number().int().optional(),
  scsiId: z.number().int().optional(),
});
export type VerifiedDevice = z.infer<typeof VerifiedDeviceSchema>;

export const ChangeSucceededSchema = z.object({
  ok: z.literal(true),
  planId: z.string(),
  stepsDone: z.number().int(),
  verified: z.array(VerifiedDeviceSchema),
  /** Our write (its journal entry), or who else left the runtime file as the plan has it (`by`). */
  written: z
    .object({
      generation: GenerationSchema,
      journalEntryId: z.string().optional(),
      /** ganeti: Ganeti's own hotplug saved it (job `ganetiJob`); unchanged: the change was Ganeti's configuration only. */
      by: z.enum(["ganeti", "unchanged"]).optional(),
      ganetiJob: z.number().int().optional(),
    })
    .refine((w) => (w.journalEntryId !== undefined) !== (w.by !== undefined), { error: "written: either our journal entry or who wrote it" }),
  /** Things the user should know: how the tap was configured, best-effort steps. */
  notes: z.array(z.string()),
  /** On a Ganeti cluster: the job-queue checks around the change and any repair after it. */
  ganeti: GanetiStageReportSchema.optional(),
  /** Ganeti's own commands the change ran on the master (its configuration), with their jobs' logs. */
  ganetiJobs: z.array(GanetiJobRunSchema).optional(),
});
export type ChangeSucceeded = z.infer<typeof ChangeSucceededSchema>;

export const FailureCauseSchema = z.enum([
  "lock",
  "runtime-changed",
  "qmp-refused",
  "qmp-busy",
  "guest-holds-device",
  "verify-failed",
  "node-step",
  "ganeti-refused",
  "connection-lost",
  "timeout",
  "other",
]);
export type FailureCause = z.infer<typeof FailureCauseSchema>;

export const ChangeFailedSchema = z.object({
  ok: z.literal(false),
  planId: z.string(),
  cause: FailureCauseSchema,
  failedStep: z.object({ index: z.number().int(), kind: ProgressKindSchema, describe: z.string(), device: z.string().optional() }),
  /** The message names the step, the device, what was undone and what to do next. */
  error: z.object({ name: z.string(), message: z.string() }),
  stepsDone: z.number().int(),
  /** What was undone, newest first. */
  undone: z.array(z.string()),
  /** What could not be undone, and why. */
  notUndone: z.array(z.string()),
  /**
   * True when the runtime file was not written. False only when the
   * connection died during the write itself: then the journal keeps a
   * pending entry and the file must be checked.
   */
  runtimeUnchanged: z.boolean(),
  notes: z.array(z.string()),
  ganeti: GanetiStageReportSchema.optional(),
  ganetiJobs: z.array(GanetiJobRunSchema).optional(),
});
export type ChangeFailed = z.infer<typeof ChangeFailedSchema>;

export const ChangeOutcomeSchema = z.discriminatedUnion("ok", [ChangeSucceededSchema, ChangeFailedSchema]);
export type ChangeOutcome = z.infer<typeof ChangeOutcomeSchema>;

/** The outcome in words for people (the activity log, the review dialog). */
export function describeOutcome(outcome: ChangeOutcome, slot: PlannedSlot): { message: string; undone: string[] } {
  if (outcome.ok) {
    const w = outcome.written;
    const jobs = outcome.ganetiJobs?.filter((j) => !j.undo && j.ok).map((j) => j.jobId ?? "?") ?? [];
    const head =
      w.by === "ganeti"
        ? `Done by Ganeti's own hotplug (job ${w.ganetiJob ?? "?"}): it changed the instance, its runtime file and its configuration; verified on the live bus.`
        : w.by === "unchanged"
          ? `Done in Ganeti's configuration (job ${jobs.join(", ") || "?"}); the instance and its runtime file are unchanged.`
          : `Done: verified on the live bus (${slot.guestAddress}) and recorded in the runtime file (generation ${w.generation}).${jobs.length ? ` Ganeti's configuration records it (job ${jobs.join(", ")}).` : ""}`;
    return { message: [head, ...outcome.notes].join(" "), undone: [] };
  }
  // The executor's message already names the step, the device and what was undone.
  const unchanged = outcome.runtimeUnchanged ? "" : " The connection died while the runtime file was being written: check it (the journal kept the previous bytes).";
  return { message: `${outcome.error.message}${unchanged}`, undone: [...outcome.undone, ...outcome.notUndone.map((n) => `NOT undone: ${n}`)] };
}
