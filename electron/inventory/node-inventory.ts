// A node's inventory: every instance with its state, runtime generation and
// PCI/SCSI maps from both the runtime file and the live bus.
import type { NodeSession } from "../ssh/session.js";
import { RuntimeFileError, RuntimeStore } from "../on-node/runtime-store.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { buildInstanceView } from "../../shared/inventory/build.js";
import type { GanetiInstanceFacts, InstanceFacts } from "../../shared/inventory/facts.js";
import type { NodeVersion } from "../../shared/ganeti/node-version.js";
import type { InstanceView } from "../../shared/inventory/view.js";
import { probeInstance, type ProbeOptions, type ProbeResult } from "./probe.js";

/** A runtime file as read, or why it could not be. */
export type RuntimeRead = { text: string; bytes: Buffer } | { error: string };

/** What the node's Ganeti cluster says, for the views: the node's version and each instance's facts. */
export interface NodeGanetiContext {
  nodeVersion?: NodeVersion;
  instance?: (name: string) => GanetiInstanceFacts | undefined;
}

export interface NodeInventoryOptions extends ProbeOptions {
  nodeId: string;
  root: string;
  ganetiVersion?: string;
  /** The cluster's facts, when the node belongs to one; a promise is awaited beside the node reads. */
  ganeti?: NodeGanetiContext | Promise<NodeGanetiContext | undefined>;
  /** Instances probed at once over the one SSH connection (sshd's MaxSessions is 10 by default). */
  concurrency?: number;
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

/** What one read of an instance yields: the view, and the facts and bytes a plan needs. */
export interface GatheredInstance {
  view: InstanceView;
  facts: InstanceFacts;
  /** The runtime file's exact bytes, which a write must find unchanged. */
  runtimeBytes: Buffer | null;
}

export async function loadInstanceView(
  session: NodeSession,
  name: string,
  opts: NodeInventoryOptions,
  files?: { hasRuntime: boolean; hasQmp: boolean; userShutdown: boolean },
): Promise<InstanceView> {
  return (await gatherInstance(session, name, opts, files)).view;
}

export async function gatherInstance(
  session: NodeSession,
  name: string,
  opts: NodeInventoryOptions,
  files?: { hasRuntime: boolean; hasQmp: boolean; userShutdown: boolean },
): Promise<GatheredInstance> {
  const store = new RuntimeStore(session, opts.nodeId);
  const paths = instancePaths(opts.root, name);
  // One instance: no directory listing (two readdirs, one after the other);
  // the reads below find out for themselves, all at once.
  const known = files ?? { hasRuntime: true, hasQmp: true, userShutdown: false };
  const userShutdown = files ? Promise.resolve(files.userShutdown) : store.exists(paths.shutdown);
  const [runtime, probe, shutdown, ganeti] = await Promise.all([
    known.hasRuntime
      ? store.readRuntimeFile(opts.root, name).then(
          (f) => ({ text: f.text, bytes: f.bytes }),
          (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
        )
      : Promise.resolve({ error: `${paths.runtime} does not exist` }),
    known.hasQmp
      ? probeInstance(session, paths.qmp, opts)
      : Promise.resolve({ problem: { state: "stopped" as const, detail: `${paths.qmp} does not exist: the instance is not running.` } }),
    userShutdown,
    opts.ganeti,
  ]);
  return gathered(name, opts, runtime, probe, shutdown, ganeti);
}

/** One instance's read, from its parts: the runtime file (or why not), the live probe, the shutdown marker. */
export function gathered(
  name: string,
  opts: Pick<NodeInventoryOptions, "nodeId" | "ganetiVersion">,
  runtime: RuntimeRead,
  probe: ProbeResult,
  userShutdown: boolean,
  ganeti?: NodeGanetiContext,
): GatheredInstance {
  const cluster = ganeti?.instance?.(name);
  const facts: InstanceFacts = {
    node: opts.nodeId,
    name,
    ganetiVersion: opts.ganetiVersion,
    ...(ganeti?.nodeVersion ? { nodeVersion: ganeti.nodeVersion } : {}),
    ...(cluster ? { ganeti: cluster } : {}),
    runtimeText: null,
    userShutdown,
    live: null,
  };
  if ("text" in runtime) facts.runtimeText = runtime.text;
  else facts.runtimeReadError = runtime.error;
  if ("live" in probe) facts.live = probe.live;
  else facts.liveProblem = probe.problem;
  return { view: buildInstanceView(facts), facts, runtimeBytes: "bytes" in runtime ? runtime.bytes : null };
}

export async function loadNodeInventory(session: NodeSession, opts: NodeInventoryOptions): Promise<InstanceView[]> {
  const store = new RuntimeStore(session, opts.nodeId);
  const [listed, ganeti] = await Promise.all([store.listInstances(opts.root).catch((err: unknown) => err as Error), opts.ganeti]);
  if (listed instanceof Error) {
    // A node its ssconf puts in a Ganeti cluster has no KVM directory until an instance first runs there: none run now.
    if (listed instanceof RuntimeFileError && ganeti?.instance) return [];
    throw listed;
  }
  return mapLimited([...listed.entries()], opts.concurrency ?? 6, ([name, files]) => loadInstanceView(session, name, opts, files));
}
