// SCSI targets on scsi.0. Ganeti addresses every SCSI disk as channel 0,
// lun 0 and a scsi-id from 0 to 15 (_DEFAULT_SCSI_RESERVATIONS = 16 zeros:
// nothing reserved), taking the first free id from the runtime file.

import { type PlacedDevice, type Drift, type SlotReason, wrongBusReason } from "./reasons";

/** Targets Ganeti manages on scsi.0. */
export const SCSI_TARGET_COUNT = 16;

export interface FileScsiTarget {
  scsiId: number;
  deviceId: string;
}

export interface LiveScsiTarget {
  scsiId: number;
  /** The qdev id of the scsi-hd / scsi-block / ... device. */
  qdevId: string;
  /** QEMU driver, when known ("scsi-hd"). */
  driver?: string;
}

export interface ScsiBusInput {
  fileTargets: readonly FileScsiTarget[];
  /** Live targets; null or absent when the live bus is unknown. */
  liveTargets?: readonly LiveScsiTarget[] | null;
  /** Targets already chosen by another queued plan. */
  pending?: readonly number[];
}

export type ScsiTargetState = "free" | "pending" | "taken-live" | "taken-file" | "taken-both";

export interface ScsiTargetEntry {
  scsiId: number;
  state: ScsiTargetState;
  /** Empty exactly when state is "free". */
  reasons: SlotReason[];
  liveDevice?: LiveScsiTarget;
  fileDevice?: FileScsiTarget;
  drift?: Drift;
  driftNote?: string;
}

/** Narrow (8-bit) SCSI HBAs: ids 0-7, and the controller itself takes 7. */
const NARROW_SCSI_CONTROLLERS = ["lsi", "lsi53c895a", "lsi53c810", "dc390", "am53c974"];

/**
 * How many of Ganeti's 16 targets a controller of this type can address.
 * Ganeti offers 16 whatever the type, but QEMU refuses "bad scsi device id"
 * beyond what the controller has (lsi, Ganeti's default, stops at 6).
 */
export function scsiTargetLimit(controllerType: string | undefined): { count: number; note?: string } {
  const t = (controllerType || "lsi").toLowerCase();
  if (NARROW_SCSI_CONTROLLERS.includes(t)) {
    return { count: 7, note: `the ${t} controller (scsi_controller_type) is a narrow SCSI bus: it has targets 0 to 6, and 7 is the controller itself` };
  }
  return { count: SCSI_TARGET_COUNT };
}

function clampMax(max: number): number {
  if (!Number.isFinite(max)) return SCSI_TARGET_COUNT;
  return Math.min(256, Math.max(0, Math.trunc(max)));
}

function liveName(t: LiveScsiTarget): string {
  return t.driver !== undefined ? `${t.driver} '${t.qdevId}'` : `'${t.qdevId}'`;
}

/** One entry per scsi-id 0..max-1. */
export function scsiTargetMap(input: ScsiBusInput, max: number = SCSI_TARGET_COUNT): ScsiTargetEntry[] {
  const n = clampMax(max);
  const liveKnown = input.liveTargets !== undefined && input.liveTargets !== null;
  const pending = new Set(input.pending ?? []);
  const out: ScsiTargetEntry[] = [];
  for (let id = 0; id < n; id++) {
    const live = (input.liveTargets ?? []).filter((t) => t.scsiId === id);
    const files = input.fileTargets.filter((t) => t.scsiId === id);
    const reasons: SlotReason[] = [];
    for (const t of live) {
      reasons.push({
        code: "taken-live",
        message: `SCSI target ${id} is in use on the live bus by ${liveName(t)}: unplug it first or pick a free target.`,
      });
    }
    for (const f of files) {
      reasons.push({
        code: "taken-file",
        message: `SCSI target ${id} is recorded in the runtime file for ${f.deviceId}: Ganeti will not reuse it until that disk is removed. Pick a free target.`,
      });
    }
    if (pending.has(id)) {
      reasons.push({
        code: "pending",
        message: `SCSI target ${id} is held by a queued change: apply or cancel that change first, or pick another target.`,
      });
    }
    let state: ScsiTargetState;
    if (live.length > 0 && files.length > 0) state = "taken-both";
    else if (live.length > 0) state = "taken-live";
    else if (files.length > 0) state = "taken-file";
    else if (pending.has(id)) state = "pending";
    else state = "free";

    const entry: ScsiTargetEntry = { scsiId: id, state, reasons };
    const l = live[0];
    const f = files[0];
    if (l !== undefined) entry.liveDevice = l;
    if (f !== undefined) entry.fileDevice = f;
    if (f !== undefined && l === undefined && liveKnown) {
      entry.drift = "file-only";
      entry.driftNote = `The runtime file records ${f.deviceId} at SCSI target ${id} but the live bus has no disk there: it may have been unplugged without updating the file. Check the instance before reusing the target.`;
    } else if (f !== undefined && l !== undefined && !files.some((x) => live.some((y) => y.qdevId === x.deviceId))) {
      entry.drift = "id-mismatch";
      entry.driftNote = `The runtime file says ${f.deviceId} is at SCSI target ${id} but the live bus has ${liveName(l)} there: one of them is stale. Check which disk the guest sees before changing this target.`;
    } else if (l !== undefined && f === undefined) {
      entry.drift = "live-only";
      entry.driftNote = `The live bus has ${liveName(l)} at SCSI target ${id} but the runtime file does not record it: Ganeti's next SCSI hot-add may pick this target and fail. Unplug the disk or record it in the runtime file.`;
    }
    out.push(entry);
  }
  return out;
}

