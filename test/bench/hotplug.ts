// Hotplug latency against a lab node with a booted guest: the app's own path
// (read the instance over SSH, plan, execute with lock, QMP, verify and the
// journaled runtime write) next to the floor (the same QMP commands sent
// straight to the instance's local socket), alternating so the two see the
// same machine state and slots never run out.
import { sessionTarget } from "../../electron/lab/sshd.js";
import { connect } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance } from "../../electron/lab/instances.js";
import { GuestConsole } from "../lab/guest-console.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { gatherInstance } from "../../electron/inventory/node-inventory.js";
import { gatherInstanceState } from "../../electron/hotplug/state.js";
import { HotplugChanges } from "../../electron/hotplug/change.js";
import { planHotplug, type ChangeOutcome, type ChangeRequestInput, type HotplugIntentInput, type PlanOk, type PlanStep, type ProgressKind, type QmpStep, type StepProgress } from "../../shared/hotplug/index.js";
import { newDeviceUuid, newMac } from "../../electron/hotplug/index.js";
import { QmpFloor, type FloorRequest } from "./floor.js";
import { execOnNode } from "../../electron/on-node/exec.js";
import { RuntimeStore } from "../../electron/on-node/runtime-store.js";
import { openQmp } from "../../electron/hotplug/qmp-session.js";
import { brief, round, summarize } from "./stats.js";

const NAME = "hp.lab";
const NODE_ID = "bench";
const execFileP = promisify(execFile);
const SETTLE_MS = 40;

type Op = "nicAdd" | "nicRemove" | "diskAdd" | "diskRemove";

/** Step categories of the breakdown, in the order a run passes them. */
type Phase = "read" | "plan" | "precheck" | "node" | "passFd" | "qmp" | "guestRelease" | "verify" | "write" | "ganeti" | "finish" | "other";

interface AppRun {
  totalMs: number;
  /** From executePlan's start (the UI's Apply, plan already made) to done and recorded. */
  applyMs: number;
  phases: Partial<Record<Phase, number>>;
}

function phaseOf(kind: ProgressKind): Phase {
  switch (kind) {
    case "precheck":
      return "precheck";
    case "ganeti-jobs":
    case "repair-runtime":
      return "ganeti";
    case "qmp":
      return "qmp";
    case "wait-device-deleted":
      return "guestRelease";
    case "verify":
      return "verify";
    case "write-runtime":
      return "write";
    case "node-pass-fd":
      // The session's python helper, which also sends this step's QMP commands.
      return "passFd";
    default:
      // tap create/remove, nic file: the session's python helper.
      return "node";
  }
}

export interface HotplugOptions {
  runs: number;
  log: (line: string) => void;
}

