/**
 * The planner's input: everything known about one instance at planning
 * time. The caller (main process) gathers it over SSH/QMP; the planner only
 * reads it. `null` means "not known" (instance stopped, QMP busy), which is
 * different from "known to be empty".
 */
import type { LivePciDevice } from "../qmp/query-pci";
import type { Generation, RuntimeDocument } from "../runtime";
import type { LiveScsiTarget } from "../slots";
import type { Reader } from "../ganeti/readers";
import type { DiskPathVerdict } from "../on-node/disk-paths";

export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
}

export interface Readers {
  /** Ganeti versions of this node and of every node the instance may migrate to. */
  ganetiVersions: string[];
  /** Write no newer than this generation (an admin keeping a downgrade possible). */
  floor?: Generation;
  /**
   * Whose versions these are and why each node counts (from the cluster, or
   * the node's settings); the review names them. Same order as ganetiVersions.
   */
  explained?: Reader[];
}

export interface InstanceSnapshot {
  /** Instance name (as in the runtime file name). */
  name: string;
  /** The runtime file as read (readRuntime); its sourceText is what the write must replace. */
  runtime: RuntimeDocument;
  /** query-pci reduced to pci.0; null when the instance is not running or QMP was not reachable. */
  livePci: LivePciDevice[] | null;
  /** Targets on scsi.0 (from query-block/qom); undefined or null when unknown. */
  liveScsi?: LiveScsiTarget[] | null;
  /** Names from query-commands; null when unknown. */
  qmpCommands: string[] | null;
  /** From the QMP greeting; null when unknown. */
  qemuVersion: QemuVersion | null;
  readers: Readers;
  /** PCI slots held by other queued plans. */
  pending?: number[];
  /** Tap names from nic/<instance>/<seq>, indexed by NIC seq, when the caller read them. */
  nicTaps?: (string | null)[];
  /**
   * The instance's hvparams as Ganeti's configuration fills them (cluster,
   * OS, instance), when the cluster was read. The runtime file's own win, as
   * in Ganeti's hotplug (it reads the runtime's); these fill what the file
   * lacks, and where they differ the plan says so.
   */
  clusterHvparams?: Record<string, unknown>;
  /**
   * The node's verdict on each disk path a change adds (shared/on-node/disk-paths.ts),
   * when the caller judged them: a disk whose path is refused, or missing here, is
   * refused. Undefined: paths are not judged (a caller that plans without a node).
   */
  diskPaths?: Record<string, DiskPathVerdict>;
}
