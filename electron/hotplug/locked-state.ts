// Reading an instance in order to change it at once (the CLI, a scripted
// request): the per-instance lock is taken first and the plan is made from
// what is read under it, so no other operation can slip in between the read
// and the change, and the executor's "file unchanged since the plan" check
// is settled by the same request.
//
// Round trips, all on the warm SSH connection and all started together:
//   - the lock request, which also brings back the runtime file's bytes and
//     how long the lock had been free;
//   - the QMP channel, whose negotiation and bus reads go out as one batch
//     (let go at once if the lock is not ours yet, since the socket serves one
//     client; read again under the lock when the lock changed hands since we
//     started: that change may have been half done);
//   - the user-shutdown marker's lstat (SFTP).
// The QMP session stays open for the executor's first QMP step.
import type { NodeSession } from "../ssh/session.js";
import type { QmpClient } from "../qmp/client.js";
import { InstanceLocks, type HeldLock } from "../on-node/instance-lock.js";
import { RuntimeStore, runtimeFileProblem, runtimeText } from "../on-node/runtime-store.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { gathered, type RuntimeRead } from "../inventory/node-inventory.js";
import { probeAndKeep, readLive } from "../inventory/probe.js";
import { assertStillConnected, judgeDiskPathsOf, plannerState, readNicTaps, withDiskPaths, type GatherOptions, type GatheredState } from "./state.js";

export interface LockedState extends GatheredState {
  /** Held; hand it to executePlan (which releases it), or release it. */
  lock: HeldLock;
  /** The open QMP session the bus was read on, if QEMU answered; the taker closes it. */
  qmp?: QmpClient;
}

export interface LockedGatherOptions extends GatherOptions {
  locks?: InstanceLocks;
  /** How long to wait for another operation's lock. Default 10 s. */
  lockTimeoutMs?: number;
}

export async function gatherInstanceStateLocked(session: NodeSession, instance: string, opts: LockedGatherOptions): Promise<LockedState> {
  const paths = instancePaths(opts.root, instance);
  const nodeId = opts.nodeId ?? session.label;
  const locks = opts.locks ?? new InstanceLocks(session, opts.root);
  const started = performance.now();
  const locking = locks.acquire(instance, { timeoutMs: opts.lockTimeoutMs ?? 10_000, check: paths.runtime, read: true });
  const shutdown = new RuntimeStore(session, nodeId).exists(paths.shutdown);
  const probeOpts = {
    ...(opts.greetingTimeoutMs ? { greetingTimeoutMs: opts.greetingTimeoutMs } : {}),
    // The session goes on to the executor: its commands get the executor's limit (openQmp's default).
    commandTimeoutMs: opts.commandTimeoutMs ?? 15_000,
  };
  let lockHeld = false;
  void locking.then(
    () => (lockHeld = true),
    () => undefined,
  );
  // The socket serves one client: a session must not sit on it while we wait
  // for another operation's lock (that operation needs it). Read, and if the
  // lock is not ours yet, let go; it is read again once it is.
  const probing = probeAndKeep(session, paths.qmp, probeOpts).then((p) => {
    if (lockHeld || !p.qmp) return p;
    p.qmp.close();
    return { result: p.result };
  });
  let lock: HeldLock;
  try {
    lock = await locking;
  } catch (err) {
    shutdown.catch(() => undefined);
    throw err;
  }
  // Tap names only matter when a NIC may leave the bus; read them beside the probe, and judge new disks' paths.
  const taps = opts.nicTaps ?? true ? readNicTaps(session, opts.root, instance) : Promise.resolve(null);
  const judging = judgeDiskPathsOf(session, opts);
  let qmp: QmpClient | undefined;
  try {
    const [p, userShutdown, t, verdicts] = await Promise.all([probing, shutdown, taps, judging]);
    qmp = p.qmp;
    let live = p.result;
    if (!qmp && !("problem" in live && live.problem.state === "stopped")) {
      // Let go while the lock was not ours, or busy (the lock's last holder may
      // have had the socket): read it now that no operation of ours is on it.
      const again = await probeAndKeep(session, paths.qmp, probeOpts);
      ({ qmp } = again);
      live = again.result;
    } else if (qmp && !(lock.quietMs !== null && lock.quietMs > performance.now() - started)) {
      // The bus was read without waiting for the lock. That read is as good as
      // one under it only if the lock was already free when we started: else
      // another operation of ours may have been half done, so read it again.
      live = await readLive(qmp, paths.qmp);
    }
    assertStillConnected(session, instance);
    const g = gathered(instance, { nodeId, ...(opts.readers?.ganetiVersions[0] ? { ganetiVersion: opts.readers.ganetiVersions[0] } : {}) }, runtimeRead(lock, paths.runtime, session.label, instance), live, userShutdown, opts.ganeti);
    return { ...withDiskPaths(plannerState(instance, g, opts, t), verdicts), lock, ...(qmp ? { qmp } : {}) };
  } catch (err) {
    // Also when the SFTP check failed before the probe's session was taken over.
    qmp?.close();
    void probing.then((p) => p.qmp?.close());
    await lock.release();
    throw err;
  }
}

/** The runtime file as the lock request read it, in the words a plain read would use. */
function runtimeRead(lock: HeldLock, path: string, node: string, instance: string): RuntimeRead {
  const c = lock.checked;
  if (!c) return { error: runtimeFileProblem.missing(path, node, instance) };
  if (!c.regular) return { error: runtimeFileProblem.notRegular(path, node) };
  if (!c.bytes) return { error: runtimeFileProblem.tooLarge(path, node) };
  const t = runtimeText(c.bytes, path, node);
  return "error" in t ? t : { text: t.text, bytes: c.bytes };
}
