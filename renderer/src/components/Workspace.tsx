// The slot board with its palette: drag a new device onto a slot, a device
// onto another slot (move) or onto Remove (unplug). Every drag has a
// keyboard path: Space picks up, arrows jump between targets, Space drops;
// and each action also has a button (Place at…, Unplug, Move to…).
import { memo, useCallback, useMemo, useState } from "react";
import {
  closestCenter,
  DndContext,
  DragOverlay,
  KeyboardSensor,
  PointerSensor,
  pointerWithin,
  useDraggable,
  useDroppable,
  useSensor,
  useSensors,
  type Announcements,
  type CollisionDetection,
  type DragEndEvent,
  type DragOverEvent,
  type DragStartEvent,
} from "@dnd-kit/core";
import type { DeviceView, InstanceView } from "../../../shared/inventory/view";
import type { ChangeRequestInput } from "../../../shared/hotplug/change-request";
import { HOTPLUGGABLE_NIC_TYPES } from "../../../shared/hotplug/intent";
import { displayPciAddr } from "../../../shared/slots/index";
import {
  deviceLabel,
  deviceRef,
  DEFAULT_DISK_MIB,
  createsGanetiDisk,
  draftReasons,
  hasScsiBus,
  itemLabel,
  judgeAnywhere,
  judgeDrop,
  pciSlotName,
  scsiTargetName,
  type DiskDraft,
  type DragItem,
  type DropTarget,
  type NicDraft,
  type Reason,
  type Verdict,
} from "../lib/acceptance";
import { slotKeyboardCoordinates } from "../lib/keyboard-nav";
import { deviceAtPci, deviceAtScsi, deviceDragId, Legend, PciSlotCell, ScsiTargetCell, type TargetKey } from "./SlotBoard";
import { threeWayAt, threeWayOfDevice } from "../lib/three-way";
import type { ThreeWayDevice } from "../../../shared/inventory/three-way";
import { ThreeWayBlock, ThreeWayTable } from "./ThreeWay";
import { Dialog } from "./Dialog";
import { ReviewDialog } from "./ReviewDialog";

export function targetOf(key: string): DropTarget | null {
  if (key === "remove") return { type: "remove" };
  const m = /^(pci|scsi):(\d+)$/.exec(key);
  if (!m) return null;
  return m[1] === "pci" ? { type: "pci", slot: Number(m[2]) } : { type: "scsi", scsiId: Number(m[2]) };
}

export function targetName(view: InstanceView, t: DropTarget): string {
  if (t.type === "remove") return "Remove (unplug)";
  return t.type === "pci" ? pciSlotName(view, t.slot) : scsiTargetName(view, t.scsiId);
}

/** The device at a slot or target as the three sources see it; only for an instance of a Ganeti cluster (elsewhere the configuration is not there to compare). */
function threeWayAtTarget(view: InstanceView, t: { type: "pci"; slot: number } | { type: "scsi"; scsiId: number }): ThreeWayDevice | undefined {
  if (!view.ganeti) return undefined;
  const d = t.type === "pci" ? deviceAtPci(view, t.slot) : deviceAtScsi(view, t.scsiId);
  return (d ? threeWayOfDevice(view, d) : undefined) ?? threeWayAt(view, t.type === "pci" ? { slot: t.slot } : { scsiId: t.scsiId });
}

function titleFor(item: DragItem, target: DropTarget | null): string {
  const where = !target ? "at the first free slot" : target.type === "pci" ? `at slot ${displayPciAddr(target.slot)}` : target.type === "scsi" ? `at SCSI target ${target.scsiId}` : "";
  switch (item.type) {
    case "new-nic":
      return `Add a NIC ${where}`;
    case "new-disk":
      return `Add a ${item.draft.bus === "scsi" ? "SCSI" : "PCI"} disk ${where}`;
    case "device":
      return target?.type === "remove" ? `Unplug ${deviceLabel(item.device)}` : `Move ${deviceLabel(item.device)} ${where}`;
  }
}

