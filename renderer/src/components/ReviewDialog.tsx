// Review → Apply → progress → outcome for one hotplug change. The preview
// is exactly what the executor will run (hotplug.plan), and progress comes
// from operation.progress events for this plan.
import { useEffect, useRef, useState, type ReactNode } from "react";
import type { OperationOutcome, OperationProgress, PlanPreview } from "../../../shared/ipc/contract";
import type { ChangeRequestInput } from "../../../shared/hotplug/change-request";
import { stepWireText } from "../../../shared/hotplug/steps";
import { describeOnNode, describeOutcome } from "../../../shared/hotplug/outcome";
import type { StepState } from "../../../shared/hotplug/progress";
import { useApi } from "../state/api-context";
import { errorMessage } from "../lib/format";
import { Dialog } from "./Dialog";

type Phase =
  | { kind: "planning" }
  | { kind: "plan-error"; message: string }
  | { kind: "review"; plan: PlanPreview }
  | { kind: "running"; plan: Extract<PlanPreview, { ok: true }> }
  | { kind: "finished"; plan: Extract<PlanPreview, { ok: true }>; outcome: OperationOutcome }
  | { kind: "lost"; plan: Extract<PlanPreview, { ok: true }>; message: string };

/** A step's state as shown: the progress states, and "pending" for a step not reached yet. */
const STEP_STATE: Record<StepState | "pending", { icon: string; label: string }> = {
  pending: { icon: "○", label: "waiting" },
  running: { icon: "◐", label: "running…" },
  done: { icon: "✓", label: "done" },
  failed: { icon: "✕", label: "failed" },
  undoing: { icon: "↶", label: "undoing…" },
  undone: { icon: "↺", label: "undone" },
  "waiting-guest": { icon: "⧗", label: "waiting for the guest to release it" },
};

function diffClass(line: string): string {
  if (line.startsWith("+")) return "diff-add";
  if (line.startsWith("-")) return "diff-del";
  if (line.startsWith("~")) return "diff-mod";
  return "diff-same";
}

