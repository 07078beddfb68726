// The app's API, transport-neutral: Electron IPC and the web host both
// reach these handlers through the Dispatcher. Each handler does one thing
// with the node services; planning is pure (shared/hotplug) and execution
// goes through the executor, with progress and outcomes pushed as events.
import { randomUUID } from "node:crypto";
import type { NodeManager } from "../node-registry/node-manager.js";
import type { NodeSession } from "../ssh/session.js";
import type { NodeConfig, NodeConfigInput } from "../../shared/node-registry/schema.js";
import type { ActivityEntry, AppInfo, NodeView, PlanPreview, UiIntent } from "../../shared/ipc/contract.js";
import { planHotplug, type HotplugIntent, type PlanOk, type PlanStep } from "../../shared/hotplug/index.js";
import { readRuntime, type Nic } from "../../shared/runtime/index.js";
import { summarize } from "../../shared/inventory/view.js";
import { comparableOf, diffInventory } from "../../shared/inventory/diff.js";
import { gatherInstanceState } from "../hotplug/state.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { gatherInstance, loadNodeInventory, type GatheredInstance } from "../inventory/node-inventory.js";
import { ActivityLog } from "./activity-log.js";
import { importSshConfig } from "../node-registry/ssh-config-import.js";
import { ApiError, EventBus, type Handlers } from "./dispatch.js";
import { newDeviceUuid, newMac } from "../hotplug/ids.js";
import type { PassphraseStore } from "./passphrase-store.js";
import { NO_TRUST_GESTURE, trustHostKeyWithGesture, type TrustGesture } from "../node-registry/trust-gesture.js";

export interface StepProgress {
  index: number;
  total: number;
  kind: string;
  describe: string;
  state: "running" | "done" | "failed" | "undoing" | "undone" | "waiting-guest";
  message?: string;
}

export type RunPlanResult = { ok: true; message?: string } | { ok: false; error: string; failedStep?: string; undone: string[] };

/** Runs a plan on a node (the hotplug executor, adapted). */
export type RunPlan = (args: {
  session: NodeSession;
  node: NodeConfig;
  instance: string;
  plan: PlanOk;
  expectedRuntime: Buffer;
  planId: string;
  onProgress: (p: StepProgress) => void;
}) => Promise<RunPlanResult>;

export interface LabLauncher {
  available(): boolean;
  running(): boolean;
  /**
   * Start a lab node. Its host key is known for certain (the launcher made
   * it), so it comes back as a known_hosts line to trust.
   */
  start(): Promise<{ config: NodeConfigInput; knownHostsLine: string }>;
  stopAll(): Promise<void>;
}

export interface ServiceDeps {
  nodes: NodeManager;
  /** Key-file passphrases (this run, and the keychain where it can encrypt). */
  passphrases: PassphraseStore;
  /** Add a line to the app's own known_hosts. */
  trustKnownHostsLine: (line: string) => Promise<void>;
  /** How this transport asks the user to confirm a host key (none: trust is refused). */
  trustGesture?: TrustGesture;
  activity: ActivityLog;
  bus: EventBus;
  runPlan: RunPlan;
  lab?: LabLauncher;
  version: string;
  transport: AppInfo["transport"];
  /** How often ready nodes are re-read to notice changes made outside the app; 0 turns it off. */
  watchIntervalMs?: number;
}

interface StoredPlan {
  planId: string;
  nodeId: string;
  instance: string;
  summary: string;
  plan: PlanOk;
  expectedRuntime: Buffer;
  createdAt: number;
}

/** A reviewed plan may be applied for this long; after that the user reviews again. */
const PLAN_TTL_MS = 10 * 60_000;

function describeIntent(i: UiIntent, instance: string): string {
  switch (i.action) {
    case "add-nic":
      return `Add a NIC to ${instance}${i.slot !== undefined ? ` at slot 0x${i.slot.toString(16).padStart(2, "0")}` : ""}`;
    case "add-disk":
      return `Add disk ${i.path} to ${instance} on ${i.bus === "pci" ? "PCI" : "SCSI"}`;
    case "remove":
      return `Unplug ${i.kind} ${i.ref} from ${instance}`;
    case "modify-nic":
      return `Change NIC ${i.ref} of ${instance}`;
    case "move-nic":
      return `Move NIC ${i.ref} of ${instance} to slot 0x${i.slot.toString(16).padStart(2, "0")}`;
  }
}

