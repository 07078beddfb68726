// Things done to the running Ganeti lab: Ganeti commands on the master,
// instances Ganeti creates and starts, node paths as the machine sees them,
// and the kvmd re-arm. Works from the lab's fixed layout alone, so a test
// file in another process can use it with nothing but the lab running.
import { link, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BRIDGE, NODES, labNode, paths, type LabNodeSpec } from "./layout.js";
import { runOnNode, type RunOptions, type RunResult } from "./exec.js";

export const KVM_DIR = "/run/ganeti/kvm-hypervisor";

export interface GanetiInstanceSpec {
  name: string;
  /** Primary node: 1 or 2. */
  node: 1 | 2;
  /** diskless and sharedfile instances can live-migrate; file cannot (its disk stays on one node). */
  template: "diskless" | "sharedfile" | "file";
  /** Size of the one disk of sharedfile and file instances (MiB). */
  diskMiB?: number;
  nics?: number;
  memoryMiB?: number;
}

/** What `npm run lab -- --ganeti` and the app's local cluster start: one instance that can live-migrate, one on the other node. */
export const DEFAULT_GANETI_INSTANCES: GanetiInstanceSpec[] = [
  { name: "alpha", node: 1, template: "sharedfile", diskMiB: 64 },
  { name: "bravo", node: 2, template: "diskless" },
];

/** A Ganeti command on the master node (node 1), as root. */
export function gnt(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runOnNode(NODES[0]!, argv, opts);
}

/** Creates the instance with Ganeti, has Ganeti start it, and re-arms kvmd so user shutdowns are seen. */
export async function addInstance(spec: GanetiInstanceSpec): Promise<void> {
  const n = NODES[spec.node - 1]!;
  const nics = Array.from({ length: spec.nics ?? 1 }, (_, i) => ["--net", `${i}:link=${BRIDGE}`]).flat();
  const disks = spec.template === "diskless" ? [] : ["--disk", `0:size=${spec.diskMiB ?? 64}M`];
  await gnt([
    "gnt-instance",
    "add",
    "-t",
    spec.template,
    ...disks,
    ...nics,
    "-o",
    "noop",
    "--no-install",
    "--no-name-check",
    "--no-ip-check",
    ...(spec.memoryMiB ? ["-B", `memory=${spec.memoryMiB}M`] : []),
    "-n",
    n.name,
    spec.name,
  ]);
  // --no-install leaves the instance stopped.
  await gnt(["gnt-instance", "startup", spec.name]);
  await rearmKvmd(spec.name, n);
}

/** The node an instance runs on now (Ganeti's configuration). */
export async function primaryNode(instance: string): Promise<LabNodeSpec> {
  const out = await gnt(["gnt-instance", "list", "--no-headers", "-o", "pnode", instance]);
  return labNode(out.stdout.trim());
}

/** Where the machine sees a path of node `node` (Ganeti's dirs are private to each node). */
export function onMachine(node: string | number | LabNodeSpec, nodePath: string): string {
  return paths.onMachine(typeof node === "object" ? node : labNode(node), nodePath);
}

/** Paths of an instance's files on its node, as the node sees them. */
export function kvmPaths(instance: string) {
  return {
    runtime: `${KVM_DIR}/conf/${instance}.runtime`,
    qmp: `${KVM_DIR}/ctrl/${instance}.qmp`,
    kvmd: `${KVM_DIR}/ctrl/${instance}.kvmd`,
    serial: `${KVM_DIR}/ctrl/${instance}.serial`,
    shutdown: `${KVM_DIR}/ctrl/${instance}.shutdown`,
    pid: `${KVM_DIR}/pid/${instance}`,
  };
}

/**
 * Makes Ganeti's kvmd connect to the instance's .kvmd socket. kvmd connects
 * when the socket file appears, which is before QEMU listens on it; refused,
 * it never retries, and a guest's own shutdown then goes unseen. A new
 * directory entry for the same socket (a hard link) makes it try again.
 * This is Ganeti's behaviour: the app must not assume kvmd is watching.
 */
export async function rearmKvmd(instance: string, node?: LabNodeSpec): Promise<void> {
  const n = node ?? (await primaryNode(instance));
  const ctrl = onMachine(n, `${KVM_DIR}/ctrl`);
  const sock = join(ctrl, `${instance}.kvmd`);
  if (!existsSync(sock)) return;
  const spare = join(ctrl, `.rearm-${instance}`);
  await rm(spare, { force: true });
  await link(sock, spare);
  await rm(sock);
  await link(spare, sock);
  await rm(spare);
}
