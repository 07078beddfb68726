// Every device as the three sources see it: Ganeti's configuration (what a
// shutdown/startup rebuilds), the runtime file (what a soft reboot and a
// migration rebuild) and the live bus (what the guest has now). Matched by
// uuid, and on the live bus by the QEMU id Ganeti derives from the uuid.
// Each combination comes with its consequence in plain words.
import { z } from "zod";
import { deviceIdV2, parseDeviceId } from "../runtime/device-id";
import type { ClusterInstance } from "../ganeti/cluster";

/** Whether each source has the device; null: that source was not read. */
export const PresenceSchema = z.object({ config: z.boolean().nullable(), file: z.boolean(), live: z.boolean().nullable() });
export type Presence = z.infer<typeof PresenceSchema>;

/** Which sources have it, an unread source counted as not having it (see `where` for which were read). */
export const CombinationSchema = z.enum(["all-three", "file-and-live", "config-and-file", "config-and-live", "config-only", "file-only", "live-only"]);
export type Combination = z.infer<typeof CombinationSchema>;
export const COMBINATIONS = CombinationSchema.options;

export const ThreeWayDeviceSchema = z.object({
  /** null: a device on the live bus whose id is not one Ganeti derives. */
  kind: z.enum(["nic", "disk"]).nullable(),
  uuid: z.string().optional(),
  /** The QEMU id (the runtime file's, the live bus's, or the one Ganeti derives from the uuid). */
  id: z.string().optional(),
  name: z.string().optional(),
  mac: z.string().optional(),
  /** Where it is: the runtime file's slot, else the live bus's. */
  slot: z.number().int().optional(),
  scsiId: z.number().int().optional(),
  where: PresenceSchema,
  combination: CombinationSchema,
  /** Short words for lists ("not in Ganeti's configuration"). */
  label: z.string(),
  /** What follows from it, for people. */
  consequence: z.string(),
  /** Something is off: the sources that were read disagree. */
  drift: z.boolean(),
});
export type ThreeWayDevice = z.infer<typeof ThreeWayDeviceSchema>;

/** Ganeti's configuration of the instance, as far as it is known. */
export type ConfigView =
  | { state: "known"; instance: Pick<ClusterInstance, "nics" | "disks"> }
  /** config.data was read and has no such instance. */
  | { state: "absent" }
  /** config.data was not read; why. */
  | { state: "unknown"; why: string };

export interface FileDevice {
  kind: "nic" | "disk";
  uuid?: string;
  id?: string;
  mac?: string;
  name?: string;
  slot?: number;
  scsiId?: number;
}

export interface LiveDevices {
  pci: readonly { slot: number; function: number; qdevId: string }[];
  scsi: readonly { scsiId: number; qdevId: string }[];
}

export interface ThreeWayInput {
  config: ConfigView;
  /** The runtime file's NICs and disks; null when there is no runtime file (not running here). */
  file: readonly FileDevice[] | null;
  /** null: the live bus was not read. */
  live: LiveDevices | null;
  /** Live devices that are not NICs or disks Ganeti placed: ids pinned in kvm_cmd, QEMU's own (reserved slots). */
  otherLiveIds: ReadonlySet<string>;
  reservedCount: number;
}

export function combinationOf(w: Presence): Combination {
  const c = w.config === true;
  const f = w.file;
  const l = w.live === true;
  if (c && f && l) return "all-three";
  if (f && l) return "file-and-live";
  if (c && f) return "config-and-file";
  if (c && l) return "config-and-live";
  if (c) return "config-only";
  if (f) return "file-only";
  return "live-only";
}

const NOT_READ_CONFIG = "Ganeti's configuration was not read";
const NOT_READ_LIVE = "the live bus was not read";

/** The consequence of a presence, in plain words; `running`: the instance has a runtime file here. */
export function describePresence(w: Presence, running: boolean): { label: string; consequence: string; drift: boolean } {
  const { config: c, file: f, live: l } = w;
  if (!running && !f) {
    return c
      ? { label: "in Ganeti's configuration", consequence: "In Ganeti's configuration; the instance is not running here: Ganeti starts it with this device.", drift: false }
      : { label: "only on the live bus", consequence: "On the live bus of an instance without a runtime file here: nothing records it; any restart drops it.", drift: true };
  }
  if (f && l === true) {
    if (c === true) return { label: "all three", consequence: "In Ganeti's configuration, the runtime file and on the live bus: a soft reboot, a migration and a shutdown/startup all keep it.", drift: false };
    if (c === false) {
      return {
        label: "not in Ganeti's configuration",
        consequence: "Live and in the runtime file, not in Ganeti's configuration: Ganeti drops it at the next shutdown/startup of this instance; a soft reboot or a migration keeps it.",
        drift: true,
      };
    }
    return { label: "file and live (configuration unknown)", consequence: `Live and in the runtime file: a soft reboot or a migration keeps it. ${NOT_READ_CONFIG}, so whether a shutdown/startup keeps it is unknown.`, drift: false };
  }
  if (f && l === false) {
    const tail = c === true ? "a soft reboot or a shutdown/startup brings it back" : c === false ? "a soft reboot brings it back; Ganeti forgets it at the next shutdown/startup" : `a soft reboot brings it back (${NOT_READ_CONFIG})`;
    return {
      label: c === true ? "not live" : c === false ? "only in the runtime file" : "in the runtime file, not live",
      consequence: `In the runtime file${c === true ? " and Ganeti's configuration" : ""} but not on the live bus: the guest does not have it now; a migration would fail (its target, built from the runtime file, would have it); ${tail}.`,
      drift: true,
    };
  }
  if (f) {
    // live unknown
    if (c === true) return { label: "configuration and file", consequence: `In Ganeti's configuration and the runtime file; ${NOT_READ_LIVE}.`, drift: false };
    if (c === false) return { label: "not in Ganeti's configuration", consequence: `In the runtime file, not in Ganeti's configuration: Ganeti drops it at the next shutdown/startup; ${NOT_READ_LIVE}.`, drift: true };
    return { label: "in the runtime file", consequence: `In the runtime file; ${NOT_READ_CONFIG} and ${NOT_READ_LIVE}.`, drift: false };
  }
  if (l === true) {
    if (c === true) {
      return {
        label: "not in the runtime file",
        consequence: "In Ganeti's configuration and on the live bus, not in the runtime file: a migration would fail (its target lacks it), a soft reboot drops it and Ganeti's own hot-remove cannot find it; a shutdown/startup keeps it.",
        drift: true,
      };
    }
    return {
      label: c === false ? "only live" : "live, not in the runtime file",
      consequence: `On the live bus only${c === null ? ` (${NOT_READ_CONFIG})` : ": neither Ganeti's configuration nor the runtime file records it"}: a migration would fail (its target lacks it) and any reboot drops it.`,
      drift: true,
    };
  }
  // Only Ganeti's configuration.
  return {
    label: "only in Ganeti's configuration",
    consequence: `Only in Ganeti's configuration (added without --hotplug, or its hot-add failed): the guest does not have it${l === null ? ` (${NOT_READ_LIVE})` : ""}; Ganeti adds it at the next shutdown/startup; a soft reboot or a migration does not.`,
    drift: true,
  };
}

