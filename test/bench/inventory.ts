// Inventory load time: every instance's view (runtime file + live PCI/SCSI
// maps over QMP) for 1, 10 and 50 paused instances on one node, and 50
// spread over several sshd "nodes", each cold (new SSH connection) and warm
// (connection kept). The floor is one `ssh node cat <runtime files>` with
// the real OpenSSH client: the least any tool must do to see those files.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance } from "../../electron/lab/instances.js";
import { startSshd, type RunningSshd, type SshdInfo } from "../../electron/lab/sshd.js";
import { descendantsOf } from "../../electron/lab/processes.js";
import { NodeSession, type NodeTarget } from "../../electron/ssh/session.js";
import { loadNodeInventory } from "../../electron/inventory/node-inventory.js";
import { instancePaths, kvmLayout } from "../../shared/on-node/layout.js";
import { round, summarize, type Summary } from "./stats.js";

export const instanceName = (i: number): string => `i${String(i).padStart(2, "0")}.lab`;

const targetOf = (info: SshdInfo): NodeTarget => ({
  host: info.host,
  port: info.port,
  username: info.user,
  privateKeyPath: info.privateKeyPath,
  knownHostsPath: info.knownHostsPath,
});

/** The floor: OpenSSH's own client, one connection, one cat of every runtime file. */
function sshCat(info: SshdInfo, files: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      "ssh",
      ["-i", info.privateKeyPath, "-p", String(info.port), "-o", `UserKnownHostsFile=${info.knownHostsPath}`, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-F", "/dev/null", `${info.user}@${info.host}`, "cat", ...files],
      { maxBuffer: 64 << 20 },
      (err, stdout) => {
        if (err) reject(err);
        else if (stdout.length === 0) reject(new Error("ssh cat printed nothing"));
        else resolve(performance.now() - t0);
      },
    );
  });
}

interface NodeUnderTest {
  id: string;
  info: SshdInfo;
  root: string;
  names: string[];
}

interface Measured {
  instances: number;
  nodes: number;
  cold: Summary;
  warm: Summary;
  floor: Summary;
  coldRatio: number;
  warmRatio: number;
  states: Record<string, number>;
}

async function openSession(info: SshdInfo): Promise<NodeSession> {
  return NodeSession.open(targetOf(info));
}

async function measure(nodes: NodeUnderTest[], rounds: { cold: number; warm: number; floor: number }): Promise<Measured> {
  const states: Record<string, number> = {};
  const loadAll = (sessions: NodeSession[]) =>
    // Nodes in parallel, as the app's inventory.list does.
    Promise.all(nodes.map((n, k) => loadNodeInventory(sessions[k]!, { nodeId: n.id, root: n.root })));

  const cold: number[] = [];
  for (let r = 0; r < rounds.cold; r++) {
    const t0 = performance.now();
    const sessions = await Promise.all(nodes.map((n) => openSession(n.info)));
    await loadAll(sessions);
    cold.push(performance.now() - t0);
    for (const s of sessions) s.close();
  }

  const sessions = await Promise.all(nodes.map((n) => openSession(n.info)));
  const warm: number[] = [];
  try {
    // One untimed load opens the SFTP channel the warm loads reuse.
    const first = (await loadAll(sessions)).flat();
    for (const v of first) states[v.state] = (states[v.state] ?? 0) + 1;
    const expected = nodes.reduce((a, n) => a + n.names.length, 0);
    if (first.length !== expected) throw new Error(`inventory listed ${first.length} instances, expected ${expected}`);
    for (let r = 0; r < rounds.warm; r++) {
      const t0 = performance.now();
      await loadAll(sessions);
      warm.push(performance.now() - t0);
    }
  } finally {
    for (const s of sessions) s.close();
  }

  const floor: number[] = [];
  for (let r = 0; r < rounds.floor; r++) {
    const t0 = performance.now();
    await Promise.all(nodes.map((n) => sshCat(n.info, n.names.map((x) => instancePaths(n.root, x).runtime))));
    floor.push(performance.now() - t0);
  }
  const c = summarize(cold);
  const w = summarize(warm);
  const f = summarize(floor);
  return {
    instances: nodes.reduce((a, n) => a + n.names.length, 0),
    nodes: nodes.length,
    cold: c,
    warm: w,
    floor: f,
    coldRatio: round(c.p50Ms / f.p50Ms),
    warmRatio: round(w.p50Ms / f.p50Ms),
    states,
  };
}

