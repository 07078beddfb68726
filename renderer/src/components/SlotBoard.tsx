// pci.0 as 32 slots and scsi.0 as 16 targets. Each slot is a drop target
// (and, when it holds a hot-plugged device, a drag source); while something
// is dragged every slot shows whether it takes it and, if not, why.
import { memo, useId, useMemo } from "react";
import { useDraggable, useDroppable } from "@dnd-kit/core";
import type { DeviceView, InstanceView, PciSlotView, ScsiTargetView } from "../../../shared/inventory/view";
import type { ThreeWayDevice } from "../../../shared/inventory/three-way";
import { displayPciAddr } from "../../../shared/slots/index";
import { deviceLabel, pciSlotName, scsiTargetName, type DragItem, type Reason, type Verdict } from "../lib/acceptance";
import { ThreeWayMarks } from "./ThreeWay";

export type TargetKey = `pci:${number}` | `scsi:${number}` | "remove";

/** A few words for a refusal, shown on the slot itself while dragging. */
export function shortReason(r: Reason | undefined): string {
  switch (r?.code) {
    case "reserved-by-qemu":
      return "reserved";
    case "taken-live":
    case "taken-file":
      return "in use";
    case "wrong-bus":
      return "wrong bus";
    case "pending":
      return "queued change";
    case "instance-state":
      return "not running";
    case "same-slot":
      return "already here";
    case "cannot-move":
      return "disks can't move";
    case "invalid-draft":
      return "fix the form";
    case "not-removable":
      return "can't unplug";
    default:
      return "refused";
  }
}

const STATE_TEXT: Record<PciSlotView["state"], { icon: string; label: string }> = {
  free: { icon: "○", label: "free" },
  reserved: { icon: "⊘", label: "reserved" },
  pending: { icon: "◔", label: "queued" },
  "taken-live": { icon: "◍", label: "live only" },
  "taken-file": { icon: "◍", label: "file only" },
  "taken-both": { icon: "●", label: "in use" },
};

export function deviceDragId(d: DeviceView): string {
  return `device:${d.kind}:${d.index}`;
}

function shortGuest(addr: string | undefined, slot: number): string {
  return (addr ?? `0000:00:${slot.toString(16).padStart(2, "0")}.0`).replace(/^0000:/, "");
}

/** The end of a long path is the part that tells disks apart. */
export function tail(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`;
}

function DeviceLines({ d }: { d: DeviceView }) {
  return (
    <>
      <div className="dev-kind">
        <span className={`kind-tag ${d.kind}`}>{d.kind === "nic" ? "NIC" : "DISK"}</span> {d.driver ?? "?"}
        {d.live === false ? <span className="not-live"> · not live</span> : null}
      </div>
      <div className="dev-id mono" title={d.uuid}>
        {d.id ?? d.uuid ?? `#${d.index}`}
      </div>
      <div className="dev-extra mono" title={d.path}>
        {d.kind === "nic" ? `${d.mac ?? "no MAC"}${d.link ? ` · ${d.link}` : ""}` : d.path ? tail(d.path, 30) : "no path"}
      </div>
    </>
  );
}

interface CellCommon {
  view: InstanceView;
  verdict: Verdict | null;
  dragging: boolean;
  isOver: boolean;
  selected: boolean;
  onSelect: (key: TargetKey) => void;
}

function cellClass(base: string, state: string, p: CellCommon, drift: boolean, activeSource: boolean): string {
  const c = [base, `s-${state}`];
  if (drift) c.push("drift");
  if (p.selected) c.push("selected");
  if (p.dragging && p.verdict) c.push(p.verdict.ok ? "accepts" : "refuses");
  if (p.isOver) c.push("over");
  if (activeSource) c.push("source");
  return c.join(" ");
}

function DropHint({ verdict }: { verdict: Verdict | null }) {
  if (!verdict) return null;
  return verdict.ok ? (
    <div className="drop-hint ok">
      <span aria-hidden="true">✓</span> drop here
    </div>
  ) : (
    <div className="drop-hint no" title={verdict.reasons.map((r) => r.message).join("\n")}>
      <span aria-hidden="true">⊘</span> {shortReason(verdict.reasons[0])}
    </div>
  );
}

/**
 * What every slot and target cell shares: it is a drop target, it is
 * draggable when a device sits in it, Enter selects it, and Space either
 * picks up its device (dnd-kit's keyboard sensor) or selects an empty cell.
 * Its accessible name is its visible text (so a voice user can say what
 * they see); `describedBy` names what explains it, read after the name.
 */
