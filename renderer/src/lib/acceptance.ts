// Whether a dragged device may go onto a slot, and why not. The slot rules
// themselves come from shared/slots (the reasons on each slot entry of the
// InstanceView, and wrongBusReason for a device on the other bus), so the
// board says exactly what the planner would; this file only adds the
// UI-level cases (moving, unplugging, an instance that is not running).
import { displayPciAddr, wrongBusReason, type PlacedDevice } from "../../../shared/slots/index";
import type { DeviceView, InstanceView } from "../../../shared/inventory/view";
import type { ChangeRequestInput } from "../../../shared/hotplug/change-request";
import { LinkSchema, MacSchema, NodePathSchema } from "../../../shared/hotplug/intent";

export interface Reason {
  code: string;
  message: string;
}

export interface NicDraft {
  /** Empty: the app generates one when planning. */
  mac: string;
  link: string;
  model: string;
}

export interface DiskDraft {
  /** A disk of one's own on the node: runtime only. */
  path: string;
  bus: "pci" | "scsi";
  /** Without a path, where the instance is in Ganeti's configuration: the size of the disk Ganeti creates and records first (MiB, as typed). */
  sizeMiB?: string;
  /** Whether Ganeti's configuration has the instance (then a disk may be of a size instead of a path). */
  ganeti?: boolean;
}

/** The size of a new disk Ganeti creates, unless the user types another. */
export const DEFAULT_DISK_MIB = 1024;

/** A draft that asks Ganeti to create the disk: no path, in a cluster. */
export function createsGanetiDisk(d: DiskDraft): boolean {
  return !d.path.trim() && d.ganeti === true;
}

/** What is being dragged (or picked with the keyboard). */
export type DragItem =
  | { type: "new-nic"; draft: NicDraft }
  | { type: "new-disk"; draft: DiskDraft }
  | { type: "device"; device: DeviceView };

export type DropTarget = { type: "pci"; slot: number } | { type: "scsi"; scsiId: number } | { type: "remove" };

export type Verdict = { ok: true; intent: ChangeRequestInput } | { ok: false; reasons: Reason[] };

/** The id QEMU knows a device by, else its uuid: what remove/move-nic take as ref. */
export function deviceRef(d: DeviceView): string | undefined {
  return d.id ?? d.uuid;
}

export function deviceLabel(d: DeviceView): string {
  const name = d.id ?? d.uuid ?? `${d.kind} #${d.index}`;
  return d.driver ? `${name} (${d.driver})` : name;
}

/** The bus a dragged item belongs on, in shared/slots terms. */
export function placedDevice(item: DragItem): PlacedDevice | null {
  switch (item.type) {
    case "new-nic":
      return { bus: "pci", label: `The new NIC (${item.draft.model || "default model"})` };
    case "new-disk":
      return { bus: item.draft.bus, label: item.draft.bus === "scsi" ? "The new disk (scsi-hd)" : "The new disk (virtio-blk-pci)" };
    case "device":
      return item.device.bus === "none" ? null : { bus: item.device.bus, label: deviceLabel(item.device) };
  }
}

export function itemLabel(item: DragItem): string {
  switch (item.type) {
    case "new-nic":
      return "new NIC";
    case "new-disk":
      return item.draft.bus === "scsi" ? "new SCSI disk" : "new PCI disk";
    case "device":
      return deviceLabel(item.device);
  }
}

// A drag judges one item against every target: check its draft once.
const draftChecked = new WeakMap<DragItem, Reason[]>();

/** Problems with what was typed into the palette, as reasons (schema messages from shared/hotplug). */
export function draftReasons(item: DragItem): Reason[] {
  let reasons = draftChecked.get(item);
  if (!reasons) {
    reasons = checkDraft(item);
    draftChecked.set(item, reasons);
  }
  // A copy: callers add their own reasons to it.
  return [...reasons];
}