export type ScsiAllocResult =
  | { ok: true; scsiId: number; channel: 0; lun: 0; liveChecked: boolean }
  | { ok: false; code: "no-free-slot" | "wrong-bus"; message: string };

/** First free scsi-id (Ganeti's order), as a full channel/scsi-id/lun address. */
export function firstFreeScsiId(input: ScsiBusInput, max: number = SCSI_TARGET_COUNT, device?: PlacedDevice): ScsiAllocResult {
  if (device !== undefined && device.bus !== "scsi") {
    return { ok: false, code: "wrong-bus", message: wrongBusReason(device, "scsi").message };
  }
  const free = scsiTargetMap(input, max).find((e) => e.state === "free");
  if (free !== undefined) {
    return { ok: true, scsiId: free.scsiId, channel: 0, lun: 0, liveChecked: input.liveTargets !== undefined && input.liveTargets !== null };
  }
  const n = clampMax(max);
  const anyPending = (input.pending ?? []).some((id) => id >= 0 && id < n);
  const what = n === 0 ? "This SCSI bus has no targets" : `All ${n} SCSI targets (0–${n - 1}) are taken`;
  return {
    ok: false,
    code: "no-free-slot",
    message: anyPending && n > 0
      ? `${what} or held by queued changes: remove a disk or cancel a queued change first.`
      : `${what}: remove a disk first.`,
  };
}

export interface ScsiAddress {
  scsiId: number;
  channel?: number;
  lun?: number;
}

/**
 * Validates a target the user picked. Ok exactly when channel and lun are 0
 * (or absent), the id is an integer 0..max-1 and its map state is "free".
 */
export function checkScsiId(
  input: ScsiBusInput,
  target: number | ScsiAddress,
  max: number = SCSI_TARGET_COUNT,
  device?: PlacedDevice,
): { ok: true } | { ok: false; reasons: SlotReason[] } {
  const addr: ScsiAddress = typeof target === "number" ? { scsiId: target } : target;
  const n = clampMax(max);
  const reasons: SlotReason[] = [];
  if (device !== undefined && device.bus !== "scsi") reasons.push(wrongBusReason(device, "scsi"));
  if ((addr.channel ?? 0) !== 0 || (addr.lun ?? 0) !== 0) {
    reasons.push({
      code: "out-of-range",
      message: `SCSI address channel ${String(addr.channel ?? 0)}, lun ${String(addr.lun ?? 0)} is not one Ganeti uses: it places every disk at channel 0, lun 0. Pick a target id instead.`,
    });
  }
  if (!Number.isInteger(addr.scsiId) || addr.scsiId < 0 || addr.scsiId >= n) {
    reasons.push({
      code: "out-of-range",
      message:
        n === 0
          ? `There is no SCSI target ${String(addr.scsiId)}: this SCSI bus has no targets.`
          : `There is no SCSI target ${String(addr.scsiId)}: scsi.0 has targets 0 to ${n - 1}. Pick one of the free targets.`,
    });
    return { ok: false, reasons };
  }
  const entry = scsiTargetMap(input, n)[addr.scsiId];
  if (entry !== undefined) reasons.push(...entry.reasons);
  return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
}
