// What changed between two reads of a node's inventory, in words people and
// the UI can use: instances that appeared or went away, state changes
// (a guest shutting itself down shows as user-shutdown), devices that left
// or joined the live bus, and runtime files that changed generation.
import type { InstanceSummary, InstanceView } from "./view";

export type InventoryChange =
  | { kind: "instance-added"; instance: string; summary: string }
  | { kind: "instance-removed"; instance: string; summary: string }
  | { kind: "state-changed"; instance: string; from: string; to: string; summary: string }
  | { kind: "devices-changed"; instance: string; summary: string };

type Comparable = Pick<InstanceSummary, "name" | "state" | "generation" | "nics" | "disks" | "driftCount"> & { liveIds?: string[] };

/** The parts of a view a change is judged by: state, generation, counts, live device ids. */
export function comparableOf(v: InstanceView): Comparable {
  const liveIds = v.pci.flatMap((s) => s.liveDevices.map((d) => d.qdevId).filter((id) => id !== "")).concat(v.scsi.flatMap((t) => (t.liveDevice ? [t.liveDevice.qdevId] : [])));
  return {
    name: v.name,
    state: v.state,
    generation: v.generation,
    nics: v.devices.filter((d) => d.kind === "nic").length,
    disks: v.devices.filter((d) => d.kind === "disk").length,
    driftCount: v.drift.length,
    liveIds: liveIds.sort(),
  };
}

export function diffInventory(before: readonly Comparable[], after: readonly Comparable[]): InventoryChange[] {
  const out: InventoryChange[] = [];
  const prev = new Map(before.map((c) => [c.name, c]));
  const next = new Map(after.map((c) => [c.name, c]));
  for (const [name, c] of next) {
    const p = prev.get(name);
    if (!p) {
      out.push({ kind: "instance-added", instance: name, summary: `${name} appeared (${c.state})` });
      continue;
    }
    if (p.state !== c.state) {
      const why = c.state === "user-shutdown" ? ": the guest shut itself down" : c.state === "stopped" ? ": QEMU is no longer running" : "";
      out.push({ kind: "state-changed", instance: name, from: p.state, to: c.state, summary: `${name} is now ${c.state} (was ${p.state})${why}` });
    }
    // Busy or stopped reads carry no live ids; only compare two live reads.
    const bothLive = p.liveIds && c.liveIds && p.state === c.state && (c.state === "running" || c.state === "paused");
    const gone = bothLive ? p.liveIds!.filter((id) => !c.liveIds!.includes(id)) : [];
    const came = bothLive ? c.liveIds!.filter((id) => !p.liveIds!.includes(id)) : [];
    const fileChanged = p.generation !== c.generation || p.nics !== c.nics || p.disks !== c.disks;
    if (gone.length || came.length || fileChanged || p.driftCount !== c.driftCount) {
      const parts = [
        ...gone.map((id) => `${id} left the live bus`),
        ...came.map((id) => `${id} joined the live bus`),
        ...(fileChanged ? [`runtime file now lists ${c.nics} NIC(s), ${c.disks} disk(s)${c.generation ? `, generation ${c.generation}` : ""}`] : []),
        ...(p.driftCount !== c.driftCount ? [`drift ${p.driftCount} → ${c.driftCount}`] : []),
      ];
      out.push({ kind: "devices-changed", instance: name, summary: `${name}: ${parts.join("; ")}` });
    }
  }
  for (const name of prev.keys()) if (!next.has(name)) out.push({ kind: "instance-removed", instance: name, summary: `${name} is gone from the node (its runtime file was removed)` });
  return out;
}
