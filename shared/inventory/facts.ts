// What the inventory read of one instance on its node: the runtime file's
// text and, when QEMU answered, its live buses. Both the view (build.ts) and
// the planner's snapshot (planner-input.ts) are made from these facts.
import type { LivePciDevice } from "../qmp/query-pci";
import type { LiveScsiTarget } from "../slots/index";
import type { InstanceRunState } from "./view";

export interface LiveFacts {
  status: "running" | "paused";
  qemuVersion: string;
  pci: LivePciDevice[];
  scsi: LiveScsiTarget[];
  scsiController: boolean;
  /** query-commands names (what this QEMU supports). */
  qmpCommands: string[];
}

export interface InstanceFacts {
  node: string;
  name: string;
  /** The node's Ganeti version, when the user told us; picks the slot reservation. */
  ganetiVersion?: string;
  runtimeText: string | null;
  /** Why the runtime file could not be read, when it could not. */
  runtimeReadError?: string;
  userShutdown: boolean;
  live: LiveFacts | null;
  /** Why there are no live facts: "busy", "stopped", "unreachable" with a sentence. */
  liveProblem?: { state: Extract<InstanceRunState, "busy" | "stopped" | "unreachable">; detail: string };
}
