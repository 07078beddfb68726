// One instance: header facts, then tabs for the slot board, its activity
// and its runtime file.
import { useState } from "react";
import { useInstance } from "../state/hooks";
import { ActivityLog } from "./Activity";
import { RuntimeFileViewer } from "./RuntimeFile";
import { Workspace } from "./Workspace";
import { versionSourceText } from "../lib/format";

type Tab = "slots" | "activity" | "runtime";

export function InstancePage(props: { nodeId: string; name: string; nodeName: string; nodeNames: Map<string, string>; onBack: () => void }) {
  const { data: view, error, loading, refresh } = useInstance(props.nodeId, props.name);
  const [tab, setTab] = useState<Tab>("slots");
  const tabs: [Tab, string][] = [
    ["slots", "Slots"],
    ["activity", "Activity"],
    ["runtime", "Runtime file"],
  ];
  return (
    <section className="instance-page" aria-label={`Instance ${props.name}`}>
      <div className="instance-head">
        <button type="button" className="link" onClick={props.onBack}>
          ← Instances
        </button>
        <h2>{props.name}</h2>
        <span className="muted">on {props.nodeName}</span>
        {view ? (
          <>
            <span className={`badge st-${view.state}`} title={view.stateDetail}>
              {view.state}
            </span>
            <span className="fact">QEMU {view.qemuVersion ?? "?"}</span>
            <span className="fact">gen {view.generation ?? "?"}</span>
            <span className="fact">
              {view.devices.filter((d) => d.kind === "nic").length} NIC · {view.devices.filter((d) => d.kind === "disk").length} disk
            </span>
            {view.drift.length > 0 ? <span className="fact warn">⚠ {view.drift.length} drift</span> : null}
            {view.ganetiVersion ? (
              <span className="fact" title={view.ganetiVersion.from} data-testid="instance-ganeti-version">
                Ganeti {view.ganetiVersion.version} ({versionSourceText(view.ganetiVersion.source)})
              </span>
            ) : null}
            {view.ganeti ? (
              <span className="fact">
                cluster {view.ganeti.cluster}
                {view.ganeti.primaryNode ? ` · primary ${view.ganeti.primaryNode}` : ""}
              </span>
            ) : null}
          </>
        ) : null}
        <span className="spacer" />
        <button type="button" onClick={refresh} disabled={loading}>
          {loading ? "Reading…" : "Refresh"}
        </button>
      </div>
      {view?.stateDetail || (view && !view.liveChecked) ? (
        <div className="banner warn small">
          {view.stateDetail ?? ""} {view.liveChecked ? "" : "The live bus was not read: the board shows the runtime file only."}
        </div>
      ) : null}
      {view?.ganetiVersion?.note ? (
        <div className="banner warn small" role="note">
          <span aria-hidden="true">⚠ </span>
          {view.ganetiVersion.note}
        </div>
      ) : null}
      {view?.ganeti?.configNote ? (
        <div className="banner info small" role="note">
          {view.ganeti.configNote} Devices cannot be compared with Ganeti's configuration{view.ganeti.config === "absent" ? ": it does not list this instance" : ""}.
        </div>
      ) : null}
      {view?.runtimeError ? (
        <div className="banner bad small" role="alert">
          Runtime file: {view.runtimeError}
        </div>
      ) : null}
      <div className="tabs" role="tablist" aria-label="Instance views">
        {tabs.map(([k, label]) => (
          <button key={k} type="button" role="tab" aria-selected={tab === k} className={tab === k ? "tab active" : "tab"} onClick={() => setTab(k)}>
            {label}
          </button>
        ))}
      </div>
      <div className="tab-body" role="tabpanel">
        {error && !view ? (
          <div className="banner bad" role="alert">
            Could not read {props.name}: {error}
          </div>
        ) : null}
        {tab === "slots" ? (
          view ? (
            <Workspace view={view} nodeId={props.nodeId} onChanged={refresh} />
          ) : loading ? (
            <p className="muted">Reading the instance over SSH and QMP…</p>
          ) : null
        ) : null}
        {tab === "activity" ? <ActivityLog nodeId={props.nodeId} instance={props.name} nodeNames={props.nodeNames} /> : null}
        {tab === "runtime" ? <RuntimeFileViewer nodeId={props.nodeId} instance={props.name} /> : null}
      </div>
    </section>
  );
}