/** Whether a QEMU id is the one Ganeti derives for this uuid (2.16+ form, or the 2.10–2.15 form at any slot). */
function idMatchesUuid(id: string, kind: "nic" | "disk", uuid: string): boolean {
  if (id === deviceIdV2(kind, uuid)) return true;
  const p = parseDeviceId(id);
  return p?.style === "v1" && p.kind === kind && uuid.split("-")[0] === p.uuidPrefix;
}

/** Every device the three sources name, matched, with its consequence. */
export function threeWayDevices(input: ThreeWayInput): ThreeWayDevice[] {
  const { config, file, live } = input;
  const running = file !== null;
  const confDevices = config.state === "known" ? [...config.instance.nics.map((n) => ({ kind: "nic" as const, ...n })), ...config.instance.disks.map((d) => ({ kind: "disk" as const, ...d }))] : [];
  const confUuids = new Set(confDevices.flatMap((d) => (d.uuid ? [d.uuid] : [])));
  const inConfig = (uuid: string | undefined): boolean | null => (config.state === "unknown" ? null : uuid !== undefined && confUuids.has(uuid));
  const liveIds = live ? [...live.pci.filter((d) => d.function === 0).map((d) => ({ id: d.qdevId, slot: d.slot })), ...live.scsi.map((t) => ({ id: t.qdevId, scsiId: t.scsiId }))] : [];
  const seenLive = new Set<string>();
  const out: ThreeWayDevice[] = [];
  const push = (d: Omit<ThreeWayDevice, "combination" | "label" | "consequence" | "drift">) => {
    out.push({ ...d, combination: combinationOf(d.where), ...describePresence(d.where, running) });
  };

  for (const d of file ?? []) {
    const onBus = d.id !== undefined ? liveIds.find((x) => x.id === d.id) : undefined;
    if (onBus) seenLive.add(onBus.id);
    // A device with no recorded id (generation A) cannot be looked for on the bus.
    const liveHas = live === null || d.id === undefined ? null : onBus !== undefined;
    push({ ...d, where: { config: inConfig(d.uuid), file: true, live: liveHas } });
  }
  const fileUuids = new Set((file ?? []).flatMap((d) => (d.uuid ? [d.uuid] : [])));
  for (const d of confDevices) {
    if (d.uuid && fileUuids.has(d.uuid)) continue;
    const onBus = d.uuid ? liveIds.find((x) => !seenLive.has(x.id) && idMatchesUuid(x.id, d.kind, d.uuid!)) : undefined;
    if (onBus) seenLive.add(onBus.id);
    push({
      kind: d.kind,
      ...(d.uuid ? { uuid: d.uuid } : {}),
      id: onBus?.id ?? (d.uuid ? deviceIdV2(d.kind, d.uuid) : undefined),
      ...(d.name ? { name: d.name } : {}),
      ...("mac" in d && d.mac ? { mac: d.mac } : {}),
      ...(onBus && "slot" in onBus ? { slot: onBus.slot } : {}),
      ...(onBus && "scsiId" in onBus ? { scsiId: onBus.scsiId } : {}),
      where: { config: true, file: false, live: live === null ? null : onBus !== undefined },
    });
  }
  for (const x of liveIds) {
    if (x.id === "" || seenLive.has(x.id) || input.otherLiveIds.has(x.id)) continue;
    if ("slot" in x && x.slot < input.reservedCount && parseDeviceId(x.id) === null) continue;
    const kind = parseDeviceId(x.id)?.kind ?? null;
    push({
      kind,
      id: x.id,
      ...("slot" in x ? { slot: x.slot } : { scsiId: x.scsiId }),
      where: { config: config.state === "unknown" ? null : false, file: false, live: true },
    });
  }
  return out;
}

export const CombinationCountsSchema = z.record(CombinationSchema, z.number().int());
export type CombinationCounts = z.infer<typeof CombinationCountsSchema>;

/** How many devices each combination has; every combination is present (0 when none). */
export function countCombinations(devices: readonly Pick<ThreeWayDevice, "combination">[]): CombinationCounts {
  const counts = Object.fromEntries(COMBINATIONS.map((c) => [c, 0])) as CombinationCounts;
  for (const d of devices) counts[d.combination] += 1;
  return counts;
}
