// Devices three ways in the UI: the three marks (Ganeti's configuration,
// the runtime file, the live bus) a device carries, and the fleet filters
// for devices the sources disagree about, with their counts. Pure.
//
// A filter counts only what was actually read: a device of an instance whose
// configuration was not read is never "not in Ganeti's configuration", and a
// stopped instance's devices are never "not live". The per-combination
// counts of a summary (unread sources counted as absent) are used with the
// same care: see `summaryMatches`.
import type { Combination, Presence, ThreeWayDevice } from "../../../shared/inventory/three-way";
import type { InstanceRunState, InstanceSummary } from "../../../shared/inventory/view";
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
// Fleet filters.

export type DeviceFilter = "any" | "not-in-config" | "config-only" | "live-only" | "file-only" | "not-in-file";

/**
 * Each filter by combination (what an instance summary counts), and what
 * must have been read for the count to mean it.
 */
export const DEVICE_FILTERS: readonly { key: Exclude<DeviceFilter, "any">; label: string; combos: readonly Combination[]; needs: "config" | "live" | null }[] = [
  { key: "not-in-config", label: "not in Ganeti's configuration", combos: ["file-and-live", "file-only", "live-only"], needs: "config" },
  { key: "config-only", label: "in Ganeti's configuration only", combos: ["config-only"], needs: "live" },
  { key: "live-only", label: "live only", combos: ["live-only"], needs: null },
  { key: "file-only", label: "in the runtime file only", combos: ["file-only"], needs: "live" },
  { key: "not-in-file", label: "configured and live, not in the runtime file", combos: ["config-and-live"], needs: null },
];

/** Whether one device (all three sources known per device) matches a filter. */
export function deviceMatches(filter: DeviceFilter, d: Pick<ThreeWayDevice, "where">): boolean {
  const { config: c, file: f, live: l } = d.where;
  switch (filter) {
    case "any":
      return true;
    case "not-in-config":
      return c === false;
    case "config-only":
      return c === true && !f && l === false;
    case "live-only":
      return l === true && !f && c !== true;
    case "file-only":
      return f && l === false && c !== true;
    case "not-in-file":
      return c === true && l === true && !f;
  }
}

/** The live bus is read for these states only (the inventory skips it otherwise). */
export function liveRead(state: InstanceRunState | null): boolean {
  return state === "running" || state === "paused";
}

/** How many of an instance's devices match, from its summary's per-combination counts. */
export function summaryMatches(filter: DeviceFilter, s: Pick<InstanceSummary, "devicesBy" | "configUnknown" | "cluster" | "state">): number {
  if (filter === "any") return Object.values(s.devicesBy).reduce((a, b) => a + b, 0);
  const f = DEVICE_FILTERS.find((x) => x.key === filter)!;
  if (f.needs === "config" && (s.cluster === undefined || s.configUnknown > 0)) return 0;
  if (f.needs === "live" && !liveRead(s.state)) return 0;
  return f.combos.reduce((a, c) => a + s.devicesBy[c], 0);
}

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
