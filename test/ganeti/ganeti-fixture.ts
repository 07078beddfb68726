// What the Ganeti suite's files share: the cluster the global setup brought
// up (or why there is none), the app's SSH sessions to its nodes (through the
// ProxyCommand that enters each node's network namespace), Ganeti commands,
// the guest's serial console and the live bus.
import { describe, inject } from "vitest";
import { createHash } from "node:crypto";
import type { GanetiLabInfo, GanetiLabNodeInfo } from "../../electron/lab/ganeti/lab.js";
import { gnt, kvmPaths } from "../../electron/lab/ganeti/cluster.js";
import type { GanetiLabProvided } from "./machine.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { GuestConsole, type GuestDevice } from "../lab/guest-console.js";
import { composeApp, type ComposedApp } from "../../electron/app/compose.js";
import { typedCodeGesture } from "../../electron/web-host/typed-code-gesture.js";
import { join } from "node:path";
import { runCliAsync, type CliRun } from "../unit/cli-bundle.js";
import type { RegistryNode } from "../../electron/ganeti/master.js";
import type { ChangeTarget, HotplugChanges } from "../../electron/hotplug/change.js";
import type { ChangeRequestInput, StepProgress } from "../../shared/hotplug/index.js";

declare module "vitest" {
  export interface ProvidedContext {
    ganetiLab: GanetiLabProvided;
  }
}

export const provided = inject("ganetiLab");

/** The lab's two nodes, by the names Ganeti knows them by. */
export const N1 = "node1.ganeti.example";
export const N2 = "node2.ganeti.example";

/** The SHA256 fingerprint of a known_hosts line's key, as ssh-keygen -l prints it. */
export const fingerprintOfLine = (line: string) => `SHA256:${createHash("sha256").update(Buffer.from(line.trim().split(/\s+/)[2]!, "base64")).digest("base64").replace(/=+$/, "")}`;

/** describe() for the Ganeti suite: skipped, saying why, where the lab cannot run. */
export function describeGaneti(name: string, body: (lab: GanetiLabInfo) => void): void {
  if (!provided.available) {
    console.warn(`SKIPPED "${name}": ${provided.reason}`);
    describe.skip(name, () => {
      body(undefined as never);
    });
    return;
  }
  describe(name, () => body(provided.info));
}

export function labInfo(): GanetiLabInfo {
  if (!provided.available) throw new Error(provided.reason);
  return provided.info;
}

export function labNodeInfo(name: string): GanetiLabNodeInfo {
  const n = labInfo().nodes.find((x) => x.name === name || x.name.startsWith(`${name}.`));
  if (!n) throw new Error(`no lab node ${name}`);
  return n;
}

/**
 * The app as the web host composes it, its data in `dir`: trust codes go to
 * `terminal` (the web host's terminal, as a user would read it), the user's
 * own known_hosts is left out, nothing is watched in the background.
 */
export function composeWebApp(dir: string, terminal: string[]): Promise<ComposedApp> {
  return composeApp({
    dataDir: join(dir, "data"),
    transport: "web",
    version: "test",
    journalDir: join(dir, "journal"),
    userKnownHostsPath: null,
    watchIntervalMs: 0,
    trustGesture: typedCodeGesture({ terminal: (t) => void terminal.push(t) }),
  });
}

/** The app's connection to a lab node, as a user would set it up: ProxyCommand, the lab's key and known_hosts. */
export function openNode(node: GanetiLabNodeInfo): Promise<NodeSession> {
  const s = node.ssh;
  return NodeSession.open({ host: s.host, port: s.port, username: s.user, privateKeyPath: s.privateKeyPath, knownHostsPath: s.knownHostsPath, proxyCommand: s.proxyCommand });
}

/**
 * The app's sessions to the lab's nodes (one each, opened when first
 * needed), its registry of both as a user would have added them (Ganeti's
 * master is found among them by name or address), and the change target
 * for the node an instance runs on now.
 */
export function labNodes(lab: GanetiLabInfo) {
  const sessions = new Map<string, NodeSession>();
  const session = async (node: string): Promise<NodeSession> => {
    let s = sessions.get(node);
    if (!s) {
      s = await openNode(labNodeInfo(node));
      sessions.set(node, s);
    }
    return s;
  };
  const registry: RegistryNode[] = lab.nodes.map((n) => ({ id: n.name.split(".")[0]!, name: n.name, host: n.ssh.host, session: () => session(n.name) }));
  const target = async (instance: string): Promise<ChangeTarget> => {
    const node = await pnodeOf(instance);
    return { session: await session(node), nodeId: node.split(".")[0]!, root: "/", readers: { ganetiVersions: [lab.ganetiVersion] }, ganeti: { registry: () => registry } };
  };
  return { session, registry, target, close: () => sessions.forEach((s) => s.close()) };
}

/** The UI's way: review (read and plan), then Apply once `go` has run, every progress event kept. */
export async function reviewThenApply(changes: HotplugChanges, t: ChangeTarget, instance: string, request: ChangeRequestInput, go: () => Promise<void> = async () => {}) {
  const reviewed = await changes.review(t, instance, request);
  if (!reviewed.ok) throw new Error(`review refused: ${reviewed.refusals.map((x) => x.message).join("; ")}`);
  await go();
  const progress: StepProgress[] = [];
  const outcome = await changes.apply(changes.kept.take(reviewed.kept.planId)!, async () => t, { progress: (p) => void progress.push(p) });
  return { plan: reviewed.kept.plan, outcome, progress };
}

