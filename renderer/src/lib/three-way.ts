// Devices three ways in the UI: the three marks (Ganeti's configuration,
// the runtime file, the live bus) a device carries, and the fleet filters
// for devices the sources disagree about, with their counts. Pure.
//
// A filter counts only what was actually read: a device of an instance whose
// configuration was not read is never "not in Ganeti's configuration", and a
// stopped instance's devices are never "not live". The per-combination
// counts of a summary (unread sources counted as absent) are used with the
// same care: see `summaryMatches`.
import type { Presence, ThreeWayDevice } from "../../../shared/inventory/three-way";
import { displayPciAddr } from "../../../shared/slots/index";

export type MarkState = "yes" | "no" | "unknown";

export interface Mark {
  source: "config" | "file" | "live";
  /** Short word shown on a slot. */
  short: string;
  /** The source for people ("Ganeti's configuration"). */
  long: string;
  state: MarkState;
  /** A glyph per state, so nothing depends on colour. */
  glyph: string;
  /** "in Ganeti's configuration", "not in the runtime file", "live bus not read". */
  says: string;
}

const SOURCES = [
  { source: "config", short: "cfg", long: "Ganeti's configuration", notRead: "Ganeti's configuration not read" },
  { source: "file", short: "file", long: "the runtime file", notRead: "no runtime file here" },
  { source: "live", short: "live", long: "the live bus", notRead: "live bus not read" },
] as const;

const GLYPH: Record<MarkState, string> = { yes: "✓", no: "✗", unknown: "?" };

function stateOf(v: boolean | null): MarkState {
  return v === null ? "unknown" : v ? "yes" : "no";
}

/** The three marks of a device, in the order configuration, file, live. */
export function marksOf(where: Presence): Mark[] {
  return SOURCES.map((s) => {
    const state = stateOf(where[s.source]);
    const says = state === "unknown" ? s.notRead : `${state === "yes" ? "in" : "not in"} ${s.long}`;
    return { source: s.source, short: s.short, long: s.long, state, glyph: GLYPH[state], says };
  });
}

/** One line for people: "in Ganeti's configuration, in the runtime file, not in the live bus". */
export function marksSentence(where: Presence): string {
  return marksOf(where)
    .map((m) => (m.source === "live" && m.state !== "unknown" ? (m.state === "yes" ? "on the live bus" : "not on the live bus") : m.says))
    .join(", ");
}

// ---------------------------------------------------------------------------
// Fleet filters: the rules live in shared/ (main's fleet counts use them too).

import type { DeviceFilter } from "../../../shared/inventory/device-filters";
export { DEVICE_FILTERS, deviceMatches, liveRead, summaryMatches, type DeviceFilter } from "../../../shared/inventory/device-filters";

export interface FilterCount {
  key: Exclude<DeviceFilter, "any">;
  label: string;
  devices: number;
  instances: number;
}

/** "not in Ganeti's configuration (2 devices on 1 instance)". */
export function filterOptionText(c: FilterCount): string {
  return `${c.label} (${c.devices} device${c.devices === 1 ? "" : "s"} on ${c.instances} instance${c.instances === 1 ? "" : "s"})`;
}

// ---------------------------------------------------------------------------
// The slot board: which three-way entry a slot's device is.

type BoardView = { threeWay: readonly ThreeWayDevice[] };

/** The entry for a device of the runtime file (matched by uuid, else by QEMU id). */
export function threeWayOfDevice(view: BoardView, d: { uuid?: string | undefined; id?: string | undefined }): ThreeWayDevice | undefined {
  return view.threeWay.find((t) => (d.uuid !== undefined && t.uuid === d.uuid) || (d.uuid === undefined && d.id !== undefined && t.id === d.id));
}

/** The entry at a PCI slot or SCSI target (a device only the live bus has included). */
export function threeWayAt(view: BoardView, at: { slot: number } | { scsiId: number }): ThreeWayDevice | undefined {
  return "slot" in at ? view.threeWay.find((t) => t.slot === at.slot && t.scsiId === undefined) : view.threeWay.find((t) => t.scsiId === at.scsiId);
}

/** Entries with no place on either bus (Ganeti's configuration has them, the guest does not). */
export function unplaced(view: BoardView): ThreeWayDevice[] {
  return view.threeWay.filter((t) => t.slot === undefined && t.scsiId === undefined);
}

/** "NIC nic-3f2a…", "disk 2 'data'", for a device named in a list. */
export function threeWayName(t: ThreeWayDevice): string {
  const kind = t.kind === "nic" ? "NIC" : t.kind === "disk" ? "disk" : "device";
  return `${kind} ${t.name ?? t.id ?? t.uuid ?? "?"}`;
}

/** Where it sits, for people: "slot 0x12", "SCSI target 3", "no slot". */
export function threeWayPlace(t: ThreeWayDevice): string {
  if (t.slot !== undefined) return `slot ${displayPciAddr(t.slot)}`;
  if (t.scsiId !== undefined) return `SCSI target ${t.scsiId}`;
  return "no slot";
}