export function ReviewDialog(props: { nodeId: string; instance: string; intent: ChangeRequestInput; title: string; onClose: (changed: boolean) => void }) {
  const api = useApi();
  const [phase, setPhase] = useState<Phase>({ kind: "planning" });
  const [progress, setProgress] = useState<Map<number, OperationProgress>>(new Map());
  /** Ganeti's job log per step, line by line as it comes (a progress event carries one line). */
  const [jobLogs, setJobLogs] = useState<Map<number, string[]>>(new Map());
  /** The review's "runtime only" choice (where the plan offers it). */
  const [runtimeOnly, setRuntimeOnly] = useState(props.intent.runtimeOnly === true);
  /** A disk Ganeti knows: the user said its storage may be deleted (Ganeti's remove deletes it). */
  const [deleteStorage, setDeleteStorage] = useState(false);
  const planId = useRef<string | null>(null);
  const elapsedStart = useRef(0);

  // Listen before executing: events for this plan can beat execute's answer.
  useEffect(() => {
    const offProgress = api.on("operation.progress", (p) => {
      if (p.planId !== planId.current) return;
      setProgress((m) => new Map(m).set(p.index, p));
      if (p.kind === "ganeti-config" && p.detail && (p.state === "running" || p.state === "undoing")) {
        const line = p.detail;
        setJobLogs((m) => new Map(m).set(p.index, [...(m.get(p.index) ?? []), line]));
      }
    });
    const offOutcome = api.on("operation.outcome", (o) => {
      if (o.planId !== planId.current) return;
      setPhase((ph) => (ph.kind === "running" || ph.kind === "lost" ? { kind: "finished", plan: ph.plan, outcome: o } : ph));
    });
    return () => {
      offProgress();
      offOutcome();
    };
  }, [api]);

  useEffect(() => {
    let live = true;
    setPhase({ kind: "planning" });
    const base = props.intent.action === "remove" && deleteStorage ? { ...props.intent, deleteStorage: true } : props.intent;
    const intent = runtimeOnly ? { ...base, runtimeOnly: true } : { ...base, runtimeOnly: undefined };
    api.call("hotplug.plan", { nodeId: props.nodeId, instance: props.instance, intent }).then(
      (plan) => live && setPhase({ kind: "review", plan }),
      (err: unknown) => live && setPhase({ kind: "plan-error", message: errorMessage(err) }),
    );
    return () => {
      live = false;
    };
  }, [api, props.nodeId, props.instance, props.intent, runtimeOnly, deleteStorage]);

  const apply = async (plan: Extract<PlanPreview, { ok: true }>) => {
    planId.current = plan.planId;
    elapsedStart.current = Date.now();
    setProgress(new Map());
    setJobLogs(new Map());
    setPhase({ kind: "running", plan });
    try {
      await api.call("hotplug.execute", { planId: plan.planId });
    } catch (err) {
      setPhase((ph) => (ph.kind === "running" ? { kind: "lost", plan, message: errorMessage(err) } : ph));
    }
  };

  const running = phase.kind === "running";
  const changed = phase.kind === "finished" || phase.kind === "lost";
  const close = () => props.onClose(changed);

  let body: ReactNode;
  let footer: ReactNode;
  if (phase.kind === "planning") {
    body = <p role="status">Planning against the instance's current state…</p>;
    footer = <button type="button" onClick={close}>Cancel</button>;
  } else if (phase.kind === "plan-error") {
    body = (
      <div className="banner bad" role="alert">
        <strong>Could not plan this change.</strong> {phase.message}
      </div>
    );
    footer = <button type="button" onClick={close}>Close</button>;
  } else if (phase.kind === "review" && !phase.plan.ok) {
    body = (
      <>
        <p>{phase.plan.summary}</p>
        <div className="banner bad" role="alert">
          <strong>This change is refused:</strong>
          <ul>
            {phase.plan.refusals.map((r, i) => (
              <li key={i} data-code={r.code}>
                {r.message}
              </li>
            ))}
          </ul>
          Nothing was changed.
        </div>
      </>
    );
    // Removing a disk Ganeti knows: the user chooses whether its storage goes (through Ganeti) or stays (runtime only).
    const storageChoice = props.intent.action === "remove" && phase.plan.refusals.some((r) => r.code === "ganeti-disk");
    footer = (
      <>
        {storageChoice ? (
          <>
            <button type="button" className="danger" onClick={() => setDeleteStorage(true)}>
              Remove through Ganeti, deleting its storage…
            </button>
            <button type="button" onClick={() => setRuntimeOnly(true)}>
              Runtime only (Ganeti keeps it)…
            </button>
          </>
        ) : null}
        <button type="button" onClick={close}>
          Close
        </button>
      </>
    );
  } else {
    const plan = phase.plan as Extract<PlanPreview, { ok: true }>;
    const showProgress = phase.kind !== "review";
    body = (
      <>
        <PlanHeader plan={plan} />
        <RecordingNote plan={plan} runtimeOnly={runtimeOnly} onRuntimeOnly={phase.kind === "review" ? setRuntimeOnly : undefined} />
        {/* The outcome goes first: it is what the user is waiting for. */}
        {phase.kind === "finished" ? <OutcomeBanner outcome={phase.outcome} plan={plan} removing={props.intent.action === "remove"} /> : null}
        {phase.kind === "lost" ? (
          <div className="banner bad" role="alert" data-testid="outcome" data-outcome="unknown">
            <strong>The outcome is unknown.</strong> {phase.message}
          </div>
        ) : null}
        {running ? (
          <p className="banner info" role="status">
            Applying… {progressSummary(progress)}
          </p>
        ) : null}
        <h3>Steps{showProgress ? "" : " the app will run"}</h3>
        <ol className="steps" aria-label="Steps">
          {/* Index -1: the checks before the first step (lock, file unchanged). */}
          {progress.has(-1) ? extraStep(progress.get(-1)!) : null}
          {plan.steps.map((s, i) => {
            const p = progress.get(i);
            const st = p ? STEP_STATE[p.state] : showProgress ? STEP_STATE.pending : null;
            return (
              <li key={i} className={p ? `step st-${p.state}` : "step"} data-state={p?.state ?? (showProgress ? "pending" : "planned")}>
                <div className="step-line">
                  {st ? (
                    <StepStateMark state={st} />
                  ) : (
                    <span className="step-no">{i + 1}.</span>
                  )}
                  <span className="step-describe">{s.describe}</span>
                  {st && p && p.state !== "done" ? <span className="step-label">{st.label}</span> : null}
                </div>
                <code className="step-wire">{stepWireText(s)}</code>
                {jobLogs.get(i)?.length ? (
                  <pre className="job-log" role="log" aria-label={`Ganeti's job log, step ${i + 1}`}>
                    {jobLogs.get(i)!.join("\n")}
                  </pre>
                ) : null}
                {p?.detail && !(s.kind === "ganeti-config" && p.state === "running") ? <div className="step-message">{p.detail}</div> : null}
              </li>
            );
          })}
          {[...progress.values()]
            .filter((p) => p.index >= plan.steps.length)
            .map((p) => extraStep(p))}
        </ol>
        <h3>Runtime file change (written as generation {plan.writeGeneration})</h3>
        <pre className="diff" role="group" aria-label="Runtime file diff">
          {plan.fileDiff.map((l, i) => (
            <div key={i} className={diffClass(l)}>
              {l}
            </div>
          ))}
        </pre>
      </>
    );
    footer =
      phase.kind === "review" ? (
        <>
          <button type="button" onClick={close}>
            Cancel
          </button>
          <button type="button" className="primary" onClick={() => apply(plan)} autoFocus>
            Apply
          </button>
        </>
      ) : (
        <button type="button" onClick={close} disabled={running}>
          {running ? "Running…" : "Close"}
        </button>
      );
  }

  return (
    <Dialog title={props.title} onClose={close} footer={footer} wide closable={!running} testId="review-dialog">
      {body}
    </Dialog>
  );
}

