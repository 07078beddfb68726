// Node-side steps of a plan run, sent ahead as one chain: consecutive
// node-side steps (tap, nic file, fd passing) go to the node helper in one
// packet, one round trip, and the helper skips the rest of the chain at the
// first failure, so what ran is exactly what answered.
import type { z } from "zod";
import type { NodeSession } from "../ssh/session.js";
import type { PlanStep } from "../../shared/hotplug/index.js";
import { runNodeHelper, runNodeHelperChain, type ChainedRequest } from "../on-node/node-helper.js";
import { StepFailure, helperAnswerLost, markAnswerLost } from "./step-failure.js";

export class NodeChain {
  /** Answers of node-side steps already sent, by step index. */
  private readonly sent = new Map<number, { describe: string; answer: Promise<unknown> }>();

  constructor(
    private readonly session: NodeSession,
    /** The plan's steps as they are when sent (a NIC Ganeti recorded changes the later ones). */
    private readonly steps: () => readonly PlanStep[],
    /** The helper request a step makes; undefined for a step that is not node-side. */
    private readonly requestOf: (index: number, step: PlanStep) => ChainedRequest | undefined,
    /** Called before anything goes to the helper: the fd passer connects to .qmp itself, and the socket serves one client. */
    private readonly beforeSend: () => void,
  ) {}

  /** Sends the node-side steps from `index` on as one chain, when there are two or more in a row. */
  sendFrom(index: number): void {
    if (this.sent.has(index)) return;
    const run: { index: number; describe: string; req: ChainedRequest }[] = [];
    const steps = this.steps();
    for (let i = index; i < steps.length; i++) {
      const step = steps[i]!;
      const req = this.requestOf(i, step);
      if (!req) break;
      run.push({ index: i, describe: step.describe, req });
    }
    if (run.length < 2) return;
    this.beforeSend();
    const answers = runNodeHelperChain(
      this.session,
      run.map((r) => r.req),
    );
    run.forEach((r, k) => this.sent.set(r.index, { describe: r.describe, answer: answers[k]! }));
  }

  /** A node-side step's answer (sent now if it was not sent with a chain), checked against `schema`, the one its request names. */
  async answer<S extends z.ZodTypeAny>(index: number, step: PlanStep, schema: S): Promise<z.infer<S>> {
    const pre = this.sent.get(index);
    if (pre) {
      this.sent.delete(index);
      // Checked by the chain with the request's schema, which is `schema`.
      return (await pre.answer.catch(lost)) as z.infer<S>;
    }
    const req = this.requestOf(index, step);
    if (!req) throw new StepFailure("other", `Step ${index + 1} (${step.kind}) is not a node-side step. This is an executor bug.`);
    this.beforeSend();
    return runNodeHelper(this.session, req.op, req.args, schema).catch(lost);
  }

  /** Chained steps after a failure: skipped by the helper, or (if their own answer was fine) already run; the latter, in words. */
  async settle(): Promise<string[]> {
    const left = [...this.sent.values()];
    this.sent.clear();
    const ran: string[] = [];
    for (const c of left) {
      try {
        await c.answer;
        ran.push(`${c.describe}: it ran on the node before the failure above was known; check it`);
      } catch (err) {
        // Skipped, or failed by the helper's own word: nothing of it stands. A lost answer says nothing.
        if (helperAnswerLost(err)) ran.push(`${c.describe}: its answer was lost with the connection, so it may have run on the node; check it`);
      }
    }
    return ran;
  }
}

/** A node-side step's failure, marked when its answer was lost (the step may have run). */
function lost(err: unknown): never {
  throw helperAnswerLost(err) ? markAnswerLost(err) : err;
}