// Pointer drags hit the slot under the pointer; keyboard drags (no pointer) the nearest centre.
const collision: CollisionDetection = (args) => (args.pointerCoordinates ? pointerWithin(args) : closestCenter(args));

interface Review {
  intent: ChangeRequestInput;
  title: string;
}

export function Workspace(props: { view: InstanceView; nodeId: string; onChanged: () => void }) {
  const { view } = props;
  const firstLink = view.devices.find((d) => d.kind === "nic" && d.link)?.link ?? "";
  const [nic, setNic] = useState<NicDraft>({ mac: "", link: firstLink, model: "" });
  const [disk, setDisk] = useState<DiskDraft>({ path: "", bus: "pci", sizeMiB: String(DEFAULT_DISK_MIB) });
  const [active, setActive] = useState<DragItem | null>(null);
  const [activeId, setActiveId] = useState<string | null>(null);
  const [overKey, setOverKey] = useState<string | null>(null);
  const [selected, setSelected] = useState<TargetKey | null>(null);
  const [picker, setPicker] = useState<DragItem | null>(null);
  const [review, setReview] = useState<Review | null>(null);
  const [refusal, setRefusal] = useState<{ title: string; reasons: Reason[] } | null>(null);

  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 4 } }),
    useSensor(KeyboardSensor, {
      coordinateGetter: slotKeyboardCoordinates,
      keyboardCodes: { start: ["Space"], cancel: ["Escape"], end: ["Space", "Enter"] },
    }),
  );

  // A SCSI disk can go to an instance without a controller: the plan adds one.
  const scsi = hasScsiBus(view) || disk.bus === "scsi";
  // Verdicts for every target, computed once per drag (cells are memoized on them).
  const verdicts = useMemo(() => {
    const m = new Map<string, Verdict>();
    if (!active) return m;
    for (const e of view.pci) m.set(`pci:${e.slot}`, judgeDrop(view, active, { type: "pci", slot: e.slot }));
    if (scsi) for (const t of view.scsi) m.set(`scsi:${t.scsiId}`, judgeDrop(view, active, { type: "scsi", scsiId: t.scsiId }));
    m.set("remove", judgeDrop(view, active, { type: "remove" }));
    return m;
  }, [active, view, scsi]);

  const openFor = useCallback(
    (item: DragItem, target: DropTarget | null) => {
      setRefusal(null);
      if (!target) {
        const v = judgeAnywhere(view, item);
        if (v.ok) setReview({ intent: v.intent, title: titleFor(item, null) });
        else setRefusal({ title: `Cannot ${titleFor(item, null).toLowerCase()}`, reasons: v.reasons });
        return;
      }
      const v = judgeDrop(view, item, target);
      if (v.ok) setReview({ intent: v.intent, title: titleFor(item, target) });
      else setRefusal({ title: `${targetName(view, target).split(",")[0]} does not take the ${itemLabel(item)}`, reasons: v.reasons });
    },
    [view],
  );

  const onDragStart = (e: DragStartEvent) => {
    const item = (e.active.data.current as { item?: DragItem } | undefined)?.item ?? null;
    setActive(item);
    setActiveId(String(e.active.id));
    setRefusal(null);
  };
  const onDragOver = (e: DragOverEvent) => setOverKey(e.over ? String(e.over.id) : null);
  const endDrag = () => {
    setActive(null);
    setActiveId(null);
    setOverKey(null);
  };
  const onDragEnd = (e: DragEndEvent) => {
    const item = active;
    endDrag();
    if (!item || !e.over) return;
    const t = targetOf(String(e.over.id));
    if (t) openFor(item, t);
  };

  const announcements: Announcements = useMemo(
    () => ({
      onDragStart: ({ active: a }) => {
        const item = (a.data.current as { item?: DragItem } | undefined)?.item;
        return `Picked up ${item ? itemLabel(item) : "item"}. Arrow keys move between slots, Space drops, Escape cancels.`;
      },
      onDragOver: ({ active: a, over }) => {
        const item = (a.data.current as { item?: DragItem } | undefined)?.item;
        const t = over ? targetOf(String(over.id)) : null;
        if (!item || !t) return "Not over a slot.";
        const v = judgeDrop(view, item, t);
        return `${targetName(view, t)}. ${v.ok ? "Accepts it." : `Refuses it: ${v.reasons[0]?.message ?? ""}`}`;
      },
      onDragEnd: ({ over }) => (over ? `Dropped on ${String(over.id)}.` : "Dropped outside any slot; nothing changes."),
      onDragCancel: () => "Drag cancelled; nothing changes.",
    }),
    [view],
  );

  const onSelect = useCallback((k: TargetKey) => setSelected((old) => (old === k ? old : k)), []);
  const nicItem: DragItem = useMemo(() => ({ type: "new-nic", draft: nic }), [nic]);
  const inGaneti = view.ganeti?.config === "known";
  const diskItem: DragItem = useMemo(() => ({ type: "new-disk", draft: { ...disk, ganeti: inGaneti } }), [disk, inGaneti]);
  const isSourceOf = (d: DeviceView | undefined) => d !== undefined && activeId === deviceDragId(d);
  // Stable, so the memoized Details skips the re-render of every drag-over change.
  const onRepair = useCallback((intent: ChangeRequestInput, title: string) => {
    setRefusal(null);
    setReview({ intent, title });
  }, []);
  const onDetailsAction = useCallback((item: DragItem, target: DropTarget | "pick") => (target === "pick" ? setPicker(item) : openFor(item, target)), [openFor]);
  const overTarget = overKey ? targetOf(overKey) : null;
  const overVerdict = overKey ? verdicts.get(overKey) : undefined;
  const accepting = [...verdicts.entries()].filter(([k, v]) => k !== "remove" && v.ok).length;

  return (
    <DndContext
      sensors={sensors}
      collisionDetection={collision}
      onDragStart={onDragStart}
      onDragOver={onDragOver}
      onDragEnd={onDragEnd}
      onDragCancel={endDrag}
      accessibility={{
        announcements,
        screenReaderInstructions: {
          draggable: "To pick up a device, press Space. Use the arrow keys to move between slots and the Remove zone, Space to drop, Escape to cancel.",
        },
      }}
    >
      <div className="workspace">
        <section className="board" aria-label={`Slots of ${view.name}`}>
          <div className={active ? "drag-status active" : "drag-status"} role="status" aria-live="polite" data-testid="drag-status">
            {active ? (
              <>
                Placing <strong>{itemLabel(active)}</strong>: {accepting} target{accepting === 1 ? "" : "s"} take it.{" "}
                {overTarget && overVerdict ? (
                  overVerdict.ok ? (
                    <span className="ok-text">✓ {targetName(view, overTarget).split(",")[0]} accepts it.</span>
                  ) : (
                    <span className="bad-text" data-testid="over-reason">
                      ⊘ {overVerdict.reasons.map((r) => r.message).join(" ")}
                    </span>
                  )
                ) : (
                  <span className="muted">Move over a slot to see whether it takes it.</span>
                )}
              </>
            ) : refusal ? (
              <span className="bad-text" role="alert" data-testid="refusal">
                <strong>{refusal.title}:</strong> {refusal.reasons.map((r) => r.message).join(" ")}
              </span>
            ) : (
              <span className="muted">
                Drag a device from the palette onto a free slot, a device onto another slot to move it, or onto Remove to unplug it. Keyboard: focus it,
                Space, arrows, Space.
              </span>
            )}
          </div>
          <h3 className="bus-title" title={view.reservationNote}>
            pci.0 <span className="muted">· 32 slots · {view.reservationNote}</span>
          </h3>
          <div className="pci-grid" role="group" aria-label="PCI slots on pci.0">
            {view.pci.map((e) => {
              const k = `pci:${e.slot}` as TargetKey;
              return (
                <PciSlotCell
                  key={e.slot}
                  view={view}
                  entry={e}
                  device={deviceAtPci(view, e.slot)}
                  verdict={verdicts.get(k) ?? null}
                  dragging={active !== null}
                  isOver={overKey === k}
                  selected={selected === k}
                  onSelect={onSelect}
                  isSource={isSourceOf(deviceAtPci(view, e.slot))}
                  threeWay={threeWayAtTarget(view, { type: "pci", slot: e.slot })}
                />
              );
            })}
          </div>
          {scsi ? (
            <>
              <h3 className="bus-title">
                scsi.0 <span className="muted">· targets 0–15, channel 0, lun 0{view.scsiController === false ? " · no SCSI controller yet: placing a SCSI disk adds one (scsi_controller_type) and records it" : ""}</span>
              </h3>
              <div className="scsi-grid" role="group" aria-label="SCSI targets on scsi.0">
                {view.scsi.map((t) => {
                  const k = `scsi:${t.scsiId}` as TargetKey;
                  return (
                    <ScsiTargetCell
                      key={t.scsiId}
                      view={view}
                      entry={t}
                      device={deviceAtScsi(view, t.scsiId)}
                      verdict={verdicts.get(k) ?? null}
                      dragging={active !== null}
                      isOver={overKey === k}
                      selected={selected === k}
                      onSelect={onSelect}
                      isSource={isSourceOf(deviceAtScsi(view, t.scsiId))}
                      threeWay={threeWayAtTarget(view, { type: "scsi", scsiId: t.scsiId })}
                    />
                  );
                })}
              </div>
            </>
          ) : null}
          <Legend threeWay={view.ganeti !== undefined} />
          {view.ganeti ? (
            <ThreeWayTable
              devices={view.threeWay}
              cluster={view.ganeti.cluster}
              onRepair={onRepair}
              onPick={(t) => setSelected(t.slot !== undefined ? `pci:${t.slot}` : `scsi:${t.scsiId ?? 0}`)}
            />
          ) : null}
        </section>
        <aside className="side" aria-label="Devices and details">
          <Palette nic={nic} setNic={setNic} disk={disk} setDisk={setDisk} nicItem={nicItem} diskItem={diskItem} onPlace={setPicker} scsi={hasScsiBus(view)} />
          <RemoveZone dragging={active} verdict={verdicts.get("remove") ?? null} isOver={overKey === "remove"} />
          <Details
            view={view}
            selected={selected}
            onAction={onDetailsAction}
            onRepair={onRepair}
            nicItem={nicItem}
            diskItem={diskItem}
          />
        </aside>
      </div>
      <DragOverlay dropAnimation={null}>{active ? <div className="drag-ghost">{itemLabel(active)}</div> : null}</DragOverlay>
      {picker ? (
        <SlotPicker
          view={view}
          item={picker}
          onCancel={() => setPicker(null)}
          onPick={(t) => {
            setPicker(null);
            openFor(picker, t);
          }}
        />
      ) : null}
      {review ? (
        <ReviewDialog
          nodeId={props.nodeId}
          instance={view.name}
          intent={review.intent}
          title={review.title}
          onClose={(changed) => {
            setReview(null);
            if (changed) props.onChanged();
          }}
        />
      ) : null}
    </DndContext>
  );
}

