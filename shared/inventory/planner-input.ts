// From what the inventory read to what the planner needs: one read of an
// instance serves both the view and the plan.
import { readRuntime } from "../runtime/index";
import type { Generation } from "../runtime/generation";
import type { InstanceSnapshot } from "../hotplug/instance-snapshot";
import type { InstanceFacts } from "./facts";
import type { Reader } from "../ganeti/readers";

export interface ReaderFacts {
  /** Ganeti versions of this node and of every node the instance may migrate to. */
  ganetiVersions: string[];
  floor?: Generation;
  /** Whose versions and why each node counts (same order as ganetiVersions). */
  explained?: Reader[];
}

export type PlannerInput = { ok: true; state: InstanceSnapshot } | { ok: false; reason: string };

/** Ganeti version to assume for a node whose version nobody entered: the file's own generation decides. */
export function assumedReaderVersion(generation: Generation): string {
  return generation === "A" ? "2.9.7" : generation === "B" ? "2.15.2" : "3.0.2";
}

export function plannerInput(facts: InstanceFacts, readers: ReaderFacts): PlannerInput {
  if (facts.runtimeText === null) {
    return { ok: false, reason: facts.runtimeReadError ?? `The runtime file of ${facts.name} could not be read.` };
  }
  let doc;
  try {
    doc = readRuntime(facts.runtimeText);
  } catch (err) {
    return { ok: false, reason: `The runtime file of ${facts.name} is not valid: ${err instanceof Error ? err.message : String(err)}` };
  }
  const live = facts.live;
  const [major = 0, minor = 0, micro = 0] = (live?.qemuVersion ?? "").split(".").map(Number);
  const assumed = readers.ganetiVersions.length === 0;
  const versions = assumed ? [assumedReaderVersion(doc.generation)] : readers.ganetiVersions;
  const explained: Reader[] | undefined = assumed
    ? [
        {
          node: facts.node,
          version: versions[0]!,
          versionSource: "assumed",
          versionFrom: `the runtime file's generation ${doc.generation}`,
          why: `${facts.node}: runs the instance; no versions known for it or the nodes it may migrate to, so the file's own generation decides`,
        },
      ]
    : readers.explained;
  return {
    ok: true,
    state: {
      name: facts.name,
      runtime: doc,
      livePci: live ? live.pci : null,
      liveScsi: live ? live.scsi : null,
      qmpCommands: live ? live.qmpCommands : null,
      qemuVersion: live ? { major, minor, micro } : null,
      readers: {
        ganetiVersions: versions,
        ...(readers.floor ? { floor: readers.floor } : {}),
        ...(explained ? { explained } : {}),
      },
      ...(facts.ganeti?.hvparams ? { clusterHvparams: facts.ganeti.hvparams } : {}),
    },
  };
}
