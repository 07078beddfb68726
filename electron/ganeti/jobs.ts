// Ganeti's job queue, asked on the master over SSH with Ganeti's own
// commands (argument vectors): `gnt-job list` for the jobs not yet finished,
// `gnt-job wait` to wait for one to end. Ganeti's hotplug does not take the
// app's lock, so a change asks the queue before it starts and again after its
// write (see guard.ts).
import type { NodeSession } from "../ssh/session.js";
import { execOnNode } from "../on-node/exec.js";
import { JOB_LIST_SEPARATOR, UNFINISHED_JOBS_FILTER, jobActsOn, parseJobList, type GanetiJob } from "../../shared/ganeti/jobs.js";

export class GanetiQueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GanetiQueueError";
  }
}

const LIST_ARGV = ["gnt-job", "list", "--no-headers", `--separator=${JOB_LIST_SEPARATOR}`, "-o", "id,status,summary", "--filter", UNFINISHED_JOBS_FILTER];

/** The master's jobs that have not finished (queued, waiting, running, being cancelled). */
export async function unfinishedJobs(master: NodeSession, timeoutMs = 30_000): Promise<GanetiJob[]> {
  const r = await execOnNode(master, LIST_ARGV, { timeoutMs });
  if (r.code !== 0) {
    const said = (r.stderr.trim() || r.stdout.trim()).slice(-500);
    throw new GanetiQueueError(`gnt-job list on ${master.label} failed (${r.code === null ? `signal ${r.signal ?? "?"}` : `exit ${r.code}`}): ${said || "no output"}. Is it the master, with Ganeti's daemons running?`);
  }
  try {
    return parseJobList(r.stdout);
  } catch (err) {
    throw new GanetiQueueError(`${(err as Error).message} (on ${master.label})`);
  }
}

/** The unfinished jobs that act on `instance` (on its primary node `node`, if known). */
export async function jobsOn(master: NodeSession, instance: string, node?: string, timeoutMs?: number): Promise<GanetiJob[]> {
  return (await unfinishedJobs(master, timeoutMs)).filter((j) => jobActsOn(j, instance, node));
}

/**
 * Waits until job `id` has finished, however it ends (`gnt-job wait` exits
 * non-zero for a job that failed: that is still an end).
 */
export async function waitForJob(master: NodeSession, id: number, timeoutMs: number): Promise<void> {
  const r = await execOnNode(master, ["gnt-job", "wait", String(id)], { timeoutMs });
  if (r.code === 0 || /failed|error|cancel/i.test(r.stderr)) return;
  // Anything else (no such job: archived already) also means it is no longer running; say so only if it still is.
  const still = (await unfinishedJobs(master)).some((j) => j.id === id);
  if (still) throw new GanetiQueueError(`gnt-job wait ${id} on ${master.label} ended (exit ${r.code ?? "?"}) while the job still runs: ${r.stderr.trim().slice(-300)}`);
}