function useCellDnd(p: CellCommon, key: TargetKey, target: { type: "pci"; slot: number } | { type: "scsi"; scsiId: number }, device: DeviceView | undefined, describedBy: string) {
  const drop = useDroppable({ id: key, data: { target } });
  const dragId = device ? deviceDragId(device) : `none:${key}`;
  const item: DragItem | undefined = device ? { type: "device", device } : undefined;
  const drag = useDraggable({ id: dragId, data: { item }, disabled: !device });
  return {
    props: {
      ref: (el: HTMLDivElement | null) => {
        drop.setNodeRef(el);
        if (device) drag.setNodeRef(el);
      },
      "data-accepts": p.dragging && p.verdict ? String(p.verdict.ok) : undefined,
      ...(device ? drag.attributes : { role: "button", tabIndex: 0 }),
      ...(device ? drag.listeners : {}),
      // The slot's own description first, then dnd-kit's pick-up instructions.
      "aria-describedby": device ? `${describedBy} ${drag.attributes["aria-describedby"]}` : describedBy,
      "aria-pressed": p.selected,
      onClick: () => p.onSelect(key),
      onKeyDown: (e: React.KeyboardEvent<HTMLDivElement>) => {
        if (e.key === "Enter" || (!device && e.key === " ")) {
          e.preventDefault();
          p.onSelect(key);
          return;
        }
        drag.listeners?.onKeyDown?.(e);
      },
    },
  };
}

// dnd-kit's hooks re-render their component whenever the drag's "over"
// target changes, whatever memo says. So each cell is a thin shell holding
// the hooks and its outer <div>, and a memoized body holding the rest: on
// such a re-render only the shell runs, the body is skipped.

/** threeWay: the device at this place as the three sources see it (instances of a Ganeti cluster). */
type CellProps<E> = CellCommon & { entry: E; device: DeviceView | undefined; isSource: boolean; threeWay?: ThreeWayDevice | undefined };

export const PciSlotCell = memo(function PciSlotCell(p: CellProps<PciSlotView>) {
  const { entry, device } = p;
  const describedBy = useId();
  const { props: dnd } = useCellDnd(p, `pci:${entry.slot}`, { type: "pci", slot: entry.slot }, device, describedBy);
  const name = useMemo(() => pciSlotName(p.view, entry.slot), [p.view, entry.slot]);
  return (
    <div
      {...dnd}
      className={cellClass("slot", entry.state, p, entry.drift !== undefined, p.isSource)}
      data-slot={displayPciAddr(entry.slot)}
      data-state={entry.state}
      aria-roledescription={device ? "device in slot (draggable)" : "slot"}
      title={entry.reasons.map((r) => r.message).join("\n") || name}
    >
      <PciSlotBody entry={entry} device={device} verdict={p.dragging ? p.verdict : null} threeWay={p.threeWay} />
      <span id={describedBy} hidden>
        {name}
      </span>
    </div>
  );
});

const PciSlotBody = memo(function PciSlotBody({ entry, device, verdict, threeWay }: { entry: PciSlotView; device: DeviceView | undefined; verdict: Verdict | null; threeWay: ThreeWayDevice | undefined }) {
  const st = STATE_TEXT[entry.state];
  const live = entry.liveDevices[0];
  return (
    <>
      {entry.state === "reserved" ? <span className="hatch" aria-hidden="true" /> : null}
      <div className="slot-head">
        <span className="slot-addr">
          <span className="sr-only">Slot </span>
          {displayPciAddr(entry.slot)}
        </span>
        <span className="slot-state">
          {/* QEMU's own devices sit in reserved slots: "reserved" says more than "live only". */}
          {entry.reserved && !device ? (
            <>
              <span aria-hidden="true">⊘</span> reserved
            </>
          ) : (
            <>
              <span aria-hidden="true">{st.icon}</span> {st.label}
            </>
          )}
        </span>
        {entry.drift ? (
          <span className="drift-mark" title={entry.driftNote}>
            ⚠ drift
          </span>
        ) : null}
        <span className="guest mono">{shortGuest(device?.guestAddress, entry.slot)}</span>
      </div>
      {device ? (
        <DeviceLines d={device} />
      ) : live ? (
        <div className="dev-qemu" title={live.label}>
          {live.label}
          {entry.liveDevices.length > 1 ? ` +${entry.liveDevices.length - 1} fn` : ""}
        </div>
      ) : entry.fileDevices[0] ? (
        <div className="dev-id mono">{entry.fileDevices[0].deviceId}</div>
      ) : entry.state === "reserved" ? (
        <div className="muted small">kept for QEMU</div>
      ) : null}
      {threeWay ? <ThreeWayMarks where={threeWay.where} size="slot" /> : null}
      <DropHint verdict={verdict} />
    </>
  );
});