/** The glyph for sighted users, the word for everyone else (a span takes no aria-label). */
function StepStateMark({ state }: { state: { icon: string; label: string } }) {
  return (
    <span className="step-state" title={state.label}>
      <span aria-hidden="true">{state.icon}</span>
      <span className="sr-only">{state.label}</span>
    </span>
  );
}

function extraStep(p: OperationProgress) {
  return (
    <li key={`x${p.index}`} className={`step st-${p.state}`} data-state={p.state}>
      <div className="step-line">
        <StepStateMark state={STEP_STATE[p.state]} />
        <span className="step-describe">{p.describe}</span>
        {p.state !== "done" ? <span className="step-label">{STEP_STATE[p.state].label}</span> : null}
      </div>
      {p.detail ? <div className="step-message">{p.detail}</div> : null}
    </li>
  );
}

function progressSummary(progress: Map<number, OperationProgress>): string {
  const latest = [...progress.values()].sort((a, b) => b.index - a.index)[0];
  if (!latest) return "";
  if (latest.index < 0) return `checks before the first step: ${STEP_STATE[latest.state].label}`;
  return `step ${latest.index + 1} of ${latest.total}: ${STEP_STATE[latest.state].label}`;
}

function PlanHeader({ plan }: { plan: Extract<PlanPreview, { ok: true }> }) {
  return (
    <>
      <p className="plan-summary">{plan.summary}</p>
      <dl className="kv inline">
        <dt>Where</dt>
        <dd>
          {plan.slot.bus === "pci" ? `pci.0 slot 0x${(plan.slot.slot ?? 0).toString(16).padStart(2, "0")}` : `scsi.0 target ${plan.slot.scsiId ?? "?"}`}
        </dd>
        <dt>Guest sees</dt>
        <dd>
          <code>{plan.slot.guestAddress}</code>
        </dd>
        <dt>Written for</dt>
        <dd>
          <ul className="plan-readers" data-testid="plan-readers">
            {plan.readers.map((r) => (
              <li key={r.node} title={`Ganeti ${r.version}: ${r.versionFrom}`}>
                Ganeti {r.version} ({r.versionSource}) — {r.why}
              </li>
            ))}
          </ul>
        </dd>
      </dl>
      {plan.warnings.length > 0 ? (
        <div className="banner warn">
          {plan.warnings.map((w, i) => (
            <div key={i}>⚠ {w}</div>
          ))}
        </div>
      ) : null}
    </>
  );
}