export async function benchHotplug(opts: HotplugOptions): Promise<Record<string, unknown>> {
  const { log } = opts;
  const node = await LabNode.start({ log });
  const journalDir = await mkdtemp(join(tmpdir(), "hdbench-journal-"));
  let session: NodeSession | undefined;
  let guest: GuestConsole | undefined;
  const floorTaps = new Set<string>();
  const qf = QmpFloor.start();
  try {
    const inst = await startLabInstance(node, { name: NAME, generation: "C", nics: 1, disks: [], memoryMiB: 128 });
    // device_del only completes once a guest releases the device: wait for it to boot.
    guest = new GuestConsole(connect(inst.paths.serial));
    log("hotplug: waiting for the guest to boot");
    await guest.waitReady(120_000);
    const diskPaths = [await node.createDisk(NAME, 1, 8), await node.createDisk(NAME, 2, 8)];
    session = await NodeSession.open(sessionTarget(node.info));
    const s = session;
    const journal = new Journal(journalDir);
    const link = node.network.bridge ?? "br-lab";

    /** Read and plan as the app's hotplug.plan does for the review dialog (no lock): gatherInstanceState, planHotplug. */
    const readAndPlan = async (intent: HotplugIntentInput): Promise<{ plan: PlanOk; expected: Buffer; readMs: number; planMs: number }> => {
      const t0 = performance.now();
      const g = await gatherInstanceState(s, NAME, { root: node.root, nodeId: NODE_ID, nicTaps: intent.action === "remove" });
      const t1 = performance.now();
      const plan = planHotplug(g.state, intent);
      const t2 = performance.now();
      if (!plan.ok) throw new Error(`plan refused: ${plan.refusals.map((r) => r.message).join("; ")}`);
      return { plan, expected: g.expectedRuntime, readMs: t1 - t0, planMs: t2 - t1 };
    };

    /**
     * One change, from the request to "done and recorded", through the one change path the app and the CLI
     * use (HotplugChanges), with the executor's step timestamps.
     * "request" is the CLI's path (`changes.now`: the lock is taken first and the instance read under it,
     * then planned and executed). "review" is the UI's: `changes.review` when the review dialog opens (read and
     * plan without the lock), then `changes.apply` at Apply (the lock taken, the file checked unchanged);
     * applyMs is that Apply alone.
     */
    const changes = new HotplugChanges({ journal });
    const target = { session: s, nodeId: NODE_ID, root: node.root };
    const appRun = async (request: ChangeRequestInput, mode: "request" | "review"): Promise<AppRun & { plan: PlanOk }> => {
      const events: { e: StepProgress; t: number }[] = [];
      const progress = (e: StepProgress) => void events.push({ e, t: performance.now() });
      const t0 = performance.now();
      let plan: PlanOk;
      let outcome: ChangeOutcome;
      let tApply: number;
      const phases: Partial<Record<Phase, number>> = {};
      if (mode === "request") {
        const r = await changes.now(target, NAME, request, { report: { progress } });
        if (r.status === "refused") throw new Error(`plan refused: ${r.refusals.map((x) => x.message).join("; ")}`);
        if (r.status === "dry-run") throw new Error("not a dry run");
        ({ plan, outcome } = r);
        phases.read = r.timings.readMs;
        phases.plan = r.timings.planMs;
        tApply = t0 + r.timings.readMs + r.timings.planMs;
      } else {
        const reviewed = await changes.review(target, NAME, request);
        if (!reviewed.ok) throw new Error(`plan refused: ${reviewed.refusals.map((x) => x.message).join("; ")}`);
        tApply = performance.now();
        plan = reviewed.kept.plan;
        outcome = await changes.apply(changes.kept.take(reviewed.kept.planId)!, async () => target, { progress });
      }
      const tEnd = performance.now();
      if (!outcome.ok) throw new Error(`execution failed: ${outcome.error.message}`);
      const started = new Map<number, number>();
      for (const { e, t } of events) {
        if (e.state === "running") started.set(e.index, t);
        else if (e.state === "done") {
          const ph = phaseOf(e.kind);
          phases[ph] = (phases[ph] ?? 0) + (t - (started.get(e.index) ?? t));
        }
      }
      // Lock release and QMP close after the last step.
      phases.finish = tEnd - (events.at(-1)?.t ?? tEnd);
      // Whatever no step accounts for: the executor's setup, between-step bookkeeping.
      phases.other = tEnd - t0 - Object.values(phases).reduce((a, b) => a + b, 0);
      return { totalMs: tEnd - t0, applyMs: tEnd - tApply, phases, plan };
    };

    /**
     * Every timed change (the app's and the floor's alike) starts from a guest
     * that has settled: a hotplug or unplug keeps the guest (and QEMU's main
     * loop) busy for a few ms after it returns, which would bill one run for
     * the one before it.
     */
    const settled = async <T>(fn: () => Promise<T>): Promise<T> => {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      return fn();
    };

    const qmpCallsOf = (plan: PlanOk): QmpStep[] => plan.steps.flatMap((st) => (st.kind === "qmp" ? [st] : st.kind === "node-pass-fd" ? st.commands : []));

    /** The floor request for a plan: its QMP commands, with the tap fd passed the way the plan passes it. */
    const floorOf = (plan: PlanOk): FloorRequest => {
      const req: FloorRequest = { socket: inst.paths.qmp, commands: qmpCallsOf(plan).map((c) => ({ command: c.command, arguments: c.arguments })) };
      for (const st of plan.steps) {
        if (st.kind !== "node-pass-fd") continue;
        if (st.mechanism !== "getfd" || st.source.type !== "tap" || st.source.vhost) throw new Error(`the QMP floor cannot pass fds for: ${st.describe}`);
        req.tap = st.source.tap;
        req.fdname = st.fdnames[0];
      }
      return req;
    };

    // What one round trip of each kind costs here: explains the step figures.
    const rt = async (fn: () => Promise<unknown>, pauseMs = 0) => {
      const ms: number[] = [];
      for (let k = 0; k < 11; k++) {
        const t0 = performance.now();
        await fn();
        if (k > 0) ms.push(performance.now() - t0);
        // Untimed: QEMU takes the next QMP client only once the last one is gone.
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      }
      return brief(ms);
    };
    const diagnostics = {
      sshExecTrue: await rt(() => execOnNode(s, ["true"])),
      sshExecPython3: await rt(() => execOnNode(s, ["python3", "-c", "pass"])),
      sftpReadRuntime: await rt(() => new RuntimeStore(s, NODE_ID).readRuntimeFile(node.root, NAME)),
      qmpOverSshOpen: await rt(async () => (await openQmp(s, inst.paths.qmp)).close(), 150),
      gatherInstance: await rt(() => gatherInstance(s, NAME, { nodeId: NODE_ID, root: node.root }), 150),
      note: "one round trip each over the warm SSH connection: exec of `true`, exec of `python3 -c pass`, an SFTP read of the runtime file, a QMP session opened (greeting, capabilities, query-commands) and closed, one gatherInstance (SFTP read + QMP probe)",
    };

    const app: Record<Op, AppRun[]> = { nicAdd: [], nicRemove: [], diskAdd: [], diskRemove: [] };
    const review: Record<"nicAdd" | "diskAdd", AppRun[]> = { nicAdd: [], diskAdd: [] };
    const floor: Record<Op, number[]> = { nicAdd: [], nicRemove: [], diskAdd: [], diskRemove: [] };
    const floorCommands: Partial<Record<Op, string[]>> = {};
    const total = opts.runs + 1;
    for (let n = 0; n < total; n++) {
      // Run 0 warms the connection, the SFTP channel and QEMU's code paths; it is not counted.
      const keep = n > 0;
      if (n % 5 === 0) log(`hotplug: round ${n}/${opts.runs}`);

      // NIC: the app adds then removes; the floor does the same with the commands a plan would send.
      const nicUuid = newDeviceUuid();
      const add = await settled(() => appRun({ action: "add-nic", uuid: nicUuid, mac: newMac(), link }, "request"));
      const del = await settled(() => appRun({ action: "remove", kind: "nic", ref: nicUuid }, "request"));
      // The same change through the review dialog's path, for the Apply figure.
      const reviewUuid = newDeviceUuid();
      const reviewAdd = await settled(() => appRun({ action: "add-nic", uuid: reviewUuid, mac: newMac(), link }, "review"));
      await settled(() => appRun({ action: "remove", kind: "nic", ref: reviewUuid }, "review"));
      // The floor's devices come from a plan too (not executed), so the commands are the app's own.
      const fNicAdd = floorOf((await readAndPlan({ action: "add-nic", uuid: newDeviceUuid(), mac: newMac(), link })).plan);
      const fNicId = String(fNicAdd.commands.find((c) => c.command === "device_add")?.arguments?.id);
      const netdevArgs = fNicAdd.commands.find((c) => c.command === "netdev_add")?.arguments ?? {};
      if (typeof netdevArgs.ifname === "string") floorTaps.add(netdevArgs.ifname);
      if (fNicAdd.tap) floorTaps.add(fNicAdd.tap);
      const fNicDel: FloorRequest = {
        socket: inst.paths.qmp,
        commands: [
          { command: "device_del", arguments: { id: fNicId } },
          { command: "netdev_del", arguments: { id: String(netdevArgs.id) } },
        ],
        deleted: fNicId,
      };
      const fa = await settled(() => qf.run(fNicAdd));
      const fd = await settled(() => qf.run(fNicDel));

      // Disk (virtio-blk from a file on the node), same pattern.
      const diskUuid = newDeviceUuid();
      const dAdd = await settled(() => appRun({ action: "add-disk", uuid: diskUuid, path: diskPaths[0]!, bus: "pci", sizeMiB: 8 }, "request"));
      const dDel = await settled(() => appRun({ action: "remove", kind: "disk", ref: diskUuid }, "request"));
      const reviewDisk = newDeviceUuid();
      const reviewDiskAdd = await settled(() => appRun({ action: "add-disk", uuid: reviewDisk, path: diskPaths[0]!, bus: "pci", sizeMiB: 8 }, "review"));
      await settled(() => appRun({ action: "remove", kind: "disk", ref: reviewDisk }, "review"));
      const fDiskAdd = floorOf((await readAndPlan({ action: "add-disk", uuid: newDeviceUuid(), path: diskPaths[1]!, bus: "pci", sizeMiB: 8 })).plan);
      const fDiskId = String(fDiskAdd.commands.find((c) => c.command === "device_add")?.arguments?.id);
      const nodeName = fDiskAdd.commands.find((c) => c.command === "blockdev-add")?.arguments?.["node-name"];
      const fDiskDel: FloorRequest = {
        socket: inst.paths.qmp,
        commands: [{ command: "device_del", arguments: { id: fDiskId } }, ...(typeof nodeName === "string" ? [{ command: "blockdev-del", arguments: { "node-name": nodeName } }] : [])],
        deleted: fDiskId,
      };
      const fda = await settled(() => qf.run(fDiskAdd));
      const fdd = await settled(() => qf.run(fDiskDel));

      if (n === 0) {
        const names = (r: FloorRequest) => [...(r.tap ? ["open tap + getfd (SCM_RIGHTS)"] : []), ...r.commands.map((c) => c.command)];
        floorCommands.nicAdd = names(fNicAdd);
        floorCommands.nicRemove = names(fNicDel);
        floorCommands.diskAdd = names(fDiskAdd);
        floorCommands.diskRemove = names(fDiskDel);
        log(`hotplug: app steps nicAdd=[${add.plan.steps.map(stepName).join(", ")}] nicRemove=[${del.plan.steps.map(stepName).join(", ")}]`);
        log(`hotplug: app steps diskAdd=[${dAdd.plan.steps.map(stepName).join(", ")}] diskRemove=[${dDel.plan.steps.map(stepName).join(", ")}]`);
      }
      if (keep) {
        app.nicAdd.push(add);
        app.nicRemove.push(del);
        app.diskAdd.push(dAdd);
        app.diskRemove.push(dDel);
        review.nicAdd.push(reviewAdd);
        review.diskAdd.push(reviewDiskAdd);
        floor.nicAdd.push(fa);
        floor.nicRemove.push(fd);
        floor.diskAdd.push(fda);
        floor.diskRemove.push(fdd);
      }
    }

    const report = (op: Op) => {
      const runs = app[op];
      const sum = summarize(runs.map((r) => r.totalMs));
      const fl = summarize(floor[op]);
      const phases = new Set(runs.flatMap((r) => Object.keys(r.phases) as Phase[]));
      const steps: Record<string, { p50Ms: number; p95Ms: number }> = {};
      for (const ph of phases) steps[ph] = brief(runs.map((r) => r.phases[ph] ?? 0));
      const rv = op === "nicAdd" || op === "diskAdd" ? review[op] : [];
      const reviewFigures =
        rv.length > 0
          ? (() => {
              const whole = summarize(rv.map((r) => r.totalMs));
              const apply = summarize(rv.map((r) => r.applyMs));
              return {
                review: {
                  p50Ms: whole.p50Ms,
                  p95Ms: whole.p95Ms,
                  ratio: round(whole.p50Ms / fl.p50Ms),
                  apply: { p50Ms: apply.p50Ms, p95Ms: apply.p95Ms, ratio: round(apply.p50Ms / fl.p50Ms) },
                  note: "the UI's path: changes.review (read and plan without the lock) when the review dialog opens, then changes.apply at Apply (the lock taken, the file checked still what the plan saw); apply is Apply alone",
                },
              };
            })()
          : {};
      return {
        ...sum,
        ...reviewFigures,
        steps,
        floor: { ...fl, commands: ["connect+greeting", "qmp_capabilities", ...(floorCommands[op] ?? []).flatMap((c) => (c === "device_del" ? [c, "wait DEVICE_DELETED"] : [c])), "query-pci"] },
        ratio: round(sum.p50Ms / fl.p50Ms),
      };
    };
    const nicAdd = report("nicAdd");
    return {
      instance: `${NAME}: generation C, booted guest (TCG), ${node.network.mode === "tap" ? "tap NICs on a bridge" : "user-mode NICs"}`,
      path: "the CLI's request over a warm SSH connection, through the change path the app and the CLI share (HotplugChanges.now): gatherInstanceStateLocked (lock + runtime bytes under it, QMP bus read) -> complete the request, planComposed -> executePlan (node steps, QMP, verify, journaled runtime write, unlock)",
      nicAdd: {
        ...nicAdd,
        target: { rule: "ratio <= 3 and p50 < 150 ms", ratioMax: 3, p50MaxMs: 150, pass: nicAdd.ratio <= 3 && nicAdd.p50Ms < 150 },
      },
      diskAdd: report("diskAdd"),
      nicRemove: report("nicRemove"),
      diskRemove: report("diskRemove"),
      steps:
        "read = gatherInstanceStateLocked: one request to the session's long-lived python3 node helper takes the flock and returns the runtime file's bytes read under it, while a QMP session over SSH streamlocal sends its negotiation and bus reads as one batch (read again under the lock if the lock changed hands since the read began) and SFTP checks the shutdown marker, all at once; plan = complete the request and planComposed (planHotplug for one intent); precheck = the file-unchanged check against the bytes read under the lock (no round trip); node = the first answer of the chain of node-side steps (tap via ioctls), sent in one packet with the fd pass and the nic file, each run only if the one before it succeeded; passFd = the chain's fd pass: the tap fd passed with getfd, netdev_add/device_add and a query-pci read in the same QMP session on the node; qmp = QMP over SSH streamlocal; guestRelease = wait for DEVICE_DELETED; verify = query-pci (for a NIC add: the passFd step's read, no round trip); write = one helper request doing the compare-and-swap write on the node and freeing the lock (the journal's pending entry was made while the live steps ran), then the entry marked applied; finish = after the last step; other = outside any step",
      settleMs: SETTLE_MS,
      settle: "every timed change, the app's and the floor's alike, starts SETTLE_MS after the previous one ended, so a guest still busy with the last hotplug or unplug does not bill one run for the one before it",
      floorHow: "a long-lived python3 process on the same machine speaking QMP to ctrl/<instance>.qmp directly, timed inside python around connect..close",
      diagnostics,
    };
  } finally {
    qf.stop();
    guest?.close();
    session?.close();
    await node.stop();
    // Floor taps are not persistent and vanish with their netdev; make sure.
    for (const t of floorTaps) await execFileP("ip", ["link", "del", t]).catch(() => undefined);
    await rm(journalDir, { recursive: true, force: true });
  }
}

function stepName(st: PlanStep): string {
  return st.kind === "qmp" ? st.command : st.kind === "node-pass-fd" ? `pass-fd(${st.commands.map((c) => c.command).join("+")})` : st.kind;
}
