// Beside Ganeti: on one instance of the Ganeti lab (a real two-node Ganeti
// 3.0.2 cluster, electron/lab/ganeti), Ganeti's own NIC hot-add and
// hot-remove (`gnt-instance modify --hotplug --net add:link=BR` and
// `--net N:remove`, run on the master over SSH as an admin would) next to
// ours through HotplugChanges (the CLI's lock-read-run path, runtime only:
// Ganeti's configuration is not told), in one run, rounds alternating.
// Ours is timed twice: with the Ganeti stage (the master's job queue asked
// before and after, and the record compared with the live bus after the
// write: what the app and the CLI do on a cluster) and without it (a node
// whose master cannot be asked). Ratios are ours over Ganeti's.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GanetiLab, ganetiLabUnavailable } from "../../electron/lab/ganeti/lab.js";
import { addInstance, kvmPaths } from "../../electron/lab/ganeti/cluster.js";
import { GuestConsole } from "../lab/guest-console.js";
import { livePci } from "../lab/live-pci.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { execOnNode } from "../../electron/on-node/exec.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { HotplugChanges, type ChangeTarget } from "../../electron/hotplug/change.js";
import { newDeviceUuid, newMac } from "../../electron/hotplug/ids.js";
import type { ChangeRequestInput, StepProgress } from "../../shared/hotplug/index.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import { readGanetiNodeFiles } from "../../electron/cluster/ganeti-files.js";
import { readersFromFiles } from "../../electron/cluster/cluster-of.js";
import { brief, round, summarize } from "./stats.js";

const NAME = "benchg";
/** Like the hotplug bench: each change starts a moment after the last ended, so a guest still busy does not bill the next. */
const SETTLE_MS = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface GanetiBenchOptions {
  runs: number;
  log: (line: string) => void;
}

