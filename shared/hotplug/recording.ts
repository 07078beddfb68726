/**
 * Who keeps a change: Ganeti's configuration with it (the change goes
 * through Ganeti, or records the device there first), or only the live bus
 * and the runtime file. Every plan says which, why, and whether the other
 * way may be chosen, so the review can label a runtime-only change and
 * offer the choice.
 */
import { z } from "zod";

export const RecordingSchema = z.object({
  /**
   * ganeti: Ganeti's configuration stays right with this change (it records
   * the device first, makes the change itself, or has nothing to change).
   * runtime-only: Ganeti's configuration will not match what the change
   * leaves (or the node has none).
   */
  mode: z.enum(["ganeti", "runtime-only"]),
  /** Why, and what follows from it, in words for the review. */
  note: z.string(),
  /** What choosing "runtime only" means for this change; set only where it may be chosen (or undone). */
  runtimeOnlyMeans: z.string().optional(),
});
export type Recording = z.infer<typeof RecordingSchema>;
