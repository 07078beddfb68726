/**
 * Ganeti's job queue as the app reads it (`gnt-job list` on the master),
 * which jobs act on an instance, and what a change's Ganeti stage reports.
 * Pure: parsing and rules only.
 *
 * Which jobs act on an instance, from Ganeti 3.0's opcodes (lib/opcodes.py,
 * each opcode's OP_DSC_FIELD, and the LUs in lib/cmdlib): a job's summary is
 * "OPCODE(value)" per opcode, the value being the opcode's OP_DSC_FIELD.
 * - every INSTANCE_* opcode names its instance (instance_name); those that
 *   start, stop, reboot, migrate, fail over, move, modify or hotplug it load
 *   and save its runtime file or replace its QEMU. INSTANCE_CONSOLE and
 *   INSTANCE_QUERY_DATA only read; INSTANCE_RENAME names no instance (and
 *   needs it stopped); INSTANCE_MULTI_ALLOC only creates new ones.
 * - BACKUP_EXPORT may shut the instance down or snapshot it.
 * - NODE_MIGRATE and NODE_EVACUATE (and GROUP_EVACUATE) submit one job per
 *   instance (INSTANCE_MIGRATE, INSTANCE_FAILOVER, …), which name it; the
 *   node-level job itself counts for the instances of its node, because it
 *   may be about to submit theirs. NODE_POWERCYCLE kills the node's instances.
 */
import { z } from "zod";

/** Job statuses that are not final (constants.JOBS_PENDING plus running). */
export const UNFINISHED_JOB_STATUSES = ["queued", "waiting", "canceling", "running"] as const;
export const JobStatusSchema = z.enum([...UNFINISHED_JOB_STATUSES, "success", "error", "canceled"]);

/** One opcode of a job, from its summary: "INSTANCE_SET_PARAMS(web1)". */
export interface JobOp {
  op: string;
  /** The value of the opcode's OP_DSC_FIELD (an instance, a node, a group), when it has one. */
  target?: string;
}

export interface GanetiJob {
  id: number;
  status: z.infer<typeof JobStatusSchema>;
  ops: JobOp[];
  /** As gnt-job prints it, for people. */
  summary: string;
}

/** The field separator asked of gnt-job list; no instance, node or opcode name holds it. */
export const JOB_LIST_SEPARATOR = "|";

/** The filter (Ganeti's query language) that keeps only jobs not yet finished. */
export const UNFINISHED_JOBS_FILTER = UNFINISHED_JOB_STATUSES.map((s) => `status == "${s}"`).join(" or ");

const LINE_RE = /^(\d+)\|([a-z]+)\|(.*)$/;
const OP_RE = /([A-Z][A-Z0-9_]*)(?:\(([^()]*)\))?/g;

/**
 * `gnt-job list --no-headers --separator=| -o id,status,summary` output,
 * one job a line. Throws with the line when the output is not that.
 */
export function parseJobList(stdout: string): GanetiJob[] {
  const jobs: GanetiJob[] = [];
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const m = LINE_RE.exec(line.trim());
    const status = m ? JobStatusSchema.safeParse(m[2]) : undefined;
    if (!m || !status?.success) throw new Error(`gnt-job list printed ${JSON.stringify(line.slice(0, 200))}, not "ID|STATUS|SUMMARY": is this Ganeti's gnt-job?`);
    const summary = m[3] ?? "";
    const ops = [...summary.matchAll(OP_RE)].map((o) => ({ op: o[1] as string, ...(o[2] !== undefined ? { target: o[2] } : {}) }));
    jobs.push({ id: Number(m[1]), status: status.data, ops, summary });
  }
  return jobs;
}

const READ_ONLY_INSTANCE_OPS = new Set(["INSTANCE_CONSOLE", "INSTANCE_QUERY_DATA", "INSTANCE_MULTI_ALLOC", "INSTANCE_MULTI_ALLOC_BASE"]);
const NODE_OPS_ON_INSTANCES = new Set(["NODE_MIGRATE", "NODE_EVACUATE", "NODE_POWERCYCLE"]);

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * Whether a job may change the instance's runtime file or its QEMU.
 * `node` is Ganeti's name of the instance's primary node; when unknown, every
 * node-level migration or evacuation counts.
 */
export function jobActsOn(job: GanetiJob, instance: string, node?: string): boolean {
  return job.ops.some(({ op, target }) => {
    if ((op.startsWith("INSTANCE_") && !READ_ONLY_INSTANCE_OPS.has(op)) || op === "BACKUP_EXPORT") return target !== undefined && sameName(target, instance);
    if (NODE_OPS_ON_INSTANCES.has(op)) return node === undefined || target === undefined || sameName(target, node);
    if (op === "GROUP_EVACUATE") return true;
    return false;
  });
}

/** A job as the report names it. */
export const SeenJobSchema = z.object({ id: z.number().int(), summary: z.string() });
export type SeenJob = z.infer<typeof SeenJobSchema>;

/** A device of ours the stage found wrong in the runtime file after Ganeti's jobs, and put right. */
export const RepairSchema = z.object({
  /** QEMU id of the device. */
  device: z.string(),
  /** re-recorded: live but missing from the file; dropped: in the file but no longer live. */
  action: z.enum(["re-recorded", "dropped"]),
  journalEntryId: z.string(),
});
export type Repair = z.infer<typeof RepairSchema>;

/** What a change's Ganeti stage did: the job-queue checks around it and the repairs after it. */
export const GanetiStageReportSchema = z.object({
  /** checked: the master answered; unchecked: it could not be asked (reason says why). */
  queue: z.enum(["checked", "unchecked"]),
  master: z.string().optional(),
  reason: z.string().optional(),
  /** Jobs on the instance the change waited for before it began. */
  waitedBefore: z.array(SeenJobSchema),
  /** Jobs on the instance found running after our write, waited for before the comparison. */
  waitedAfter: z.array(SeenJobSchema),
  repairs: z.array(RepairSchema),
});
export type GanetiStageReport = z.infer<typeof GanetiStageReportSchema>;
