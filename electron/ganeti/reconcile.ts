// After a change of ours, Ganeti may have saved the runtime file from a copy
// it loaded before our write (its hotplug loads, runs QMP and saves without
// any lock of ours): a device we added is then live but gone from the file
// (a migration or soft reboot would drop it), or a device we removed is back
// in the file though no longer live. This compares our change's devices with
// the live bus and the file, and puts the file right: under our lock, with
// the same compare-and-swap and journal as any runtime write. Only our own
// devices are touched; Ganeti's are Ganeti's.
import { isDeepStrictEqual } from "node:util";
import type { NodeSession } from "../ssh/session.js";
import { InstanceLocks } from "../on-node/instance-lock.js";
import { RuntimeChangedError, RuntimeStore, runtimeText } from "../on-node/runtime-store.js";
import { runNodeHelper } from "../on-node/node-helper.js";
import { NicFileOut } from "../on-node/helper-protocol.js";
import { QmpBusyError, type QmpClient } from "../qmp/client.js";
import { livePci, peripherals } from "../qmp/live-bus.js";
import { openQmp } from "../hotplug/qmp-session.js";
import type { Journal } from "../hotplug/journal.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { deviceIdV2, readRuntime, writeRuntime, type DiskEntry, type Nic, type Runtime } from "../../shared/runtime/index.js";
import type { PlanOk } from "../../shared/hotplug/index.js";
import type { Repair } from "../../shared/ganeti/jobs.js";

/** What our change left recorded, or not, for one device. */
export type Expectation =
  | { kind: "nic"; uuid: string; id: string; record: "present"; entry: Nic; tap?: string }
  | { kind: "disk"; uuid: string; id: string; record: "present"; entry: DiskEntry }
  | { kind: "nic" | "disk"; uuid: string; id: string; record: "absent" };

export interface OurChange {
  instance: string;
  root: string;
  /** How the journal names the node. */
  nodeId: string;
  planId: string;
  plan: PlanOk;
  /** The file's bytes the plan was made from. */
  expectedRuntime: Buffer;
}

const idOf = (kind: "nic" | "disk", d: { uuid?: string; hvinfo?: { id?: string } }) => d.hvinfo?.id ?? deviceIdV2(kind, d.uuid ?? "");

/** The devices our change added or changed (to stay recorded while live) and removed (to stay out while gone). */
export function expectationsOf(change: Pick<OurChange, "plan" | "expectedRuntime">): Expectation[] {
  const text = runtimeText(change.expectedRuntime, "runtime file", "node");
  if ("error" in text) return [];
  const before = readRuntime(text.text).runtime;
  const after = change.plan.runtimeAfter;
  const out: Expectation[] = [];
  const taps = new Map(change.plan.steps.flatMap((s) => (s.kind === "node-nic-file" && s.action === "write" && s.tap ? [[s.seq, s.tap] as const] : [])));
  after.nics.forEach((nic, seq) => {
    if (!nic.uuid) return;
    const old = before.nics.find((n) => n.uuid === nic.uuid);
    if (old && isDeepStrictEqual(old, nic)) return;
    const tap = taps.get(seq);
    out.push({ kind: "nic", uuid: nic.uuid, id: idOf("nic", nic), record: "present", entry: nic, ...(tap ? { tap } : {}) });
  });
  for (const d of after.disks) {
    const old = before.disks.find((o) => o.disk.uuid === d.disk.uuid);
    if (old && isDeepStrictEqual(old, d)) continue;
    out.push({ kind: "disk", uuid: d.disk.uuid, id: idOf("disk", d.disk), record: "present", entry: d });
  }
  for (const n of before.nics) if (n.uuid && !after.nics.some((a) => a.uuid === n.uuid)) out.push({ kind: "nic", uuid: n.uuid, id: idOf("nic", n), record: "absent" });
  for (const d of before.disks) if (!after.disks.some((a) => a.disk.uuid === d.disk.uuid)) out.push({ kind: "disk", uuid: d.disk.uuid, id: idOf("disk", d.disk), record: "absent" });
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Ids of every device on the instance's buses now; waits out a socket another client (Ganeti) holds. */
async function liveIds(session: NodeSession, qmpPath: string, patienceMs = 10_000): Promise<Set<string>> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    let q: QmpClient | undefined;
    try {
      q = await openQmp(session, qmpPath, { greetingTimeoutMs: 2000 });
      const [pci, named] = await Promise.all([livePci(q), peripherals(q)]);
      return new Set([...pci.map((d) => d.qdevId).filter((id) => id !== ""), ...named.keys()]);
    } catch (err) {
      if (!(err instanceof QmpBusyError) || Date.now() >= deadline) throw err;
      await sleep(200);
    } finally {
      q?.close();
    }
  }
}