/** stdout of a Ganeti command on the master. */
export async function gntOut(...argv: string[]): Promise<string> {
  return (await gnt(argv, { timeoutMs: 240_000 })).stdout;
}

/** The node an instance runs on, by Ganeti's configuration. */
export async function pnodeOf(instance: string): Promise<string> {
  return (await gntOut("gnt-instance", "list", "--no-headers", "-o", "pnode", instance)).trim();
}

/** query-pci through the app's SSH session: slot -> qdev id. */
export { livePci } from "../lab/live-pci.js";

/** Runs `use` on the guest's serial console (through the app's session) once its init answers. */
async function withConsole<T>(session: NodeSession, instance: string, use: (c: GuestConsole) => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const console = new GuestConsole(await session.openUnixSocket(kvmPaths(instance).serial));
  try {
    await console.waitReady(timeoutMs);
    return await use(console);
  } finally {
    console.close();
  }
}

/** The PCI addresses the guest lists once `predicate` holds for them. */
export function guestSees(session: NodeSession, instance: string, predicate: (addresses: string[]) => boolean, timeoutMs = 60_000): Promise<string[]> {
  return withConsole(session, instance, async (c) => (await c.waitForPci((l) => predicate(l.map((f) => f.address)), timeoutMs)).map((f) => f.address), timeoutMs);
}

/** The guest's interfaces and block devices (name, PCI address its driver bound) once `predicate` holds. */
export function guestDevices(session: NodeSession, instance: string, predicate: (devs: GuestDevice[]) => boolean, timeoutMs = 60_000): Promise<GuestDevice[]> {
  return withConsole(session, instance, (c) => c.waitForDevices(predicate, timeoutMs), timeoutMs);
}

/** Sends one line to the guest's console (e.g. "poweroff"). */
export function guestCommand(session: NodeSession, instance: string, line: string): Promise<void> {
  return withConsole(session, instance, async (c) => {
    c.sendLine(line);
    // Let the line reach the guest before the console closes.
    await new Promise((r) => setTimeout(r, 300));
  });
}

/** A file on the node, read through the app's session (SFTP). */
export async function readNodeFile(session: NodeSession, path: string): Promise<string> {
  const sftp = await session.sftp();
  try {
    return await new Promise<string>((resolve, reject) => sftp.readFile(path, (err, data) => (err ? reject(err) : resolve(data.toString("utf8")))));
  } finally {
    sftp.end();
  }
}

/** The runtime file of an instance, read on its node through the app's session. */
export function runtimeText(session: NodeSession, instance: string): Promise<string> {
  return readNodeFile(session, kvmPaths(instance).runtime);
}

/** hvinfo slots of the runtime file's NICs and disks: uuid -> slot. */
export function runtimeSlots(text: string): Map<string, number> {
  const [, nics, , disks] = JSON.parse(text) as [unknown, { uuid: string; hvinfo?: { addr?: string } }[], unknown, [{ uuid: string; hvinfo?: { addr?: string } }, string, unknown][]];
  const out = new Map<string, number>();
  for (const n of nics) if (n.hvinfo?.addr) out.set(n.uuid, Number(n.hvinfo.addr));
  for (const [d] of disks ?? []) if (d.hvinfo?.addr) out.set(d.uuid, Number(d.hvinfo.addr));
  return out;
}

export const guestAddress = (slot: number) => `0000:00:${slot.toString(16).padStart(2, "0")}.0`;

/** The devices the runtime file records on pci.0: QEMU id -> slot (NICs and disks with hvinfo). */
export function recordedPci(text: string): Map<string, number> {
  type Dev = { hvinfo?: { id?: string; addr?: string; bus?: string } };
  const [, nics, , disks] = JSON.parse(text) as [unknown, Dev[], unknown, [Dev, string, unknown][]];
  const out = new Map<string, number>();
  for (const d of [...nics, ...(disks ?? []).map(([disk]) => disk)]) if (d.hvinfo?.id && d.hvinfo.addr && d.hvinfo.bus === "pci.0") out.set(d.hvinfo.id, Number(d.hvinfo.addr));
  return out;
}

/** Ganeti's NIC uuids of an instance in its configuration, in order. */
export async function ganetiNicUuids(instance: string): Promise<string[]> {
  return (await gntOut("gnt-instance", "list", "--no-headers", "-o", "nic.uuids", instance)).trim().replace(/[[\]' ]/g, "").split(",").filter(Boolean);
}

/** The built CLI against node 1 (the master), reached through its ProxyCommand, with the journal in `journalDir()` (set once the suite has made it). */
export function masterCli(journalDir: () => string): (args: string[]) => Promise<CliRun> {
  return (args) => {
    const n = labNodeInfo("node1");
    return runCliAsync([...args, "--node", `root@${n.ssh.host}`, "--proxy-command", n.ssh.proxyCommand, "-i", n.ssh.privateKeyPath, "--known-hosts", n.ssh.knownHostsPath, "--journal", journalDir()], {
      timeout: 180_000,
    });
  };
}