/** Whether Ganeti's configuration keeps the change, and the "runtime only" choice where the plan offers it. */
function RecordingNote(props: { plan: Extract<PlanPreview, { ok: true }>; runtimeOnly: boolean; onRuntimeOnly: ((v: boolean) => void) | undefined }) {
  const r = props.plan.recording;
  if (!r) return null;
  return (
    <div className={`banner recording ${r.mode === "runtime-only" ? "warn" : "info"}`} data-testid="recording" data-mode={r.mode}>
      {r.mode === "runtime-only" ? <span className="badge tone-warn">Runtime only</span> : <span className="badge tone-ok">Ganeti's configuration</span>} {r.note}
      {r.runtimeOnlyMeans ? (
        <label className="runtime-only-choice">
          <input type="checkbox" checked={props.runtimeOnly} disabled={!props.onRuntimeOnly} onChange={(e) => props.onRuntimeOnly?.(e.target.checked)} /> {r.runtimeOnlyMeans}
        </label>
      ) : null}
    </div>
  );
}

/** How a change ended, as the review dialog shows it (exported for its test). */
export function OutcomeBanner({ outcome: { outcome }, plan, removing }: { outcome: OperationOutcome; plan: Extract<PlanPreview, { ok: true }>; removing: boolean }) {
  const { message, undone } = describeOutcome(outcome, plan.slot);
  if (outcome.ok) {
    return (
      <div className="banner ok" role="status" data-testid="outcome" data-outcome="succeeded">
        <strong>✓ Done.</strong> {message.replace(/^Done[:.]\s*/i, "")}
        {plan.slot.bus === "pci" && !removing ? (
          <>
            {" "}
            The guest sees it at <code>{plan.slot.guestAddress}</code>.
          </>
        ) : null}
      </div>
    );
  }
  if (outcome.write.state === "unknown") {
    // Neither done nor failed: say what the file holds now and what to do, and that nothing was rolled back.
    const { now, next } = describeOnNode(outcome.write, plan.instance);
    return (
      <div className="banner warn" role="alert" data-testid="outcome" data-outcome="unknown" data-on-node={outcome.write.onNode}>
        <strong>? Outcome unknown: the runtime file&apos;s write lost its answer.</strong> <span className="outcome-message">{now}</span>
        <div>Nothing was undone: the live changes stay, because the file may record them.</div>
        <div>
          <strong>Next:</strong> {next}
        </div>
        <details>
          <summary>Details</summary>
          <span className="outcome-detail">{message}</span>
        </details>
      </div>
    );
  }
  return (
    <div className="banner bad" role="alert" data-testid="outcome" data-outcome="failed">
      <strong>✕ Failed at: {outcome.failedStep.describe.replace(/\.$/, "")}.</strong> <span className="outcome-message">{message}</span>
      {undone.length > 0 ? (
        <>
          <div>Undone, in order:</div>
          <ul>
            {undone.map((u, i) => (
              <li key={i}>{u}</li>
            ))}
          </ul>
        </>
      ) : (
        <div>Nothing needed undoing.</div>
      )}
    </div>
  );
}