function checkDraft(item: DragItem): Reason[] {
  const out: Reason[] = [];
  const check = (field: string, schema: { safeParse(v: unknown): { success: boolean; error?: { issues: { message: string }[] } } }, value: string) => {
    const r = schema.safeParse(value);
    if (!r.success) out.push({ code: "invalid-draft", message: `${field}: ${r.error?.issues[0]?.message ?? "invalid"}` });
  };
  if (item.type === "new-nic") {
    if (item.draft.mac.trim()) check("MAC", MacSchema, item.draft.mac.trim());
    if (item.draft.link.trim()) check("Link", LinkSchema, item.draft.link.trim());
  } else if (item.type === "new-disk") {
    const d = item.draft;
    if (createsGanetiDisk(d)) {
      const size = (d.sizeMiB ?? String(DEFAULT_DISK_MIB)).trim();
      if (!/^\d+$/.test(size) || Number(size) < 1) out.push({ code: "invalid-draft", message: "Disk size: a whole number of MiB, at least 1 (Ganeti creates a disk of that size), or type a path of your own." });
    } else if (!d.path.trim()) out.push({ code: "invalid-draft", message: "Disk path: type the path of the disk on the node first (e.g. /dev/vg0/data)." });
    else check("Disk path", NodePathSchema, d.path.trim());
  }
  return out;
}

const HOTPLUG_STATES = new Set(["running", "paused"]);

function instanceReason(view: InstanceView): Reason | null {
  if (HOTPLUG_STATES.has(view.state)) return null;
  const why = view.stateDetail ? ` ${view.stateDetail}` : "";
  return { code: "instance-state", message: `${view.name} is ${view.state}:${why} devices can only be hot-plugged while it runs.` };
}

function targetReasons(view: InstanceView, target: DropTarget): Reason[] {
  if (target.type === "pci") {
    const entry = view.pci[target.slot];
    return entry ? entry.reasons : [{ code: "out-of-range", message: `There is no PCI slot ${target.slot}.` }];
  }
  if (target.type === "scsi") {
    const entry = view.scsi.find((t) => t.scsiId === target.scsiId);
    return entry ? entry.reasons : [{ code: "out-of-range", message: `There is no SCSI target ${target.scsiId}.` }];
  }
  return [];
}

export function judgeDrop(view: InstanceView, item: DragItem, target: DropTarget): Verdict {
  const reasons: Reason[] = [];
  const state = instanceReason(view);

  if (target.type === "remove") {
    if (item.type !== "device") return { ok: false, reasons: [{ code: "not-placed", message: "Only a device already on the bus can be unplugged." }] };
    const ref = deviceRef(item.device);
    if (item.device.removeBlocker) reasons.push({ code: "not-removable", message: item.device.removeBlocker });
    if (ref === undefined) reasons.push({ code: "no-ref", message: `${deviceLabel(item.device)} has neither an id nor a uuid, so it cannot be named for removal.` });
    if (state) reasons.push(state);
    if (reasons.length > 0 || ref === undefined) return { ok: false, reasons };
    return { ok: true, intent: { action: "remove", kind: item.device.kind, ref } };
  }

  reasons.push(...draftReasons(item));
  const placed = placedDevice(item);
  const bus = target.type;
  if (placed && placed.bus !== bus) reasons.push(wrongBusReason(placed, bus));

  if (item.type === "device") {
    const d = item.device;
    if (d.kind !== "nic") {
      reasons.push({ code: "cannot-move", message: `${deviceLabel(d)} is a disk: disks cannot be moved while the instance runs. Unplug it and add it again at the new place.` });
    } else if (target.type === "pci" && d.slot === target.slot) {
      reasons.push({ code: "same-slot", message: `${deviceLabel(d)} is already in slot ${displayPciAddr(target.slot)}.` });
    }
  }
  // A device's own slot lists itself as "taken": that is not news while moving it.
  const own = item.type === "device" && target.type === "pci" && item.device.slot === target.slot;
  if (!own) reasons.push(...targetReasons(view, target));
  if (state) reasons.push(state);
  if (reasons.length > 0) return { ok: false, reasons };

  return intentFor(item, target);
}

