// A reviewed change planned again after Ganeti's jobs changed the instance
// while Apply waited for them (or saved the file under our first try): the
// same intents (ids and MAC as reviewed), a single add pinned where the
// review put it. When that is no longer possible, nothing is done and the
// user reviews again.
import type { NodeSession } from "../ssh/session.js";
import type { KeptPlan } from "../hotplug/kept-plans.js";
import { gatherInstanceState, type GatheredState } from "../hotplug/state.js";
import { planComposed, type HotplugIntentInput, type PlannedSlot, type PlanOk, type Readers } from "../../shared/hotplug/index.js";

/** An add planned again where the review put it (a single add's slot or SCSI target, when it was left to the planner). */
function pinnedTo(intent: HotplugIntentInput, slot: PlannedSlot): HotplugIntentInput {
  if (intent.action === "add-nic") return intent.slot === undefined && slot.slot !== undefined ? { ...intent, slot: slot.slot } : intent;
  if (intent.action !== "add-disk" || intent.slot !== undefined || intent.scsiId !== undefined) return intent;
  return slot.bus === "scsi" ? { ...intent, scsiId: slot.scsiId } : { ...intent, slot: slot.slot };
}

/** The kept plan made again on the instance as it is now; the kept one when its runtime file is unchanged. */
export async function replanned(
  target: { session: NodeSession; root: string; nodeId: string; readers?: Readers },
  kept: KeptPlan,
): Promise<{ ok: true; plan: PlanOk; expectedRuntime: Buffer } | { ok: false; message: string }> {
  const again = `Ganeti's jobs changed ${kept.instance} while this change waited for them`;
  let state: GatheredState;
  try {
    state = await gatherInstanceState(target.session, kept.instance, { root: target.root, nodeId: target.nodeId, ...(target.readers ? { readers: target.readers } : {}) });
  } catch (err) {
    return { ok: false, message: `${again}, and it cannot be read now: ${(err as Error).message}` };
  }
  if (state.expectedRuntime.equals(kept.expectedRuntime)) return { ok: true, plan: kept.plan, expectedRuntime: kept.expectedRuntime };
  const intents = kept.intents ?? [];
  if (intents.length === 0) return { ok: false, message: `${again}. Nothing was changed; review it again.` };
  // The one add of the change (alone, or after Ganeti's record of it) stays where the review put it.
  const adds = intents.filter((i) => i.action === "add-nic" || i.action === "add-disk").length;
  const onlyRecords = intents.every((i) => i.action === "add-nic" || i.action === "add-disk" || i.action === "ganeti-nic" || i.action === "ganeti-disk");
  const p = planComposed(state.state, adds === 1 && onlyRecords ? intents.map((i) => pinnedTo(i, kept.plan.slot)) : intents);
  if (!p.ok) return { ok: false, message: `${again}: the reviewed change cannot be made as reviewed any more (${p.refusals.map((r) => r.message).join("; ")}). Nothing was changed; review it again.` };
  return { ok: true, plan: { ...p, warnings: [...p.warnings, `${again}: planned again on the runtime file they left, with the same devices at the same places.`] }, expectedRuntime: state.expectedRuntime };
}
