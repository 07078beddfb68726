// What the inventory read of one instance on its node: the runtime file's
// text and, when QEMU answered, its live buses. Both the view (build.ts) and
// the planner's snapshot (planner-input.ts) are made from these facts.
import type { LivePciDevice } from "../qmp/query-pci";
import type { LiveScsiTarget } from "../slots/index";
import type { InstanceRunState } from "./view";
import type { NodeVersion } from "../ganeti/node-version";
import type { ConfigView } from "./three-way";

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
  /** The node's version as detected (and any typed override); wins over ganetiVersion. */
  nodeVersion?: NodeVersion;
  /** What Ganeti's cluster says of the instance, when the node belongs to one. */
  ganeti?: GanetiInstanceFacts;
  runtimeText: string | null;
  /** Why the runtime file could not be read, when it could not. */
  runtimeReadError?: string;
  userShutdown: boolean;
  live: LiveFacts | null;
  /** Why there are no live facts: "busy", "stopped", "unreachable" with a sentence. */
  liveProblem?: { state: Extract<InstanceRunState, "busy" | "stopped" | "unreachable">; detail: string };
}

/** The instance as its Ganeti cluster describes it. */
export interface GanetiInstanceFacts {
  cluster: string;
  /** Ganeti's configuration of the instance (known, absent from it, or not read). */
  config: ConfigView;
  /** Its hvparams as Ganeti's configuration fills them (cluster, OS, instance), when known. */
  hvparams?: Record<string, unknown>;
  primaryNode?: string;
}