function DragHandle(props: { id: string; item: DragItem; label: string; sub: string }) {
  const d = useDraggable({ id: props.id, data: { item: props.item } });
  return (
    // Named by its visible text; dnd-kit's instructions (Space picks up) are its description.
    <div ref={d.setNodeRef} className={d.isDragging ? "palette-handle source" : "palette-handle"} {...d.attributes} {...d.listeners} aria-roledescription="new device (draggable)">
      <span className="grip" aria-hidden="true">
        ⠿
      </span>
      <span>
        <strong>{props.label}</strong>
        <span className="muted small"> {props.sub}</span>
      </span>
    </div>
  );
}

// Memoized: the palette and the details panel do not change while a drag moves.
const Palette = memo(function Palette(props: {
  nic: NicDraft;
  setNic: (f: (n: NicDraft) => NicDraft) => void;
  disk: DiskDraft;
  setDisk: (f: (d: DiskDraft) => DiskDraft) => void;
  nicItem: DragItem;
  diskItem: DragItem;
  onPlace: (item: DragItem) => void;
  scsi: boolean;
}) {
  const { nic, disk } = props;
  const nicProblems = draftReasons(props.nicItem);
  const diskProblems = draftReasons(props.diskItem);
  return (
    <section className="palette" aria-label="New devices">
      <h3>New devices</h3>
      <div className="palette-item" data-testid="palette-nic">
        <DragHandle id="palette:nic" item={props.nicItem} label="NIC" sub={nic.model || "instance default model"} />
        <div className="mini-form">
          <label>
            MAC{" "}
            <input aria-label="MAC address (empty: generated)" className="mono" placeholder="generated" value={nic.mac} onChange={(e) => props.setNic((n) => ({ ...n, mac: e.target.value }))} spellCheck={false} />
          </label>
          <label>
            Link{" "}
            <input aria-label="Link (bridge)" className="mono" placeholder="instance default" value={nic.link} onChange={(e) => props.setNic((n) => ({ ...n, link: e.target.value }))} spellCheck={false} />
          </label>
          <label>
            Model{" "}
            <select aria-label="NIC model" value={nic.model} onChange={(e) => props.setNic((n) => ({ ...n, model: e.target.value }))}>
              <option value="">instance default</option>
              {HOTPLUGGABLE_NIC_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          {nicProblems.length > 0 ? <div className="field-error">{nicProblems[0]?.message}</div> : null}
          <button type="button" onClick={() => props.onPlace(props.nicItem)}>
            Place NIC at…
          </button>
        </div>
      </div>
      <div className="palette-item" data-testid="palette-disk">
        <DragHandle id="palette:disk" item={props.diskItem} label="Disk" sub={disk.bus === "scsi" ? "scsi-hd on scsi.0" : "virtio-blk on pci.0"} />
        <div className="mini-form">
          {props.diskItem.type === "new-disk" && props.diskItem.draft.ganeti ? (
            <label>
              Size (MiB){" "}
              <input
                aria-label="Disk size in MiB (Ganeti creates and records the disk)"
                className="mono"
                inputMode="numeric"
                value={disk.sizeMiB ?? ""}
                onChange={(e) => props.setDisk((d) => ({ ...d, sizeMiB: e.target.value }))}
                title="Without a path, Ganeti creates a disk of this size and records it in its configuration first"
              />
            </label>
          ) : null}
          <label>
            {props.diskItem.type === "new-disk" && props.diskItem.draft.ganeti ? "Or a path of your own (runtime only)" : "Path on the node"}{" "}
            <input aria-label="Disk path on the node" className="mono" placeholder="/dev/vg0/data" value={disk.path} onChange={(e) => props.setDisk((d) => ({ ...d, path: e.target.value }))} spellCheck={false} />
          </label>
          <label>
            Bus{" "}
            <select aria-label="Disk bus" value={disk.bus} onChange={(e) => props.setDisk((d) => ({ ...d, bus: e.target.value as "pci" | "scsi" }))}>
              <option value="pci">PCI (virtio-blk)</option>
              <option value="scsi">SCSI (scsi-hd){props.scsi ? "" : " — adds a SCSI controller"}</option>
            </select>
          </label>
          {(disk.path || (props.diskItem.type === "new-disk" && createsGanetiDisk(props.diskItem.draft))) && diskProblems.length > 0 ? <div className="field-error">{diskProblems[0]?.message}</div> : null}
          <button type="button" onClick={() => props.onPlace(props.diskItem)}>
            Place disk at…
          </button>
        </div>
      </div>
    </section>
  );
});

function RemoveZone(props: { dragging: DragItem | null; verdict: Verdict | null; isOver: boolean }) {
  const d = useDroppable({ id: "remove", data: { target: { type: "remove" } } });
  const cls = ["remove-zone"];
  if (props.dragging && props.verdict) cls.push(props.verdict.ok ? "accepts" : "refuses");
  if (props.isOver) cls.push("over");
  return (
    <div ref={d.setNodeRef} className={cls.join(" ")} data-testid="remove-zone">
      <span aria-hidden="true">⏏</span> <strong>Remove</strong>
      <div className="small">
        {props.dragging && props.verdict && !props.verdict.ok
          ? `⊘ ${props.verdict.reasons[0]?.message ?? ""}`
          : props.dragging?.type === "device"
            ? "Drop here to unplug it."
            : "Drop a device here to unplug it."}
      </div>
    </div>
  );
}

const Details = memo(function Details(props: {
  view: InstanceView;
  selected: TargetKey | null;
  onAction: (item: DragItem, target: DropTarget | "pick") => void;
  onRepair: (intent: ChangeRequestInput, title: string) => void;
  nicItem: DragItem;
  diskItem: DragItem;
}) {
  const { view, selected } = props;
  if (!selected) {
    return (
      <section className="details" aria-label="Slot details">
        <h3>Details</h3>
        <p className="muted small">Select a slot (click, or Tab to it and press Enter) to see what holds it, why, and what you can do.</p>
      </section>
    );
  }
  const t = targetOf(selected);
  if (!t || t.type === "remove") return null;
  const entry = t.type === "pci" ? view.pci[t.slot] : view.scsi.find((x) => x.scsiId === t.scsiId);
  const device = t.type === "pci" ? deviceAtPci(view, t.slot) : deviceAtScsi(view, t.scsiId);
  const threeWay = threeWayAtTarget(view, t);
  if (!entry) return null;
  const free = entry.state === "free";
  return (
    <section className="details" aria-label="Slot details" data-testid="details">
      <h3>{t.type === "pci" ? `Slot ${displayPciAddr(t.slot)}` : `SCSI target ${t.scsiId}`}</h3>
      {device ? <DeviceDetails d={device} /> : null}
      {threeWay ? <ThreeWayBlock t={threeWay} onRepair={props.onRepair} /> : null}
      {"liveDevices" in entry && entry.liveDevices.length > 0 && !device ? (
        <dl className="kv">
          {entry.liveDevices.map((l) => (
            <div key={`${l.slot}.${l.function}`} className="kv-row">
              <dt>fn {l.function}</dt>
              <dd>
                {l.label}
                {l.qdevId ? ` · id ${l.qdevId}` : " · QEMU's own"}
              </dd>
            </div>
          ))}
        </dl>
      ) : null}
      {entry.reasons.length > 0 ? (
        <ul className="reasons">
          {entry.reasons.map((r, i) => (
            <li key={i} data-code={r.code}>
              {r.message}
            </li>
          ))}
        </ul>
      ) : (
        <p className="small">Free: nothing on the live bus or in the runtime file uses it.</p>
      )}
      {entry.driftNote ? (
        <div className="banner warn small">
          <strong>⚠ Drift ({entry.drift}).</strong> {entry.driftNote}
        </div>
      ) : null}
      <div className="detail-actions">
        {free && t.type === "pci" ? (
          <>
            <button type="button" onClick={() => props.onAction(props.nicItem, t)}>
              Add NIC here
            </button>
            <button type="button" onClick={() => props.onAction(props.diskItem, t)}>
              {props.diskItem.type === "new-disk" && createsGanetiDisk(props.diskItem.draft) ? `Add disk here (${props.diskItem.draft.sizeMiB?.trim() || DEFAULT_DISK_MIB} MiB, Ganeti creates it)` : "Add disk here"}
            </button>
          </>
        ) : null}
        {free && t.type === "scsi" ? (
          <button type="button" onClick={() => props.onAction({ type: "new-disk", draft: { ...(props.diskItem as { draft: DiskDraft }).draft, bus: "scsi" } }, t)}>
            Add SCSI disk here
          </button>
        ) : null}
        {device ? (
          <>
            <button type="button" className="danger" disabled={deviceRef(device) === undefined} onClick={() => props.onAction({ type: "device", device }, { type: "remove" })} title={device.removeBlocker}>
              Unplug…
            </button>
            {device.kind === "nic" && device.bus === "pci" ? (
              <button type="button" onClick={() => props.onAction({ type: "device", device }, "pick")}>
                Move to…
              </button>
            ) : null}
          </>
        ) : null}
      </div>
    </section>
  );
});

function DeviceDetails({ d }: { d: DeviceView }) {
  const rows: [string, string | undefined][] = [
    ["Kind", d.kind === "nic" ? "NIC" : "disk"],
    ["Driver", d.driver],
    ["Id", d.id],
    ["UUID", d.uuid],
    ["MAC", d.mac],
    ["Link", d.link ? `${d.link}${d.mode ? ` (${d.mode})` : ""}` : undefined],
    ["Path", d.path],
    ["Size", d.sizeMiB !== undefined ? `${d.sizeMiB} MiB` : undefined],
    ["Guest address", d.guestAddress],
    ["Live", d.live === null ? "unknown (live bus not read)" : d.live ? "yes, on the live bus" : "no — only in the runtime file"],
    ["Unplug", d.removeBlocker ? `not possible: ${d.removeBlocker}` : undefined],
  ];
  return (
    <dl className="kv">
      {rows
        .filter((r): r is [string, string] => r[1] !== undefined)
        .map(([k, v]) => (
          <div key={k} className="kv-row">
            <dt>{k}</dt>
            <dd className={k === "Id" || k === "UUID" || k === "MAC" || k === "Path" || k === "Guest address" ? "mono" : undefined}>{v}</dd>
          </div>
        ))}
    </dl>
  );
}

/** The keyboard/pointer alternative to dragging: choose a target from a list. */
function SlotPicker(props: { view: InstanceView; item: DragItem; onPick: (t: DropTarget | null) => void; onCancel: () => void }) {
  const { view, item } = props;
  const scsi = hasScsiBus(view) || (item.type === "new-disk" && item.draft.bus === "scsi");
  const targets: DropTarget[] = [
    ...view.pci.map((e): DropTarget => ({ type: "pci", slot: e.slot })),
    ...(scsi ? view.scsi.map((t): DropTarget => ({ type: "scsi", scsiId: t.scsiId })) : []),
  ];
  const rows = targets.map((t) => ({ t, v: judgeDrop(view, item, t) }));
  const [showAll, setShowAll] = useState(false);
  const visible = showAll ? rows : rows.filter((r) => r.v.ok);
  const isNew = item.type !== "device";
  return (
    <Dialog title={`Place the ${itemLabel(item)} at…`} onClose={props.onCancel} testId="slot-picker">
      {isNew ? (
        <button type="button" className="pick-row first" onClick={() => props.onPick(null)}>
          <strong>First free slot</strong> <span className="muted">— Ganeti's own choice (lowest free slot)</span>
        </button>
      ) : null}
      <label className="radio">
        <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} /> Also show slots that do not take it, with the reason
      </label>
      <ul className="pick-list" aria-label="Slots">
        {visible.map(({ t, v }) => {
          const name = targetName(view, t);
          return (
            <li key={t.type === "pci" ? `p${t.slot}` : t.type === "scsi" ? `s${t.scsiId}` : "r"}>
              <button type="button" className="pick-row" aria-disabled={!v.ok} onClick={() => (v.ok ? props.onPick(t) : undefined)}>
                <span className="pick-name">{name.split(",")[0]}</span>
                <span className={v.ok ? "ok-text" : "bad-text"}>
                  <span aria-hidden="true">{v.ok ? "✓" : "⊘"}</span> {v.ok ? "takes it" : (v.reasons[0]?.message ?? "")}
                </span>
              </button>
            </li>
          );
        })}
        {visible.length === 0 ? <li className="muted">No slot takes it: tick the box above to see why.</li> : null}
      </ul>
    </Dialog>
  );
}
