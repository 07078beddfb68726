// Gathers the planner's InstanceState for one instance on a node: the
// runtime file's exact bytes (the write's compare-and-swap expects them),
// the live PCI/SCSI buses, the QMP command list and QEMU version, and the
// tap names Ganeti recorded in nic/<instance>/<seq>.
import type { NodeSession } from "../ssh/session.js";
import { RuntimeStore } from "../node/runtime-store.js";
import { instancePaths } from "../../shared/node/layout.js";
import { readRuntime, type Generation } from "../../shared/runtime/index.js";
import type { InstanceState, Readers } from "../../shared/hotplug/index.js";
import { QmpBusyError } from "../qmp/client.js";
import { livePci, liveScsi, openQmp, type QmpTimeouts } from "./qmp-session.js";
import { NicFilesOut, runNodeHelper } from "./node-helper.js";

export interface GatherOptions extends QmpTimeouts {
  root: string;
  /** Ganeti versions of this node and every node the instance may migrate to. */
  readers?: Readers;
}

export interface GatheredState {
  state: InstanceState;
  /** The runtime file's bytes as read: pass as executePlan's expectedRuntime. */
  expectedRuntime: Buffer;
  /** Why the live bus is unknown, when it is. */
  liveProblem?: string;
  /** Set when readers were assumed from the file's generation. */
  readersAssumed?: string;
}

/** Oldest Ganeti of each generation's range that records slots (for assumed readers). */
const ASSUMED_READER: Record<Generation, string> = { A: "2.9.0", B: "2.15.2", C: "3.0.2" };

export async function gatherInstanceState(session: NodeSession, instance: string, opts: GatherOptions): Promise<GatheredState> {
  const store = new RuntimeStore(session);
  const paths = instancePaths(opts.root, instance);
  const file = await store.readRuntimeFile(opts.root, instance);
  const runtime = readRuntime(file.text);
  let readers = opts.readers;
  let readersAssumed: string | undefined;
  if (!readers) {
    const v = ASSUMED_READER[runtime.generation];
    readers = { ganetiVersions: [v] };
    readersAssumed = `No Ganeti versions given: assumed Ganeti ${v}, the reader of this file's generation ${runtime.generation}. Give the versions of every node the instance may migrate to.`;
  }
  const state: InstanceState = { name: instance, runtime, livePci: null, liveScsi: null, qmpCommands: null, qemuVersion: null, readers };
  let liveProblem: string | undefined;
  try {
    const qmp = await openQmp(session, paths.qmp, opts);
    try {
      state.livePci = await livePci(qmp);
      state.liveScsi = await liveScsi(qmp);
      state.qmpCommands = [...qmp.commands];
      state.qemuVersion = qmp.version;
    } finally {
      qmp.close();
    }
  } catch (err) {
    liveProblem = err instanceof QmpBusyError ? err.message : `QMP on ${paths.qmp}: ${(err as Error).message}`;
    state.livePci = null;
  }
  const taps = await runNodeHelper(session, "nic-files", { dir: paths.nicDir }, NicFilesOut).catch(() => null);
  if (taps) state.nicTaps = runtime.runtime.nics.map((_, seq) => taps.files[String(seq)] ?? null);
  const out: GatheredState = { state, expectedRuntime: file.bytes };
  if (liveProblem) out.liveProblem = liveProblem;
  if (readersAssumed) out.readersAssumed = readersAssumed;
  return out;
}
