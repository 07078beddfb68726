/**
 * A NIC or disk Ganeti records first is planned under a provisional uuid: Ganeti
 * names its own only when it records it. Once it has, the rest of the plan
 * takes Ganeti's uuid, and with it the QEMU id Ganeti derives from it
 * (`nic-` + its first three groups; `hotnic-<first group>-pci-N` for
 * generation B) and the tap name (`tap` + its first group). Every string of
 * the later steps, the runtime file's text and model and the diff is
 * rewritten; the provisional uuid is drawn so that its first group appears
 * nowhere else in the instance's runtime file (provisionalUuid). A disk's
 * storage, which Ganeti names too, is planned at provisionalDiskPath (it
 * holds the provisional uuid) and rewritten to Ganeti's path first.
 */
import type { GanetiJobRun } from "../ganeti/config-change";
import type { PlanOk } from "./planner";

/** Where a disk Ganeti records first has its storage, in the plan, until Ganeti says (it holds the provisional uuid). */
export function provisionalDiskPath(provisional: string): string {
  return `/ganeti-names-this-path/${provisional}`;
}

/** What a provisional uuid stands for in a plan, longest first: a disk's storage path, the uuid, the QEMU id's part, the first group. */
function pairs(provisional: string, real: string, realPath?: string): [string, string][] {
  const head3 = (u: string) => u.split("-").slice(0, 3).join("-");
  return [
    ...(realPath !== undefined ? [[provisionalDiskPath(provisional), realPath] as [string, string]] : []),
    [provisional, real],
    [head3(provisional), head3(real)],
    [provisional.split("-")[0]!, real.split("-")[0]!],
  ];
}

function replaceAll(text: string, map: readonly [string, string][]): string {
  return map.reduce((t, [from, to]) => t.split(from).join(to), text);
}

/** Every string inside `value`'s arrays and plain objects rewritten (numbers, bigints and the runtime's own value classes untouched). */
function mapStrings<T>(value: T, f: (s: string) => string): T {
  if (typeof value === "string") return f(value) as T;
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f)) as T;
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)])) as T;
  }
  return value;
}

/** The plan with `provisional` replaced by Ganeti's `real` uuid from step `from` on (and in what it writes); for a disk, its storage path too. */
export function withGanetiUuid(plan: PlanOk, provisional: string, real: string, from: number, realPath?: string): PlanOk {
  if (provisional === real && realPath === undefined) return plan;
  const map = pairs(provisional, real, realPath);
  const f = (s: string) => replaceAll(s, map);
  return {
    ...plan,
    steps: plan.steps.map((s, i) => (i < from ? s : mapStrings(s, f))),
    runtimeAfter: mapStrings(plan.runtimeAfter, f),
    fileTextAfter: f(plan.fileTextAfter),
    fileDiff: plan.fileDiff.map(f),
    warnings: plan.warnings.map(f),
  };
}

/** The plan as it ran: every NIC Ganeti recorded under the uuid it gave. */
export function resolvedPlan(plan: PlanOk, runs: readonly GanetiJobRun[] | undefined): PlanOk {
  let p = plan;
  for (const r of runs ?? []) if (!r.undo && r.provisionalUuid && r.uuid) p = withGanetiUuid(p, r.provisionalUuid, r.uuid, r.step + 1, r.path);
  return p;
}

/**
 * A provisional uuid whose first group appears nowhere in `text` (the
 * instance's runtime file), so rewriting it later touches nothing else.
 */
export function provisionalUuid(text: string, draw: () => string): string {
  for (let i = 0; i < 100; i++) {
    const u = draw();
    if (!text.includes(u.split("-")[0]!)) return u;
  }
  throw new Error("could not draw a uuid whose first group is not already in the runtime file");
}
