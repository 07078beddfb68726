// Gathers the planner's InstanceSnapshot for one instance on a node. It is the
// inventory's one read of the instance (runtime bytes, live PCI/SCSI, QMP
// commands, QEMU version) turned into planner input, plus the tap names
// Ganeti recorded in nic/<instance>/<seq> when a plan may remove a NIC.
import { SshConnectionLostError, type NodeSession } from "../ssh/session.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import type { InstanceSnapshot, Readers } from "../../shared/hotplug/index.js";
import { plannerInput } from "../../shared/inventory/planner-input.js";
import type { InstanceView } from "../../shared/inventory/view.js";
import { gatherInstance, type GatheredInstance, type NodeGanetiContext } from "../inventory/node-inventory.js";
import type { QmpTimeouts } from "./qmp-session.js";
import { NicFilesOut, runNodeHelper } from "../on-node/node-helper.js";
import { judgeDiskPaths } from "../on-node/disk-path-facts.js";
import type { DiskPathVerdict } from "../../shared/on-node/disk-paths.js";

export interface GatherOptions extends QmpTimeouts {
  root: string;
  /** Ganeti versions of this node and every node the instance may migrate to. */
  readers?: Readers;
  /** How the node is named in views (default user@host:port). */
  nodeId?: string;
  /** Read nic/<instance>/<seq> (one node-side step): needed to remove or modify a NIC. Default true. */
  nicTaps?: boolean;
  /** The node's Ganeti cluster facts (the instance's configuration and hvparams), when it belongs to one. */
  ganeti?: NodeGanetiContext;
  /** Disk paths a change adds, to be judged on the node (shared/on-node/disk-paths.ts), and the node's allow-list. */
  diskPaths?: { paths: string[]; allow?: string[] };
}

export interface GatheredState {
  state: InstanceSnapshot;
  /** The runtime file's bytes as read: pass as executePlan's expectedRuntime. */
  expectedRuntime: Buffer;
  /** The same read as the inventory shows it. */
  view: InstanceView;
  /** Why the live bus is unknown, when it is. */
  liveProblem?: string;
  /** Set when readers were assumed from the file's generation. */
  readersAssumed?: string;
}

export class InstanceStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InstanceStateError";
  }
}

export async function gatherInstanceState(session: NodeSession, instance: string, opts: GatherOptions): Promise<GatheredState> {
  const judging = judgeDiskPathsOf(session, opts);
  const g = await gatherInstance(session, instance, {
    nodeId: opts.nodeId ?? session.label,
    root: opts.root,
    ...(opts.readers?.ganetiVersions[0] ? { ganetiVersion: opts.readers.ganetiVersions[0] } : {}),
    ...(opts.ganeti ? { ganeti: opts.ganeti } : {}),
    ...(opts.greetingTimeoutMs ? { greetingTimeoutMs: opts.greetingTimeoutMs } : {}),
    ...(opts.commandTimeoutMs ? { commandTimeoutMs: opts.commandTimeoutMs } : {}),
  });
  const taps = opts.nicTaps ?? true ? await readNicTaps(session, opts.root, instance) : null;
  const verdicts = await judging;
  assertStillConnected(session, instance);
  return withDiskPaths(plannerState(instance, g, opts, taps), verdicts);
}

/**
 * A read that lost its connection part-way is no read: a QMP socket that
 * could not be reached then says nothing about the instance (it is not "not
 * running"), and a plan must not be made from it.
 */
export function assertStillConnected(session: NodeSession, instance: string): void {
  if (session.closed) throw new SshConnectionLostError(session.label, `lost while ${instance} was being read; nothing was planned or changed`);
}

/** The node's verdicts on the disk paths a change adds (undefined when it adds none). */
export function judgeDiskPathsOf(session: NodeSession, opts: Pick<GatherOptions, "root" | "nodeId" | "diskPaths">): Promise<Record<string, DiskPathVerdict> | undefined> {
  const d = opts.diskPaths;
  if (!d || d.paths.length === 0) return Promise.resolve(undefined);
  const judging = judgeDiskPaths(session, opts.root, d.paths, d.allow ?? [], opts.nodeId ?? session.label);
  judging.catch(() => undefined); // awaited by the caller; seen there
  return judging;
}

/** The state with the disk-path verdicts the planner must respect. */
export function withDiskPaths(g: GatheredState, verdicts: Record<string, DiskPathVerdict> | undefined): GatheredState {
  if (verdicts) g.state.diskPaths = verdicts;
  return g;
}

/** The tap names Ganeti recorded in nic/<instance>/<seq> (one node-helper request); null if unreadable. */
export function readNicTaps(session: NodeSession, root: string, instance: string): Promise<Record<string, string> | null> {
  return runNodeHelper(session, "nic-files", { dir: instancePaths(root, instance).nicDir }, NicFilesOut).then(
    (t) => t.files,
    () => null,
  );
}

/** The planner's view of one read instance; throws InstanceStateError when it cannot be planned on. */
export function plannerState(instance: string, g: GatheredInstance, opts: Pick<GatherOptions, "readers">, taps: Record<string, string> | null): GatheredState {
  const input = plannerInput(g.facts, opts.readers ?? { ganetiVersions: [] });
  if (!input.ok || g.runtimeBytes === null) throw new InstanceStateError(input.ok ? `The runtime file of ${instance} could not be read.` : input.reason);
  const state = input.state;
  const out: GatheredState = { state, expectedRuntime: g.runtimeBytes, view: g.view };
  if (g.facts.liveProblem) out.liveProblem = g.facts.liveProblem.detail;
  if (!opts.readers) {
    const v = state.readers.ganetiVersions[0];
    out.readersAssumed = `No Ganeti versions given: assumed Ganeti ${v}, the reader of this file's generation ${state.runtime.generation}. Give the versions of every node the instance may migrate to.`;
  }
  if (taps) state.nicTaps = state.runtime.runtime.nics.map((_, seq) => taps[String(seq)] ?? null);
  return out;
}
