// The activity log (overall, per node, or per instance), newest first,
// kept current by activity.added events.
import { useMemo, useState } from "react";
import type { ActivityEntry } from "../../../shared/ipc/contract";
import { useActivity } from "../state/hooks";
import { dateTime } from "../lib/format";

const OUTCOME: Record<ActivityEntry["outcome"], { icon: string; label: string }> = {
  succeeded: { icon: "✓", label: "succeeded" },
  failed: { icon: "✕", label: "failed" },
  unknown: { icon: "?", label: "outcome unknown" },
  refused: { icon: "⊘", label: "refused" },
  info: { icon: "i", label: "info" },
};

export function ActivityLog(props: { nodeId?: string; instance?: string; nodeNames: Map<string, string>; compact?: boolean }) {
  const { data, error, loading } = useActivity({ nodeId: props.nodeId, instance: props.instance });
  const [open, setOpen] = useState<string | null>(null);
  const sorted = useMemo(() => [...(data ?? [])].sort((a, b) => b.at - a.at), [data]);
  return (
    <section className="activity" aria-label="Activity">
      {error ? (
        <div className="banner bad" role="alert">
          Could not load the activity log: {error}
        </div>
      ) : null}
      {loading && !data ? <p className="muted">Loading…</p> : null}
      {data && sorted.length === 0 ? <p className="empty-note">Nothing has happened here yet.</p> : null}
      <ol className="activity-list">
        {sorted.map((e) => {
          const o = OUTCOME[e.outcome];
          return (
            <li key={e.id} className={`activity-entry o-${e.outcome}`} data-outcome={e.outcome}>
              <span className="a-time">{dateTime(e.at)}</span>
              <span className="a-outcome" title={o.label}>
                <span aria-hidden="true">{o.icon}</span> <span className="sr-only">{o.label}</span>
              </span>
              {props.instance ? null : (
                <span className="a-where">
                  {props.nodeNames.get(e.nodeId) ?? e.nodeId}
                  {e.instance ? ` / ${e.instance}` : ""}
                </span>
              )}
              <span className="a-summary">
                {e.summary}
                {e.detail ? (
                  <button type="button" className="link small" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
                    {open === e.id ? "hide detail" : "detail"}
                  </button>
                ) : null}
                {open === e.id && e.detail ? <pre className="a-detail">{e.detail}</pre> : null}
              </span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
