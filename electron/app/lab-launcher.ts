// "Start a local lab node" for people trying the app without a Ganeti
// cluster: the same lab the tests use (real sshd, QEMU, guests), offered
// only where QEMU and OpenSSH's sshd are installed. Beside it, "Start a local
// Ganeti cluster": the Ganeti lab (a real two-node Ganeti 3.0.2 cluster in
// namespaces, electron/lab/ganeti), offered where it can run (root, Debian's
// ganeti packages); its nodes are added as the app's nodes, reached through
// the ProxyCommand that enters each node's network namespace.
import { existsSync } from "node:fs";
import { LabNode, QEMU } from "../lab/node.js";
import { startDefaultInstances } from "../lab/instances.js";
import { GanetiLab, ganetiLabUnavailable, type GanetiLabInfo } from "../lab/ganeti/lab.js";
import { DEFAULT_GANETI_INSTANCES } from "../lab/ganeti/cluster.js";
import type { LabLauncher } from "./service.js";
import type { Handlers } from "./dispatch.js";
import type { NodeManager } from "../node-registry/node-manager.js";
import type { ActivityLog } from "./activity-log.js";
import type { EventBus } from "./dispatch.js";
import type { NodeConfigInput } from "../../shared/node-registry/schema.js";

export interface GanetiLabLauncher {
  /** Whether the cluster can be started here, and why not. */
  status(): { available: boolean; running: boolean; reason?: string };
  /** Starts the cluster; its nodes as node settings (master first) and the known_hosts lines that trust them. */
  start(): Promise<{ nodes: NodeConfigInput[]; knownHostsLines: string[]; info: GanetiLabInfo }>;
  stop(): Promise<void>;
}

export interface LocalLabs extends LabLauncher {
  ganeti: GanetiLabLauncher;
}

/** The node settings that reach the lab's nodes as a user would set them up. */
export function ganetiLabNodes(info: GanetiLabInfo): NodeConfigInput[] {
  const ids = info.nodes.map((n) => `lab-ganeti-${n.name.split(".")[0]}`);
  return info.nodes.map((n, i) => ({
    id: ids[i]!,
    name: `Ganeti lab ${n.name.split(".")[0]}${n.master ? " (master)" : ""}`,
    host: n.ssh.host,
    port: n.ssh.port,
    user: n.ssh.user,
    auth: { kind: "key", keyPath: n.ssh.privateKeyPath },
    root: "/",
    ganetiVersion: info.ganetiVersion,
    // Every instance may migrate to the other node.
    migrationPeers: ids.filter((_, j) => j !== i),
    proxyCommand: n.ssh.proxyCommand,
  }));
}

function ganetiLauncher(): GanetiLabLauncher {
  let lab: GanetiLab | undefined;
  let starting: Promise<unknown> | undefined;
  return {
    status: () => {
      const reason = ganetiLabUnavailable();
      return { available: reason === undefined, running: lab !== undefined || starting !== undefined, ...(reason ? { reason } : {}) };
    },
    async start() {
      if (lab || starting) throw new Error("The local Ganeti cluster is already running (or starting); only one can run on a machine.");
      const p = GanetiLab.start({ instances: DEFAULT_GANETI_INSTANCES });
      starting = p;
      try {
        lab = await p;
      } finally {
        starting = undefined;
      }
      return { nodes: ganetiLabNodes(lab.info), knownHostsLines: lab.info.knownHostsLines, info: lab.info };
    },
    async stop() {
      const l = lab;
      lab = undefined;
      await l?.stop();
    },
  };
}

export function labLauncher(): LocalLabs {
  const nodes: LabNode[] = [];
  const ganeti = ganetiLauncher();
  return {
    ganeti,
    available: () => existsSync(QEMU) && existsSync("/usr/sbin/sshd") && existsSync("/usr/bin/ssh-keygen"),
    running: () => nodes.length > 0,
    async start() {
      const node = await LabNode.start();
      nodes.push(node);
      await startDefaultInstances(node);
      const i = node.info;
      return {
        config: {
          id: `lab-${node.labId}`,
          name: `Local lab ${node.labId}`,
          host: i.host,
          port: i.port,
          user: i.user,
          auth: { kind: "key", keyPath: i.privateKeyPath },
          root: i.root,
        },
        knownHostsLine: `[127.0.0.1]:${i.port} ${i.hostPublicKey}`,
      };
    },
    async stopAll() {
      for (const n of nodes.splice(0)) await n.stop();
      await ganeti.stop();
    },
  };
}

export interface GanetiLabDeps {
  ganeti: GanetiLabLauncher;
  nodes: NodeManager;
  trustKnownHostsLine: (line: string) => Promise<void>;
  activity: ActivityLog;
  bus: EventBus;
}

/**
 * The service's handlers with the local Ganeti cluster added: app.info says
 * whether it can start, and lab.start with kind "ganeti" starts it, trusts
 * its nodes' host keys (the lab made them), adds and connects its nodes,
 * and answers with the master.
 */
export function withGanetiLab(handlers: Handlers, deps: GanetiLabDeps): Handlers {
  return {
    ...handlers,
    "app.info": async (req) => ({ ...(await handlers["app.info"](req)), ganetiLab: deps.ganeti.status() }),
    "lab.start": async (req) => {
      if (req.kind !== "ganeti") return handlers["lab.start"](req);
      const s = deps.ganeti.status();
      if (!s.available) throw new Error(s.reason ?? "The local Ganeti cluster cannot run here.");
      const { nodes, knownHostsLines, info } = await deps.ganeti.start();
      for (const line of knownHostsLines) await deps.trustKnownHostsLine(line);
      const added = [];
      for (const n of nodes) added.push(await deps.nodes.add(n));
      await Promise.all(added.map((c) => deps.nodes.connect(c.id)));
      const master = added[0]!;
      deps.bus.emit(
        "activity.added",
        await deps.activity.add({
          nodeId: master.id,
          summary: `Started a local Ganeti ${info.ganetiVersion} cluster (${info.nodes.map((n) => n.name).join(", ")}) with instances ${info.instances.map((i) => i.name).join(", ")}`,
          outcome: "info",
        }),
      );
      return { config: deps.nodes.list().find((c) => c.id === master.id)!, status: deps.nodes.status(master.id)!, passphraseKept: false };
    },
  };
}
