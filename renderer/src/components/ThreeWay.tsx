// A device as Ganeti's configuration, the runtime file and the live bus see
// it: three marks (a word and a glyph each, so nothing rests on colour),
// the consequence in plain words, and the table of every device of an
// instance, those without a slot included.
import { memo, useId, useState } from "react";
import type { Presence, ThreeWayDevice } from "../../../shared/inventory/three-way";
import type { ChangeRequestInput } from "../../../shared/hotplug/change-request";
import { repairsFor, type RepairOffer } from "../../../shared/hotplug/repair";
import { marksOf, threeWayName, threeWayPlace, type Mark } from "../lib/three-way";

/** Opens the review of a repair (the same dialog as any change). */
export type OnRepair = (request: ChangeRequestInput, title: string) => void;

/** The request a repair button asks for: the device by uuid where it has one, else by the id it runs with. */
function repairRequest(t: ThreeWayDevice, o: RepairOffer, extra: { mac?: string; link?: string } = {}): ChangeRequestInput | undefined {
  const ref = t.uuid ?? t.id;
  return ref === undefined ? undefined : { action: "repair", repair: o.repair, ref, ...extra };
}

/** Whether a record must be told the NIC's MAC and link (the live bus does not say them; Ganeti's configuration does, where it has it). */
const needsMacAndLink = (t: ThreeWayDevice, o: RepairOffer) => o.repair === "record" && t.where.config !== true;

/**
 * The repairs that fit the device, as buttons (each opens the review); a
 * record of a NIC only on the live bus asks for its MAC and link first.
 */
export function RepairButtons({ t, onRepair, compact }: { t: ThreeWayDevice; onRepair: OnRepair; compact?: boolean }) {
  const offers = repairsFor(t);
  const baseId = useId();
  const [mac, setMac] = useState("");
  const [link, setLink] = useState("");
  if (offers.length === 0 || (t.uuid ?? t.id) === undefined) return null;
  const name = threeWayName(t);
  return (
    <div className="tw-repairs" role="group" aria-label={`Repairs for ${name}`} data-testid="repairs">
      {offers.map((o) => {
        const asks = needsMacAndLink(t, o);
        const ready = !asks || (mac.trim() !== "" && link.trim() !== "");
        const req = repairRequest(t, o, asks ? { mac: mac.trim(), link: link.trim() } : {});
        const describedBy = `${baseId}-${o.repair}`;
        return (
          <div key={o.repair} className="tw-repair" data-repair={o.repair}>
            {asks ? (
              <span className="tw-repair-fields">
                <label>
                  MAC{" "}
                  <input className="mono" aria-label={`MAC of ${name}`} placeholder="aa:00:00:12:34:56" value={mac} onChange={(e) => setMac(e.target.value)} spellCheck={false} size={17} />
                </label>{" "}
                <label>
                  Link{" "}
                  <input className="mono" aria-label={`Link of ${name}`} placeholder="br0" value={link} onChange={(e) => setLink(e.target.value)} spellCheck={false} size={8} />
                </label>{" "}
              </span>
            ) : null}
            <button type="button" disabled={!ready || !req} aria-describedby={describedBy} onClick={() => req && onRepair(req, `${o.label}: ${name}`)}>
              {o.label}
            </button>
            <span id={describedBy} className={compact ? "sr-only" : "small tw-repair-does"}>
              {" "}
              {o.does}
              {asks && !ready ? " Give its MAC and link first (read them in the guest and on the node)." : ""}
            </span>
          </div>
        );
      })}
    </div>
  );
}

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
export function ThreeWayBlock({ t, onRepair }: { t: ThreeWayDevice; onRepair?: OnRepair }) {
  return (
    <div className={t.drift ? "tw-block drift" : "tw-block"} data-testid="three-way" data-combination={t.combination}>
      <ThreeWayMarks where={t.where} size="words" />
      <p className="tw-consequence">
        {t.drift ? <span aria-hidden="true">⚠ </span> : null}
        <strong>{t.label.replace(/^./, (c) => c.toUpperCase())}.</strong> {t.consequence}
      </p>
      {onRepair ? <RepairButtons t={t} onRepair={onRepair} /> : null}
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
export function ThreeWayTable(props: { devices: readonly ThreeWayDevice[]; cluster: string; onPick?: (t: ThreeWayDevice) => void; onRepair?: OnRepair }) {
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
            {props.onRepair ? <th scope="col">Repair</th> : null}
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
                {props.onRepair ? <td className="tw-repair-cell">{<RepairButtons t={t} onRepair={props.onRepair} compact />}</td> : null}
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