function intentFor(item: DragItem, target: Exclude<DropTarget, { type: "remove" }> | null): Verdict {
  switch (item.type) {
    case "new-nic": {
      const d = item.draft;
      return {
        ok: true,
        intent: {
          action: "add-nic",
          ...(target?.type === "pci" ? { slot: target.slot } : {}),
          ...(d.mac.trim() ? { mac: d.mac.trim() } : {}),
          ...(d.link.trim() ? { link: d.link.trim() } : {}),
          ...(d.model ? { model: d.model as never } : {}),
        },
      };
    }
    case "new-disk":
      return {
        ok: true,
        intent: {
          action: "add-disk",
          ...(createsGanetiDisk(item.draft) ? { sizeMiB: Number((item.draft.sizeMiB ?? String(DEFAULT_DISK_MIB)).trim()) } : { path: item.draft.path.trim() }),
          bus: item.draft.bus,
          ...(target?.type === "pci" ? { slot: target.slot } : target?.type === "scsi" ? { scsiId: target.scsiId } : {}),
        },
      };
    case "device": {
      const ref = deviceRef(item.device);
      if (ref === undefined || target?.type !== "pci") return { ok: false, reasons: [{ code: "no-ref", message: `${deviceLabel(item.device)} cannot be named for a move.` }] };
      return { ok: true, intent: { action: "move-nic", ref, slot: target.slot } };
    }
  }
}

/** A new device at "the first free slot": the planner picks Ganeti's slot. */
export function judgeAnywhere(view: InstanceView, item: DragItem): Verdict {
  if (item.type === "device") return { ok: false, reasons: [{ code: "no-target", message: "Choose a slot to move it to." }] };
  const reasons = draftReasons(item);
  const state = instanceReason(view);
  if (state) reasons.push(state);
  return reasons.length > 0 ? { ok: false, reasons } : intentFor(item, null);
}

/** "Slot 0x10, free" / "Slot 0x03, reserved: …": the accessible name of a PCI slot. */
export function pciSlotName(view: InstanceView, slot: number): string {
  const e = view.pci[slot];
  const addr = displayPciAddr(slot);
  if (!e) return `Slot ${addr}`;
  const drift = e.drift ? `; drift: ${e.driftNote ?? e.drift}` : "";
  if (e.state === "free") return `Slot ${addr}, free${drift}`;
  const dev = view.devices.find((d) => d.bus === "pci" && d.slot === slot);
  if (e.state === "reserved") {
    // The reason repeats "Slot 0x03 is reserved"; the name already says it.
    const why = (e.reasons[0]?.message ?? "kept for QEMU").replace(/^Slot 0x[0-9a-f]+ is reserved: /i, "");
    return `Slot ${addr}, reserved: ${why}${drift}`;
  }
  if (e.state === "pending") return `Slot ${addr}, held by a queued change${drift}`;
  const what = dev ? deviceLabel(dev) : (e.liveDevices[0]?.label ?? e.fileDevices[0]?.deviceId ?? "a device");
  const reserved = e.reserved ? ", reserved" : "";
  return `Slot ${addr}, in use by ${what}${reserved}${drift}`;
}

export function scsiTargetName(view: InstanceView, scsiId: number): string {
  const t = view.scsi.find((x) => x.scsiId === scsiId);
  if (!t) return `SCSI target ${scsiId}`;
  const drift = t.drift ? `; drift: ${t.driftNote ?? t.drift}` : "";
  if (t.state === "free") return `SCSI target ${scsiId}, free${drift}`;
  const dev = view.devices.find((d) => d.bus === "scsi" && d.scsiId === scsiId);
  const what = dev ? deviceLabel(dev) : (t.liveDevice?.qdevId ?? t.fileDevice?.deviceId ?? "a disk");
  return `SCSI target ${scsiId}, in use by ${what}${drift}`;
}

/** Whether the instance has a SCSI bus worth drawing. */
export function hasScsiBus(view: InstanceView): boolean {
  return view.scsiController === true || view.scsi.some((t) => t.state !== "free") || view.devices.some((d) => d.bus === "scsi");
}
