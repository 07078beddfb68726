// A device as Ganeti's configuration, the runtime file and the live bus see
// it: three marks (a word and a glyph each, so nothing rests on colour),
// the consequence in plain words, and the table of every device of an
// instance, those without a slot included.
import { memo, useId } from "react";
import type { Presence, ThreeWayDevice } from "../../../shared/inventory/three-way";
import { marksOf, threeWayName, threeWayPlace, type Mark } from "../lib/three-way";

const STATE_WORD: Record<Mark["state"], string> = { yes: "yes", no: "no", unknown: "not read" };

/**
 * The three marks. "slot": short words (cfg, file, live) for a PCI slot;
 * "letters": C, F, L for a SCSI target; "words": the sources spelled out.
 */
export const ThreeWayMarks = memo(function ThreeWayMarks({ where, size }: { where: Presence; size: "slot" | "letters" | "words" }) {
  return (
    <span className={`tw tw-${size}`}>
      {marksOf(where).map((m) => (
        <span key={m.source} className={`tw-m tw-${m.state}`} title={m.says} data-source={m.source} data-state={m.state}>
          {size === "words" ? m.long.replace(/^the /, "").replace(/^./, (c) => c.toUpperCase()) : size === "slot" ? m.short : m.short[0]!.toUpperCase()}
          <span aria-hidden="true">{m.glyph}</span>
          <span className="sr-only"> {STATE_WORD[m.state]}</span>
        </span>
      ))}
    </span>
  );
});

/** The device's three marks with what follows from them. */
export function ThreeWayBlock({ t }: { t: ThreeWayDevice }) {
  return (
    <div className={t.drift ? "tw-block drift" : "tw-block"} data-testid="three-way" data-combination={t.combination}>
      <ThreeWayMarks where={t.where} size="words" />
      <p className="tw-consequence">
        {t.drift ? <span aria-hidden="true">⚠ </span> : null}
        <strong>{t.label.replace(/^./, (c) => c.toUpperCase())}.</strong> {t.consequence}
      </p>
    </div>
  );
}

function MarkCell({ m }: { m: Mark }) {
  return (
    <td className={`tw-cell tw-${m.state}`} data-source={m.source} data-state={m.state}>
      <span aria-hidden="true">{m.glyph}</span> {STATE_WORD[m.state]}
    </td>
  );
}

/** Every device of the instance three ways, one row each, for reading and for the ones no slot shows. */
export function ThreeWayTable(props: { devices: readonly ThreeWayDevice[]; cluster: string; onPick?: (t: ThreeWayDevice) => void }) {
  const titleId = useId();
  if (props.devices.length === 0) return null;
  return (
    <section className="tw-table-wrap" aria-labelledby={titleId}>
      <h3 className="bus-title" id={titleId}>
        Devices three ways <span className="muted">· Ganeti's configuration (cluster {props.cluster}), the runtime file, the live bus</span>
      </h3>
      <table className="tw-table" data-testid="three-way-table">
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Where</th>
            <th scope="col">Ganeti's configuration</th>
            <th scope="col">Runtime file</th>
            <th scope="col">Live bus</th>
            <th scope="col">What it means</th>
          </tr>
        </thead>
        <tbody>
          {props.devices.map((t, i) => {
            const marks = marksOf(t.where);
            return (
              <tr key={t.uuid ?? t.id ?? i} className={t.drift ? "drift" : undefined} data-combination={t.combination} data-device={t.uuid ?? t.id}>
                <th scope="row" className="mono">
                  {props.onPick && (t.slot !== undefined || t.scsiId !== undefined) ? (
                    <button type="button" className="link" onClick={() => props.onPick!(t)}>
                      {threeWayName(t)}
                    </button>
                  ) : (
                    threeWayName(t)
                  )}
                </th>
                <td>{threeWayPlace(t)}</td>
                {marks.map((m) => (
                  <MarkCell key={m.source} m={m} />
                ))}
                <td className="tw-means">
                  {t.drift ? <span aria-hidden="true">⚠ </span> : null}
                  <strong>{t.label}</strong>: {t.consequence}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
