// The instance's runtime file as it is on the node: generation, the notes
// the in-memory upgrade produced, and the text (exact, or indented).
import { useMemo, useState } from "react";
import { GENERATION_LABEL } from "../../../shared/runtime/generation";
import { useRuntimeFile } from "../state/hooks";

export function RuntimeFileViewer(props: { nodeId: string; instance: string }) {
  const { data, error, loading, refresh } = useRuntimeFile(props.nodeId, props.instance);
  const [pretty, setPretty] = useState(true);
  const formatted = useMemo(() => {
    if (!data?.text) return null;
    try {
      return JSON.stringify(JSON.parse(data.text), null, 2);
    } catch {
      return null;
    }
  }, [data?.text]);
  return (
    <section className="runtime" aria-label="Runtime file">
      {error ? (
        <div className="banner bad" role="alert">
          Could not read the runtime file: {error}
        </div>
      ) : null}
      {loading && !data ? <p className="muted">Reading the file over SSH…</p> : null}
      {data ? (
        <>
          <div className="toolbar">
            <code>{data.path}</code>
            <span className="badge">{data.generation ? `generation ${data.generation} · ${GENERATION_LABEL[data.generation]}` : "generation unknown"}</span>
            <span className="muted">{data.text.length} bytes</span>
            <span className="spacer" />
            <label className="radio">
              <input type="checkbox" checked={pretty} onChange={(e) => setPretty(e.target.checked)} disabled={!formatted} /> indent (display only)
            </label>
            <button type="button" onClick={refresh}>
              Reload
            </button>
          </div>
          {data.error ? (
            <div className="banner bad" role="alert">
              {data.error}
            </div>
          ) : null}
          {data.notes.length > 0 ? (
            <div className="banner info">
              <strong>How the app reads this file (upgrade notes):</strong>
              <ul>
                {data.notes.map((n, i) => (
                  <li key={i}>
                    <code>{n.rule}</code> {n.detail}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          <pre className="file-text" tabIndex={0} role="region" aria-label="File text">
            {pretty && formatted ? formatted : data.text}
          </pre>
        </>
      ) : null}
    </section>
  );
}
