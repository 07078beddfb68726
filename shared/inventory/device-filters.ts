// Fleet filters over devices seen three ways (Ganeti's configuration, the
// runtime file, the live bus), and what each must have read to mean what it
// says: a device of an instance whose configuration was not read is never
// "not in Ganeti's configuration", and a stopped instance's devices are never
// "not live". The UI's filters and main's fleet counts both use these. Pure.
import { z } from "zod";
import type { Combination, ThreeWayDevice } from "./three-way";
import type { InstanceRunState, InstanceSummary } from "./view";

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


const FilterCountSchema = z.object({ devices: z.number().int(), instances: z.number().int() });

/** Fleet-level counts for the filters: how many devices each picks, on how many instances. */
export const FleetCountsSchema = z.object({
  instances: z.number().int(),
  /** Every device of every instance. */
  devices: z.number().int(),
  byFilter: z.object({
    "not-in-config": FilterCountSchema,
    "config-only": FilterCountSchema,
    "live-only": FilterCountSchema,
    "file-only": FilterCountSchema,
    "not-in-file": FilterCountSchema,
  }),
  /** Devices whose instance's configuration was not read. */
  configUnknown: z.number().int(),
});
export type FleetCounts = z.infer<typeof FleetCountsSchema>;

/** The fleet's counts, by the same rules as the filters (nothing unread counted as absent). */
export function fleetCounts(summaries: readonly InstanceSummary[]): FleetCounts {
  const byFilter = Object.fromEntries(DEVICE_FILTERS.map((f) => [f.key, { devices: 0, instances: 0 }])) as FleetCounts["byFilter"];
  let devices = 0;
  let configUnknown = 0;
  for (const s of summaries) {
    devices += summaryMatches("any", s);
    configUnknown += s.configUnknown;
    for (const f of DEVICE_FILTERS) {
      const n = summaryMatches(f.key, s);
      byFilter[f.key].devices += n;
      if (n > 0) byFilter[f.key].instances += 1;
    }
  }
  return { instances: summaries.length, devices, byFilter, configUnknown };
}
