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
import { NodeSession } from "../../electron/ssh/session.js";
import { execOnNode } from "../../electron/on-node/exec.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { HotplugChanges, type ChangeTarget } from "../../electron/hotplug/change.js";
import { newDeviceUuid, newMac } from "../../electron/hotplug/ids.js";
import type { ChangeRequestInput, StepProgress } from "../../shared/hotplug/index.js";
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
    const ours = async (target: ChangeTarget, request: ChangeRequestInput): Promise<number> => {
      const started = new Map<number, number>();
      const progress = (p: StepProgress) => {
        if (p.kind !== "ganeti-jobs") return;
        if (p.state === "running" && !started.has(p.index)) started.set(p.index, performance.now());
        if (p.state === "done") queueMs.push(performance.now() - (started.get(p.index) ?? performance.now()));
      };
      const t0 = performance.now();
      const r = await changes.now(target, NAME, request, { report: { progress } });
      const ms = performance.now() - t0;
      if (r.status !== "done") throw new Error(`our change ended ${r.status}: ${JSON.stringify("outcome" in r ? r.outcome : r)}`);
      return ms;
    };

    const t = { ganetiAdd: [] as number[], ganetiRemove: [] as number[], oursAdd: [] as number[], oursRemove: [] as number[], oursAddNoStage: [] as number[], oursRemoveNoStage: [] as number[] };
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

/** Until the guest's init answers on its serial console (through the node's session). */
async function waitForGuest(node: NodeSession): Promise<void> {
  const console = new GuestConsole(await node.openUnixSocket(kvmPaths(NAME).serial));
  try {
    await console.waitReady(120_000);
  } finally {
    console.close();
  }
}
