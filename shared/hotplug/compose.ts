/**
 * A change made of several intents, planned as one plan: each intent is
 * planned on the instance as the ones before it leave it, the live steps run
 * in order, and the runtime file is written once, at the end, from the
 * bytes read before the first (so the executor's compare-and-swap covers the
 * whole change). Moving a NIC is remove + add; a NIC Ganeti records first
 * is Ganeti's configuration-only add, then our add at the chosen slot.
 * Parts that change only Ganeti's configuration leave the file alone; a
 * part Ganeti's own hotplug makes (it saves the file itself) stands alone.
 */
import { readRuntime } from "../runtime";
import type { LivePciDevice } from "../qmp/query-pci";
import type { LiveScsiTarget } from "../slots";
import { parsePciAddr } from "../slots";
import type { HotplugIntentInput } from "./intent";
import type { InstanceSnapshot } from "./instance-snapshot";
import { planHotplug, type Plan, type PlanOk } from "./planner";
import { qmpStepsOf } from "./steps";

/** The instance as `plan` leaves it: its runtime file written, its QMP device changes made. */
export function snapshotAfter(before: InstanceSnapshot, plan: PlanOk): InstanceSnapshot {
  let livePci = before.livePci ? [...before.livePci] : null;
  let liveScsi = before.liveScsi ? [...before.liveScsi] : before.liveScsi;
  for (const call of qmpStepsOf(plan.steps)) {
    const a = call.arguments;
    if (typeof a.id !== "string") continue;
    const id = a.id;
    if (call.command === "device_del") {
      livePci = livePci?.filter((d) => d.qdevId !== id) ?? null;
      liveScsi = liveScsi?.filter((t) => t.qdevId !== id) ?? liveScsi;
    } else if (call.command === "device_add") {
      const addr = typeof a.addr === "string" ? parsePciAddr(a.addr) : undefined;
      if (addr?.ok && (a.bus === undefined || a.bus === "pci.0")) {
        // What query-pci would say of it, as far as the planner reads it (slot and id).
        const dev: LivePciDevice = { slot: addr.slot, function: 0, qdevId: id, vendorId: 0, deviceId: 0, classDesc: null, classCode: 0, isBridge: false };
        livePci = livePci ? [...livePci, dev].sort((x, y) => x.slot - y.slot || x.function - y.function) : null;
      } else if (a.bus === "scsi.0" && typeof a["scsi-id"] === "number") {
        const target: LiveScsiTarget = { scsiId: a["scsi-id"], qdevId: id, ...(typeof a.driver === "string" ? { driver: a.driver } : {}) };
        liveScsi = liveScsi ? [...liveScsi, target] : liveScsi;
      }
    }
  }
  const nicTaps = before.nicTaps ? [...before.nicTaps] : undefined;
  for (const s of plan.steps) {
    if (s.kind !== "node-nic-file" || !nicTaps) continue;
    if (s.action === "remove") nicTaps.splice(s.seq, 1);
    else nicTaps[s.seq] = s.tap ?? null;
  }
  // The file as the plan wrote it, in the generation it wrote (a file left with
  // no devices would otherwise read as an older one, and the next part would
  // describe a format change that the whole change does not make).
  const runtime = { ...readRuntime(plan.fileTextAfter), generation: plan.writeGeneration };
  return { ...before, runtime, livePci, liveScsi, ...(nicTaps ? { nicTaps } : {}) };
}

/** Plans `intents` as one change on `instance`; one intent plans exactly as planHotplug does. */
export function planComposed(instance: InstanceSnapshot, intents: readonly HotplugIntentInput[]): Plan {
  const parts: PlanOk[] = [];
  let now = instance;
  for (const [i, intent] of intents.entries()) {
    const part = planHotplug(now, intent);
    if (!part.ok) return part;
    parts.push(part);
    if (i < intents.length - 1) now = snapshotAfter(now, part);
  }
  const last = parts.at(-1);
  if (!last) return { ok: false, refusals: [{ code: "invalid-intent", message: "Nothing to do: the change has no parts." }] };
  if (parts.length === 1) return last;
  // Ganeti's own hotplug saves the runtime file itself: no part of ours could write it after that from the bytes read before.
  if (parts.some((p) => p.runtimeWrite === "ganeti")) {
    return { ok: false, refusals: [{ code: "invalid-intent", message: "A change Ganeti's own hotplug makes (it saves the runtime file itself) cannot be combined with other changes in one plan: make them one after the other." }] };
  }
  // The file is written once, at the end, from the bytes read before the first part: the last write of any part, moved to the end.
  const write = parts.flatMap((p) => p.steps).findLast((s) => s.kind === "write-runtime");
  const { runtimeWrite: _lastWrite, ...rest } = last;
  return {
    ...rest,
    steps: [...parts.flatMap((p) => p.steps.filter((s) => s.kind !== "write-runtime")), ...(write ? [{ ...write, generation: last.writeGeneration }] : [])],
    // A part that changes only Ganeti's configuration has nothing to show in the file's diff.
    fileDiff: parts.filter((p) => !write || p.runtimeWrite !== "unchanged").flatMap((p) => p.fileDiff),
    warnings: parts.flatMap((p) => p.warnings),
    // Without a write: every part changed Ganeti's configuration only.
    ...(write ? {} : { runtimeWrite: "unchanged" as const }),
  };
}