export const ScsiTargetCell = memo(function ScsiTargetCell(p: CellProps<ScsiTargetView>) {
  const { entry, device } = p;
  const describedBy = useId();
  const { props: dnd } = useCellDnd(p, `scsi:${entry.scsiId}`, { type: "scsi", scsiId: entry.scsiId }, device, describedBy);
  const name = useMemo(() => scsiTargetName(p.view, entry.scsiId), [p.view, entry.scsiId]);
  return (
    <div
      {...dnd}
      className={cellClass("slot scsi", entry.state, p, entry.drift !== undefined, p.isSource)}
      data-scsi={entry.scsiId}
      data-state={entry.state}
      aria-roledescription={device ? "disk on SCSI target (draggable)" : "SCSI target"}
      title={entry.reasons.map((r) => r.message).join("\n") || name}
    >
      <ScsiTargetBody entry={entry} device={device} verdict={p.dragging ? p.verdict : null} threeWay={p.threeWay} />
      <span id={describedBy} hidden>
        {name}
      </span>
    </div>
  );
});

const ScsiTargetBody = memo(function ScsiTargetBody({ entry, device, verdict, threeWay }: { entry: ScsiTargetView; device: DeviceView | undefined; verdict: Verdict | null; threeWay: ThreeWayDevice | undefined }) {
  const st = STATE_TEXT[entry.state];
  return (
    <>
      <div className="slot-head">
        <span className="slot-addr">
          <span className="sr-only">SCSI target </span>T{entry.scsiId}
        </span>
        <span className="slot-state">
          <span aria-hidden="true">{st.icon}</span> {st.label}
        </span>
        {entry.drift ? (
          <span className="drift-mark" title={entry.driftNote}>
            ⚠
          </span>
        ) : null}
      </div>
      {device ? (
        <div className="dev-id mono" title={device.path}>
          {device.id ?? device.uuid}
        </div>
      ) : entry.liveDevice ? (
        <div className="dev-id mono">{entry.liveDevice.qdevId}</div>
      ) : null}
      {threeWay ? <ThreeWayMarks where={threeWay.where} size="letters" /> : null}
      <DropHint verdict={verdict} />
    </>
  );
});

export function deviceAtPci(view: InstanceView, slot: number): DeviceView | undefined {
  return view.devices.find((d) => d.bus === "pci" && d.slot === slot);
}

export function deviceAtScsi(view: InstanceView, scsiId: number): DeviceView | undefined {
  return view.devices.find((d) => d.bus === "scsi" && d.scsiId === scsiId);
}

/** threeWay: explain the marks of a cluster instance's devices too. */
export function Legend({ threeWay }: { threeWay: boolean }) {
  return (
    <ul className="legend" aria-label="Legend">
      <li>
        <span className="swatch s-free" aria-hidden="true">
          ○
        </span>{" "}
        free
      </li>
      <li>
        <span className="swatch s-reserved" aria-hidden="true">
          ⊘
        </span>{" "}
        reserved
      </li>
      <li>
        <span className="swatch s-taken-both" aria-hidden="true">
          ●
        </span>{" "}
        in use (file and live bus)
      </li>
      <li>
        <span className="swatch s-taken-file" aria-hidden="true">
          ◍
        </span>{" "}
        only in the file / only live
      </li>
      <li>
        <span className="swatch drift" aria-hidden="true">
          ⚠
        </span>{" "}
        drift: file and live bus disagree
      </li>
      {threeWay ? (
        <li>
          <span className="swatch tw-legend" aria-hidden="true">
            ✓✗?
          </span>{" "}
          cfg (C) Ganeti's configuration, file (F) the runtime file, live (L) the live bus: ✓ has it, ✗ does not, ? not read
        </li>
      ) : null}
    </ul>
  );
}

export { deviceLabel };