function stepDetail(step: PlanStep): Record<string, unknown> {
  const { describe: _d, ...rest } = step;
  return rest as Record<string, unknown>;
}

export function createService(deps: ServiceDeps): { handlers: Handlers; dispose(): void } {
  const plans = new Map<string, StoredPlan>();
  /** Operations in flight per node: the watcher leaves those nodes alone. */
  const busyNodes = new Map<string, number>();
  const nodeView = (id: string): NodeView => {
    const config = deps.nodes.list().find((n) => n.id === id);
    const status = deps.nodes.status(id);
    if (!config || !status) throw new ApiError(`No node with id ${JSON.stringify(id)}: it may have been removed. Refresh the node list.`, "unknown-node");
    return { config, status, passphraseKept: deps.passphrases.knows(id) };
  };
  const nodeConfig = (id: string) => nodeView(id).config;
  const readersOf = (node: NodeConfig) => {
    const peers = (node.migrationPeers ?? []).map((p) => deps.nodes.list().find((n) => n.id === p)?.ganetiVersion);
    const versions = [node.ganetiVersion, ...peers].filter((v): v is string => typeof v === "string");
    return { ganetiVersions: versions, ...(node.generationFloor ? { floor: node.generationFloor } : {}) };
  };
  const gather = async (nodeId: string, instance: string): Promise<{ session: NodeSession; node: NodeConfig; g: GatheredInstance }> => {
    const node = nodeConfig(nodeId);
    const session = await deps.nodes.session(nodeId);
    const g = await gatherInstance(session, instance, { nodeId, root: node.root, ganetiVersion: node.ganetiVersion });
    return { session, node, g };
  };
  const log = async (e: Omit<ActivityEntry, "id" | "at">) => deps.bus.emit("activity.added", await deps.activity.add(e));

  const unsubscribe = deps.nodes.subscribe((e) => {
    if (e.type === "status") deps.bus.emit("node.status", e.status);
  });

  /** UI intent → planner intent: identities are made here, defaults from the instance. */
  const fullIntent = (i: UiIntent, nics: Nic[]): HotplugIntent | { error: string } => {
    switch (i.action) {
      case "add-nic": {
        const link = i.link ?? (nics.find((n) => n.nicparams && typeof (n.nicparams as Record<string, unknown>).link === "string")?.nicparams as Record<string, string> | undefined)?.link;
        if (!link) return { error: "This instance has no NIC to copy a link from: say which bridge the new NIC joins (link), e.g. br0." };
        return { action: "add-nic", uuid: newDeviceUuid(), mac: i.mac ?? newMac(), link, ...(i.model ? { model: i.model } : {}), ...(i.slot !== undefined ? { slot: i.slot } : {}) };
      }
      case "add-disk":
        return { action: "add-disk", uuid: newDeviceUuid(), path: i.path, bus: i.bus, ...(i.slot !== undefined ? { slot: i.slot } : {}), ...(i.scsiId !== undefined ? { scsiId: i.scsiId } : {}) };
      case "remove":
        return { action: "remove", kind: i.kind, ref: i.ref };
      case "modify-nic":
        return { action: "modify-nic", ref: i.ref, ...(i.mac ? { mac: i.mac } : {}), ...(i.link ? { link: i.link } : {}) };
      case "move-nic":
        return { error: "internal: move-nic is planned in two parts" };
    }
  };

  const handlers: Handlers = {
    "app.info": async () => {
      const secrets = await deps.passphrases.availability();
      return {
        version: deps.version,
        transport: deps.transport,
        labAvailable: deps.lab?.available() ?? false,
        labRunning: deps.lab?.running() ?? false,
        secretStorage: secrets.ok ? { available: true } : { available: false, reason: secrets.reason },
      };
    },

    "nodes.list": async () => deps.nodes.list().map((c) => nodeView(c.id)),

    "nodes.add": async (req) => {
      const config = await deps.nodes.addFromRequest(req);
      void deps.nodes.connect(config.id).catch(() => {});
      await log({ nodeId: config.id, summary: `Added node ${config.name} (${config.user}@${config.host}:${config.port})`, outcome: "info" });
      return nodeView(config.id);
    },

    "nodes.remove": async ({ nodeId }) => {
      await deps.nodes.remove(nodeId);
      // A node added later under the same id must not inherit the key's passphrase.
      await deps.passphrases.forget(nodeId).catch(async (err: unknown) => {
        await log({ nodeId, summary: "Could not remove the removed node's passphrase from the keychain", outcome: "failed", detail: err instanceof Error ? err.message : String(err) });
      });
      return {};
    },

    // The passphrase goes to the passphrase store and the node manager only:
    // no response, activity entry or error below contains it.
    "nodes.setPassphrase": async ({ nodeId, passphrase, remember }) => {
      const config = nodeConfig(nodeId);
      const key = await deps.nodes.checkKeyPassphrase(nodeId);
      if (!key.encrypted) {
        throw new ApiError(`The key file of ${config.name} has no passphrase: nothing to enter. Connect the node instead.`, "not-encrypted");
      }
      let outcome: { remembered: boolean; reason?: string };
      if (remember && (await deps.passphrases.availability()).ok && !(await deps.nodes.checkKeyPassphrase(nodeId, passphrase)).opens) {
        // Only a passphrase that opens the key goes into the keychain.
        await deps.passphrases.set(nodeId, passphrase, { remember: false });
        outcome = { remembered: false, reason: "It does not open the key file, so it was not remembered." };
      } else {
        const r = await deps.passphrases.set(nodeId, passphrase, { remember });
        outcome = r.remembered ? { remembered: true } : { remembered: false, reason: r.reason };
      }
      const status = await deps.nodes.reconnect(nodeId);
      const wrong = status.needs === "passphrase";
      const kept = wrong ? "it was wrong and is not kept" : outcome.remembered ? "remembered in the system keychain" : `kept until the app quits${remember ? ` (not remembered: ${outcome.reason})` : ""}`;
      await log({
        nodeId,
        summary: `Passphrase entered for the key file of ${config.name}: ${kept}`,
        outcome: wrong ? "failed" : "info",
        ...(wrong && status.detail ? { detail: status.detail } : {}),
      });
      return {
        ...nodeView(nodeId),
        remembered: !wrong && outcome.remembered,
        ...(wrong ? { rememberReason: "The passphrase is wrong: it does not open the key file." } : outcome.remembered ? {} : { rememberReason: outcome.reason }),
      };
    },

    "nodes.forgetPassphrase": async ({ nodeId }) => {
      const config = nodeConfig(nodeId);
      await deps.passphrases.forget(nodeId);
      await log({ nodeId, summary: `Forgot the passphrase for the key file of ${config.name} (in memory and in the system keychain); it is asked for at the next connection`, outcome: "info" });
      return {};
    },

    "nodes.importSshConfig": async () => importSshConfig(),

    "nodes.connect": async ({ nodeId }) => {
      await deps.nodes.connect(nodeId);
      return nodeView(nodeId);
    },

    // Host-key trust (issue 13): only with the user's gesture, through the transport's port.
    "nodes.trustHostKey": async (req) => {
      const r = await trustHostKeyWithGesture(deps.nodes, deps.trustGesture ?? NO_TRUST_GESTURE, req);
      if (r.outcome !== "code-needed") await log({ nodeId: req.nodeId, ...r.activity });
      return r.outcome === "trusted" ? { outcome: "trusted", node: nodeView(req.nodeId) } : r.outcome === "declined" ? { outcome: "declined", reason: r.reason } : r;
    },

    "inventory.list": async ({ nodeId }) => {
      const targets = deps.nodes.list().filter((n) => nodeId === undefined || n.id === nodeId);
      // Nodes in parallel; a node that is not ready contributes nothing rather than failing the list.
      const perNode = await Promise.all(
        targets.map(async (node) => {
          if (deps.nodes.status(node.id)?.state !== "ready") return [];
          const session = await deps.nodes.session(node.id, 5000);
          const views = await loadNodeInventory(session, { nodeId: node.id, root: node.root, ganetiVersion: node.ganetiVersion });
          return views.map(summarize);
        }),
      );
      return perNode.flat();
    },

    "instance.get": async ({ nodeId, instance }) => (await gather(nodeId, instance)).g.view,

    "runtime.get": async ({ nodeId, instance }) => {
      const { node, g } = await gather(nodeId, instance);
      const path = instancePaths(node.root, instance).runtime;
      const text = g.facts.runtimeText ?? "";
      return {
        nodeId,
        instance,
        path,
        text,
        ...(g.view.generation ? { generation: g.view.generation } : {}),
        notes: g.view.notes,
        ...(g.view.runtimeError ? { error: g.view.runtimeError } : {}),
      };
    },

    "hotplug.plan": async ({ nodeId, instance, intent }): Promise<PlanPreview> => {
      const summary = describeIntent(intent, instance);
      const refuse = (message: string, code = "not-possible"): PlanPreview => ({ ok: false, nodeId, instance, summary, refusals: [{ code, message }] });
      const node = nodeConfig(nodeId);
      const session = await deps.nodes.session(nodeId);
      let gathered;
      try {
        gathered = await gatherInstanceState(session, instance, {
          root: node.root,
          nodeId,
          ...(readersOf(node).ganetiVersions.length > 0 ? { readers: readersOf(node) } : {}),
          // Tap names only matter when a NIC leaves the bus.
          nicTaps: intent.action !== "add-nic" && intent.action !== "add-disk",
        });
      } catch (err) {
        return refuse(err instanceof Error ? err.message : String(err), "runtime-unreadable");
      }
      const state = gathered.state;

      let plan;
      if (intent.action === "move-nic") {
        // Ganeti has no "move": unplug, then plug the same NIC (uuid, MAC, link) at the new slot.
        const found = state.runtime.runtime.nics.find((n) => n.uuid === intent.ref || n.hvinfo?.id === intent.ref);
        if (!found || !found.uuid || !found.mac) return refuse(`No NIC ${intent.ref} with a uuid and MAC in the runtime file of ${instance}.`, "unknown-ref");
        const removal = planHotplug(state, { action: "remove", kind: "nic", ref: intent.ref });
        if (!removal.ok) return { ok: false, nodeId, instance, summary, refusals: removal.refusals };
        const removedId = found.hvinfo?.id;
        const afterRemoval = {
          ...state,
          runtime: readRuntime(removal.fileTextAfter),
          livePci: state.livePci ? state.livePci.filter((d) => d.qdevId !== removedId) : null,
        };
        const np = (found.nicparams ?? {}) as Record<string, unknown>;
        const addition = planHotplug(afterRemoval, {
          action: "add-nic",
          uuid: found.uuid,
          mac: found.mac,
          link: typeof np.link === "string" ? np.link : "",
          ...(typeof np.mode === "string" ? { mode: np.mode } : {}),
          slot: intent.slot,
        });
        if (!addition.ok) return { ok: false, nodeId, instance, summary, refusals: addition.refusals };
        plan = {
          ...addition,
          // The file is written once, at the end, from the bytes read now.
          steps: [...removal.steps.filter((s) => s.kind !== "write-runtime"), ...addition.steps],
          fileDiff: [...removal.fileDiff, ...addition.fileDiff],
          warnings: [...removal.warnings, ...addition.warnings],
        };
      } else {
        const full = fullIntent(intent, state.runtime.runtime.nics);
        if ("error" in full) return refuse(full.error, "invalid-intent");
        plan = planHotplug(state, full);
        if (!plan.ok) {
          await log({ nodeId, instance, summary: `${summary}: refused`, outcome: "refused", detail: plan.refusals.map((r) => r.message).join("\n") });
          return { ok: false, nodeId, instance, summary, refusals: plan.refusals };
        }
      }
      const planId = randomUUID();
      for (const [id, p] of plans) if (Date.now() - p.createdAt > PLAN_TTL_MS) plans.delete(id);
      plans.set(planId, { planId, nodeId, instance, summary, plan, expectedRuntime: gathered.expectedRuntime, createdAt: Date.now() });
      return {
        ok: true,
        planId,
        nodeId,
        instance,
        summary,
        steps: plan.steps.map((s) => ({ kind: s.kind, describe: s.describe, detail: stepDetail(s) })),
        writeGeneration: plan.writeGeneration,
        fileDiff: plan.fileDiff,
        slot: plan.slot,
        warnings: plan.warnings,
      };
    },

    "hotplug.execute": async ({ planId }) => {
      const stored = plans.get(planId);
      if (!stored || Date.now() - stored.createdAt > PLAN_TTL_MS) {
        throw new ApiError("This plan is no longer available (it was applied, or is more than 10 minutes old). Review the change again.", "plan-expired");
      }
      plans.delete(planId);
      const operationId = randomUUID();
      const node = nodeConfig(stored.nodeId);
      const base = { operationId, planId, nodeId: stored.nodeId, instance: stored.instance };
      busyNodes.set(stored.nodeId, (busyNodes.get(stored.nodeId) ?? 0) + 1);
      void (async () => {
        let result: RunPlanResult;
        try {
          const session = await deps.nodes.session(stored.nodeId, 10_000);
          result = await deps.runPlan({
            session,
            node,
            instance: stored.instance,
            plan: stored.plan,
            expectedRuntime: stored.expectedRuntime,
            planId,
            onProgress: (p) => deps.bus.emit("operation.progress", { ...base, ...p }),
          });
        } catch (err) {
          result = { ok: false, error: err instanceof Error ? err.message : String(err), undone: [] };
        } finally {
          busyNodes.set(stored.nodeId, (busyNodes.get(stored.nodeId) ?? 1) - 1);
        }
        deps.bus.emit("operation.outcome", {
          ...base,
          outcome: result.ok ? "succeeded" : "failed",
          message: result.ok ? (result.message ?? `${stored.summary}: done`) : result.error,
          undone: result.ok ? [] : result.undone,
          ...(!result.ok && result.failedStep ? { failedStep: result.failedStep } : {}),
        });
        await log({
          nodeId: stored.nodeId,
          instance: stored.instance,
          planId,
          summary: stored.summary,
          outcome: result.ok ? "succeeded" : "failed",
          ...(result.ok ? {} : { detail: [result.error, ...result.undone.map((u) => `undone: ${u}`)].join("\n") }),
        });
        deps.bus.emit("inventory.changed", { nodeId: stored.nodeId, instance: stored.instance });
      })();
      return { operationId };
    },

    "activity.list": async (filter) => deps.activity.list(filter),

    "lab.start": async () => {
      if (!deps.lab?.available()) {
        throw new ApiError("A local lab node needs QEMU and OpenSSH's sshd: install qemu-system-x86 and openssh-server.", "lab-unavailable");
      }
      const { config: settings, knownHostsLine } = await deps.lab.start();
      await deps.trustKnownHostsLine(knownHostsLine);
      const config = await deps.nodes.add(settings);
      await deps.nodes.connect(config.id);
      await log({ nodeId: config.id, summary: `Started a local lab node at ${config.host}:${config.port}`, outcome: "info" });
      return nodeView(config.id);
    },
  };
  // Changes made outside the app (a guest powering off, Ganeti rewriting a
  // runtime file, a device leaving the bus) reach the UI through this watch.
  const seen = new Map<string, ReturnType<typeof comparableOf>[]>();
  let watching = false;
  const watchOnce = async () => {
    if (watching) return;
    watching = true;
    try {
      for (const node of deps.nodes.list()) {
        if (deps.nodes.status(node.id)?.state !== "ready" || (busyNodes.get(node.id) ?? 0) > 0) continue;
        try {
          const session = await deps.nodes.session(node.id, 2000);
          const now = (await loadNodeInventory(session, { nodeId: node.id, root: node.root, ganetiVersion: node.ganetiVersion })).map(comparableOf);
          const before = seen.get(node.id);
          seen.set(node.id, now);
          if (!before || (busyNodes.get(node.id) ?? 0) > 0) continue;
          for (const change of diffInventory(before, now)) {
            deps.bus.emit("inventory.changed", { nodeId: node.id, instance: change.instance });
            await log({ nodeId: node.id, instance: change.instance, summary: change.summary, outcome: "info" });
          }
        } catch {
          // A node that cannot be read now shows that in its own status.
        }
      }
    } finally {
      watching = false;
    }
  };
  const interval = deps.watchIntervalMs ?? 15_000;
  const timer = interval > 0 ? setInterval(() => void watchOnce(), interval) : undefined;
  timer?.unref();

  return {
    handlers,
    dispose: () => {
      unsubscribe();
      if (timer) clearInterval(timer);
    },
  };
}