export async function benchGaneti(opts: GanetiBenchOptions): Promise<Record<string, unknown>> {
  const { log } = opts;
  const why = ganetiLabUnavailable();
  if (why) return { skipped: why };
  const lab = await GanetiLab.start({ log: (l) => log(`ganeti lab: ${l}`) });
  const journalDir = await mkdtemp(join(tmpdir(), "hdbench-ganeti-journal-"));
  const sessions: NodeSession[] = [];
  try {
    await addInstance({ name: NAME, node: 2, template: "diskless", nics: 1 });
    const open = async (i: number) => {
      const s = lab.info.nodes[i]!.ssh;
      const session = await NodeSession.open({ host: s.host, port: s.port, username: s.user, privateKeyPath: s.privateKeyPath, knownHostsPath: s.knownHostsPath, proxyCommand: s.proxyCommand });
      sessions.push(session);
      return session;
    };
    const [master, node] = [await open(0), await open(1)];
    const registry = lab.info.nodes.map((n, i) => ({ id: `node${i + 1}`, name: n.name, host: n.ssh.host, session: async () => sessions[i]! }));
    const changes = new HotplugChanges({ journal: new Journal(journalDir) });
    const base: ChangeTarget = { session: node, nodeId: "node2", root: "/", readers: { ganetiVersions: [lab.info.ganetiVersion] } };
    const withStage: ChangeTarget = { ...base, ganeti: { registry: () => registry } };

    // The guest must be up to release a removed NIC.
    log("ganeti: waiting for the guest to boot");
    await waitForGuest(node);

    const gntTimed = async (argv: string[]): Promise<number> => {
      const t0 = performance.now();
      const r = await execOnNode(master, argv, { timeoutMs: 120_000 });
      const ms = performance.now() - t0;
      if (r.code !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.trim() || r.stdout.trim()}`);
      return ms;
    };
    const queueMs: number[] = [];
    /** Per step kind (queue checks by position), from its first "running" to its "done", for the configuration-first add. */
    const stepMs = new Map<string, number[]>();
    const ours = async (target: ChangeTarget, request: ChangeRequestInput, steps?: Map<string, number[]>): Promise<number> => {
      const started = new Map<number, number>();
      const progress = (p: StepProgress) => {
        if (p.state === "running" && !started.has(p.index)) started.set(p.index, performance.now());
        if (p.state !== "done") return;
        const ms = performance.now() - (started.get(p.index) ?? performance.now());
        if (p.kind === "ganeti-jobs") queueMs.push(ms);
        const key = p.kind === "ganeti-jobs" ? `ganeti-jobs ${p.index < 0 ? "before" : "after"}` : p.kind;
        started.delete(p.index); // the lock's precheck shares index -1 with the queue check before it
        if (steps) steps.set(key, [...(steps.get(key) ?? []), ms]);
      };
      const t0 = performance.now();
      const r = await changes.now(target, NAME, request, { report: { progress } });
      const ms = performance.now() - t0;
      if (r.status !== "done") throw new Error(`our change ended ${r.status}: ${JSON.stringify("outcome" in r ? r.outcome : r)}`);
      return ms;
    };

    const t = {
      ganetiAdd: [] as number[],
      ganetiRemove: [] as number[],
      oursAdd: [] as number[],
      oursRemove: [] as number[],
      oursAddNoStage: [] as number[],
      oursRemoveNoStage: [] as number[],
      configFirstAdd: [] as number[],
      throughGanetiRemove: [] as number[],
    };
    const configFirstSlot = 0x1b;
    const landed: boolean[] = [];
    const slot = 0x1a;
    for (let i = 0; i < opts.runs; i++) {
      log(`ganeti: round ${i + 1}/${opts.runs}`);
      t.ganetiAdd.push(await gntTimed(["gnt-instance", "modify", "--hotplug", "--net", `add:link=${lab.info.bridge}`, NAME]));
      await sleep(SETTLE_MS);
      t.ganetiRemove.push(await gntTimed(["gnt-instance", "modify", "--hotplug", "--net", "1:remove", NAME]));
      await sleep(SETTLE_MS);
      for (const [target, add, remove] of [
        [withStage, t.oursAdd, t.oursRemove],
        [base, t.oursAddNoStage, t.oursRemoveNoStage],
      ] as const) {
        const uuid = newDeviceUuid();
        // Runtime only, as measured so far (where the master is reachable, a NIC would otherwise be recorded in Ganeti's configuration first).
        add.push(await ours(target, { action: "add-nic", uuid, mac: newMac(), link: lab.info.bridge, slot, runtimeOnly: true }));
        await sleep(SETTLE_MS);
        remove.push(await ours(target, { action: "remove", kind: "nic", ref: uuid, runtimeOnly: true }));
        await sleep(SETTLE_MS);
      }
      // Configuration first (the default where the master is reachable): Ganeti records the NIC and names its
      // uuid, then we plug it at our slot; it is removed through Ganeti's own hotplug, as the app does.
      const before = new Set(await nicUuids(master));
      // As the app and the CLI do: the cluster's facts from the node's Ganeti files, read before the change.
      const { context } = readersFromFiles(await readGanetiNodeFiles(node, "/"), lab.info.nodes[1]!.ssh.host, NAME);
      t.configFirstAdd.push(await ours({ ...withStage, cluster: context }, { action: "add-nic", link: lab.info.bridge, slot: configFirstSlot }, stepMs));
      const added = (await nicUuids(master)).filter((u) => !before.has(u));
      if (added.length !== 1) throw new Error(`configuration first: expected one new NIC in Ganeti's configuration, found ${added.length}: ${added.join(" ")} (before: ${[...before].join(" ")})`);
      landed.push((await livePci(node, NAME)).get(configFirstSlot) === deviceIdV2("nic", added[0]!));
      await sleep(SETTLE_MS);
      t.throughGanetiRemove.push(await ours(withStage, { action: "remove", kind: "nic", ref: added[0]! }));
      await sleep(SETTLE_MS);
    }
    const ratio = (a: number[], b: number[]) => ({ p50: round(summarize(a).p50Ms / summarize(b).p50Ms), p95: round(summarize(a).p95Ms / summarize(b).p95Ms) });
    return {
      ganetiVersion: lab.info.ganetiVersion,
      instance: `${NAME} (diskless, on node 2; the master is node 1)`,
      rounds: opts.runs,
      nicAdd: {
        ganeti: summarize(t.ganetiAdd),
        ours: summarize(t.oursAdd),
        oursWithoutQueueCheck: summarize(t.oursAddNoStage),
        ratio: ratio(t.oursAdd, t.ganetiAdd),
        ratioWithoutQueueCheck: ratio(t.oursAddNoStage, t.ganetiAdd),
      },
      nicRemove: {
        ganeti: summarize(t.ganetiRemove),
        ours: summarize(t.oursRemove),
        oursWithoutQueueCheck: summarize(t.oursRemoveNoStage),
        ratio: ratio(t.oursRemove, t.ganetiRemove),
        ratioWithoutQueueCheck: ratio(t.oursRemoveNoStage, t.ganetiRemove),
      },
      configFirstNicAdd: {
        ours: summarize(t.configFirstAdd),
        ganeti: summarize(t.ganetiAdd),
        ratio: ratio(t.configFirstAdd, t.ganetiAdd),
        stepsP50Ms: Object.fromEntries([...stepMs].map(([k, v]) => [k, summarize(v).p50Ms])),
        landedOnChosenSlot: `${landed.filter(Boolean).length}/${landed.length} at 0x${configFirstSlot.toString(16)} under Ganeti's id`,
        target: { rule: "p50 ratio <= 1.25 (ours over Ganeti's own --hotplug add), on the chosen slot every time", ratioMax: 1.25, pass: summarize(t.configFirstAdd).p50Ms / summarize(t.ganetiAdd).p50Ms <= 1.25 && landed.every(Boolean) },
        what: "HotplugChanges.now with the Ganeti stage: Ganeti's config-only gnt-instance modify --net add on the master (its job), then our hot-add at the chosen slot under the QEMU id Ganeti derives from its uuid, runtime file and nic file written",
      },
      throughGanetiNicRemove: {
        ours: summarize(t.throughGanetiRemove),
        ganeti: summarize(t.ganetiRemove),
        ratio: ratio(t.throughGanetiRemove, t.ganetiRemove),
        what: "removing a NIC Ganeti knows through the app: Ganeti's own gnt-instance modify --hotplug --net UUID:remove, with the app's job-queue checks and verify around it",
      },
      queueCheck: { ...brief(queueMs), samples: queueMs.length, what: "one ask of the master's job queue (gnt-job list over SSH), before or after a change" },
      note: "Ganeti: gnt-instance modify --hotplug on the master over an open SSH connection (its CLI, job queue, RPC to node 2, QMP there), to its return. Ours: HotplugChanges.now over an open SSH connection to node 2, request to done and recorded (runtime file only; Ganeti's configuration is not told), with and without the Ganeti stage.",
    };
  } finally {
    for (const s of sessions) s.close();
    await rm(journalDir, { recursive: true, force: true });
    const { leftovers } = await lab.stop();
    if (leftovers.length) log(`ganeti lab: teardown left ${leftovers.join("; ")}`);
  }
}

/** The uuids of the instance's NICs in Ganeti's configuration, in order. */
async function nicUuids(master: NodeSession): Promise<string[]> {
  const r = await execOnNode(master, ["gnt-instance", "list", "--no-headers", "-o", "nic.uuids", NAME], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`gnt-instance list failed: ${r.stderr.trim()}`);
  // A list field prints as Python's list: ['uuid', 'uuid'].
  return r.stdout.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? [];
}

/** Until the guest's init answers on its serial console (through the node's session). */
async function waitForGuest(node: NodeSession): Promise<void> {
  const console = new GuestConsole(await node.openUnixSocket(kvmPaths(NAME).serial));
  try {
    await console.waitReady(120_000);
  } finally {
    console.close();
  }
}