/** A node root whose conf/ and ctrl/ hold symlinks to a subset of the lab's instances. */
async function subsetRoot(lab: LabNode, names: string[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "hdn-"));
  const layout = kvmLayout(root);
  await mkdir(layout.conf, { recursive: true });
  await mkdir(layout.ctrl, { recursive: true });
  const ctrlEntries = await readdir(kvmLayout(lab.root).ctrl);
  for (const name of names) {
    const src = instancePaths(lab.root, name);
    const dst = instancePaths(root, name);
    await symlink(src.runtime, dst.runtime);
    // Only the sockets an inventory looks at (.qmp, .kvmd, .shutdown).
    for (const e of ctrlEntries) if (e === `${name}.qmp` || e === `${name}.kvmd` || e === `${name}.shutdown`) await symlink(join(kvmLayout(lab.root).ctrl, e), join(layout.ctrl, e));
  }
  return root;
}

/** Stops each sshd and the per-connection sshd processes that outlive it. */
export async function stopSshds(sshds: readonly RunningSshd[]): Promise<void> {
  for (const s of sshds) {
    const kids = s.process.child.pid ? await descendantsOf(s.process.child.pid) : [];
    await s.stop();
    for (const pid of kids) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  }
}

/** Paused QEMUs (no guest CPU use, 64 MiB) named i00.lab, i01.lab, ... up to `count` in all. */
export async function startPausedInstances(lab: LabNode, count: number): Promise<void> {
  while (lab.instances.size < count) {
    await startLabInstance(lab, { name: instanceName(lab.instances.size), generation: "C", nics: 1, disks: [{ bus: "pci" }], memoryMiB: 64, paused: true });
  }
}

export interface InventoryOptions {
  lab: LabNode;
  log: (line: string) => void;
  extraNodes: number;
}

export async function benchInventory(opts: InventoryOptions): Promise<Record<string, unknown>> {
  const { lab, log } = opts;
  const single = (count: number): NodeUnderTest[] => [{ id: "lab", info: lab.info, root: lab.root, names: Array.from({ length: count }, (_, i) => instanceName(i)) }];
  const startUpTo = (count: number) => startPausedInstances(lab, count);
  const rounds = { cold: 5, warm: 10, floor: 10 };
  const oneNode: Record<string, Measured> = {};
  for (const count of [1, 10, 50]) {
    log(`inventory: starting paused instances up to ${count}`);
    await startUpTo(count);
    log(`inventory: measuring ${count} instance(s) on one node`);
    oneNode[String(count)] = await measure(single(count), rounds);
  }

  // Several nodes: extra sshd processes, each serving its share of the same instances.
  const sshds: RunningSshd[] = [];
  const roots: string[] = [];
  let multi: Measured | undefined;
  try {
    const total = 50;
    const parts = opts.extraNodes;
    const nodes: NodeUnderTest[] = [];
    for (let k = 0; k < parts; k++) {
      const names = Array.from({ length: total }, (_, i) => i).filter((i) => i % parts === k).map(instanceName);
      const root = await subsetRoot(lab, names);
      roots.push(root);
      const sshd = await startSshd(join(root, "ssh"));
      sshds.push(sshd);
      nodes.push({ id: `node${k + 1}`, info: sshd, root, names });
    }
    log(`inventory: measuring ${total} instances over ${parts} sshd nodes`);
    multi = await measure(nodes, rounds);
  } finally {
    await stopSshds(sshds);
    for (const r of roots) await rm(r, { recursive: true, force: true });
  }

  const fifty = oneNode["50"]!;
  return {
    what: "loadNodeInventory: list conf/ and ctrl/ over SFTP, then per instance read the runtime file (SFTP) and probe QMP over SSH streamlocal (query-status, query-pci, qom-list), 6 at a time per node",
    instances: "paused (-S) QEMU, generation C, 1 NIC + 1 virtio-blk disk, 64 MiB",
    rounds,
    floor: "one `ssh -i KEY -p PORT user@127.0.0.1 cat <every runtime file>` per node (OpenSSH client, new connection each time), nodes in parallel",
    oneNode,
    multiNode: multi,
    target: {
      rule: "50 instances' maps within 2x the cat floor (p50), judged for cold and warm loads",
      coldRatio: fifty.coldRatio,
      warmRatio: fifty.warmRatio,
      passCold: fifty.coldRatio <= 2,
      passWarm: fifty.warmRatio <= 2,
      pass: fifty.coldRatio <= 2 && fifty.warmRatio <= 2,
    },
  };
}