/** The file's devices changed to what the expectations and the live bus say; what was changed. */
function putRight(rt: Runtime, expected: readonly Expectation[], live: Set<string>): { fixed: Expectation[]; newSeq: Map<string, number> } {
  const fixed: Expectation[] = [];
  const newSeq = new Map<string, number>();
  for (const e of expected) {
    const at = e.kind === "nic" ? rt.nics.findIndex((n) => n.uuid === e.uuid) : rt.disks.findIndex((d) => d.disk.uuid === e.uuid);
    if (e.record === "present" && at < 0 && live.has(e.id)) {
      if (e.kind === "nic") newSeq.set(e.uuid, rt.nics.push(structuredClone(e.entry)) - 1);
      else rt.disks.push(structuredClone(e.entry));
      fixed.push(e);
    } else if (e.record === "absent" && at >= 0 && !live.has(e.id)) {
      if (e.kind === "nic") rt.nics.splice(at, 1);
      else rt.disks.splice(at, 1);
      fixed.push(e);
    }
  }
  return { fixed, newSeq };
}

/**
 * Compares our change's devices with the live bus and the runtime file and
 * repairs the file where Ganeti's save undid our record. Reads and writes
 * under the instance's lock; a file that changed between our read and our
 * write (Ganeti again) is read again. Returns the repairs made (none: whole).
 */
export async function repairOurRecord(session: NodeSession, change: OurChange, journal: Journal, expected = expectationsOf(change)): Promise<Repair[]> {
  if (expected.length === 0) return [];
  const paths = instancePaths(change.root, change.instance);
  const locks = new InstanceLocks(session, change.root);
  const store = new RuntimeStore(session, change.nodeId);
  for (let attempt = 1; ; attempt++) {
    const lock = await locks.acquire(change.instance, { timeoutMs: 30_000, check: paths.runtime, read: true });
    try {
      const bytes = lock.checked?.bytes;
      // No file: the instance stopped (or left the node) meanwhile; nothing to keep in step.
      if (!bytes) return [];
      const text = runtimeText(bytes, paths.runtime, session.label);
      if ("error" in text) throw new Error(text.error);
      const live = await liveIds(session, paths.qmp);
      const rt = readRuntime(text.text).runtime;
      const { fixed, newSeq } = putRight(rt, expected, live);
      if (fixed.length === 0) return [];
      const content = writeRuntime(rt, change.plan.writeGeneration);
      const { entry } = await journal.write(store, { root: change.root, instance: change.instance, planId: `repair:${change.planId}`, content, expected: bytes });
      // A re-recorded NIC sits at a new index: its tap is named where Ganeti's order puts it (nic/<instance>/<seq>).
      for (const e of fixed) {
        const seq = newSeq.get(e.uuid);
        if (e.kind === "nic" && e.record === "present" && e.tap && seq !== undefined) {
          await runNodeHelper(session, "nic-file", { path: `${paths.nicDir}/${seq}`, action: "write", content: e.tap }, NicFileOut);
        }
      }
      return fixed.map((e) => ({ device: e.id, action: e.record === "present" ? "re-recorded" : "dropped", journalEntryId: entry.id }));
    } catch (err) {
      if (!(err instanceof RuntimeChangedError) || attempt >= 5) throw err;
    } finally {
      await lock.release().catch(() => undefined);
    }
  }
}
