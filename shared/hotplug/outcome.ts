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

/**
 * What became of the runtime-file write. Three values:
 * - written: the node's helper said it replaced the file;
 * - not-written: no write request went out, or the helper said, before its
 *   rename, that it did not replace the file;
 * - unknown: the request went out and no trustworthy answer came back (the
 *   helper died, the connection dropped, or it answered garbage). The file
 *   was read again afterwards and `onNode` says what it held then.
 */
export const WriteWrittenSchema = z.object({ state: z.literal("written"), generation: GenerationSchema, journalEntryId: z.string() });
export const WriteNotWrittenSchema = z.object({ state: z.literal("not-written") });
/** What the runtime file held when read again after a write whose answer was lost. */
export const OnNodeSchema = z.enum(["planned", "previous", "other", "missing", "unread"]);
export type OnNode = z.infer<typeof OnNodeSchema>;
export const WriteUnknownSchema = z.object({
  state: z.literal("unknown"),
  /** Why the answer does not count (what was lost). */
  why: z.string(),
  onNode: OnNodeSchema,
  /** The digest read, or why it could not be read, in words. */
  detail: z.string(),
  /** When the file was read again (ISO time). */
  checkedAt: z.string(),
  /** The journal entry kept pending for this write (it can undo it, by compare-and-swap). */
  journalEntryId: z.string(),
});
/** Ganeti's own hotplug saved the runtime file (job `ganetiJob`), in a plan with no write of ours. */
export const WriteByGanetiSchema = z.object({ state: z.literal("by-ganeti"), generation: GenerationSchema, ganetiJob: z.number().int().optional() });
/** The change was to Ganeti's configuration only: the runtime file is as it was. */
export const WriteUnchangedSchema = z.object({ state: z.literal("unchanged"), generation: GenerationSchema });
export const WriteOutcomeSchema = z.discriminatedUnion("state", [WriteWrittenSchema, WriteNotWrittenSchema, WriteUnknownSchema]);
export type WriteOutcome = z.infer<typeof WriteOutcomeSchema>;
export type WriteUnknown = z.infer<typeof WriteUnknownSchema>;

export const ChangeSucceededSchema = z.object({
  ok: z.literal(true),
  planId: z.string(),
  stepsDone: z.number().int(),
  verified: z.array(VerifiedDeviceSchema),
  /** Our write (its journal entry), or who else left the runtime file as the plan has it. */
  written: z.discriminatedUnion("state", [WriteWrittenSchema, WriteByGanetiSchema, WriteUnchangedSchema]),
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
  /** The runtime write's answer was lost: see `write` (unknown). Nothing was rolled back. */
  "write-unknown",
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
  /** Not written, or unknown (then nothing was undone, and the journal keeps the write pending). */
  write: z.discriminatedUnion("state", [WriteNotWrittenSchema, WriteUnknownSchema]),
  notes: z.array(z.string()),
  ganeti: GanetiStageReportSchema.optional(),
  ganetiJobs: z.array(GanetiJobRunSchema).optional(),
});
export type ChangeFailed = z.infer<typeof ChangeFailedSchema>;

export const ChangeOutcomeSchema = z.discriminatedUnion("ok", [ChangeSucceededSchema, ChangeFailedSchema]);
export type ChangeOutcome = z.infer<typeof ChangeOutcomeSchema>;

/** "done", "failed" or "unknown": how a change ended, in one word (the CLI's status, the UI's banner). */
export function outcomeState(outcome: ChangeOutcome): "done" | "failed" | "unknown" {
  return outcome.ok ? "done" : outcome.write.state === "unknown" ? "unknown" : "failed";
}

/** What the runtime file held when read again, in words, and the next step that follows from it. */
export function describeOnNode(u: WriteUnknown, instance: string): { now: string; next: string } {
  switch (u.onNode) {
    case "planned":
      return {
        now: `The runtime file of ${instance} holds the planned bytes (read again at ${u.checkedAt}: ${u.detail}), so the change is live and recorded.`,
        next: "Reload the instance to confirm it; the journal keeps the write (pending), so it can still be undone.",
      };
    case "previous":
      return {
        now: `The runtime file of ${instance} still held the previous bytes when read again at ${u.checkedAt} (${u.detail}): the live change is not recorded in it.`,
        next: "Reload the instance: the inventory shows where the file and the live bus now differ (a device added is live but not recorded; one removed is recorded but gone). Apply the change again to record it, or undo it live. (A helper that was still running could yet replace the file: reload before you act.)",
      };
    case "other":
      return {
        now: `The runtime file of ${instance} holds neither the previous nor the planned bytes (read again at ${u.checkedAt}: ${u.detail}): someone else, Ganeti included, wrote it.`,
        next: "Reload the instance and compare the runtime file with the live bus before changing anything.",
      };
    case "missing":
      return { now: `The runtime file of ${instance} was gone when read again at ${u.checkedAt}.`, next: "Check the instance on the node (was it stopped or moved?) before changing anything." };
    case "unread":
      return {
        now: `The runtime file of ${instance} could not be read again (${u.detail}), so what it holds is not known.`,
        next: "Reconnect to the node, reload the instance and check its runtime file before changing anything; the journal keeps the write (pending).",
      };
  }
}

/** The outcome in words for people (the activity log, the review dialog). */
export function describeOutcome(outcome: ChangeOutcome, slot: PlannedSlot): { message: string; undone: string[] } {
  if (outcome.ok) {
    const w = outcome.written;
    const jobs = outcome.ganetiJobs?.filter((j) => !j.undo && j.ok).map((j) => j.jobId ?? "?") ?? [];
    const head =
      w.state === "by-ganeti"
        ? `Done by Ganeti's own hotplug (job ${w.ganetiJob ?? "?"}): it changed the instance, its runtime file and its configuration; verified on the live bus.`
        : w.state === "unchanged"
          ? jobs.length || outcome.verified.length === 0
            ? `Done in Ganeti's configuration (job ${jobs.join(", ") || "?"}); the instance and its runtime file are unchanged.`
            : `Done on the live bus (verified: ${outcome.verified.map((v) => `${v.id} ${v.expect}`).join(", ")}); the runtime file is unchanged.`
          : `Done: verified on the live bus (${slot.guestAddress}) and recorded in the runtime file (generation ${w.generation}).${jobs.length ? ` Ganeti's configuration records it (job ${jobs.join(", ")}).` : ""}`;
    return { message: [head, ...outcome.notes].join(" "), undone: [] };
  }
  // The executor's message already names the step, the device, what was undone, what is on the node and what to do next.
  return { message: outcome.error.message, undone: [...outcome.undone, ...outcome.notUndone.map((n) => `NOT undone: ${n}`)] };
}
