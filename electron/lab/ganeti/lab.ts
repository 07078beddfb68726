// The Ganeti lab: a real two-node Ganeti 3.0.2 cluster (Debian's packages)
// on this machine, each node in its own network, UTS and mount namespaces,
// KVM hypervisor with QEMU under TCG, instances created and started by
// Ganeti itself. The app reaches each node's sshd through a ProxyCommand
// that enters the node's network namespace, so it needs no address outside
// loopback. start() first clears what a killed earlier run left; stop()
// leaves no process, namespace, mount or Ganeti state behind.
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { ensureGuestImage } from "../guest-image.js";
import { QEMU } from "../node.js";
import { waitFor } from "../processes.js";
import {
  BRIDGE,
  CLUSTER_IP,
  CLUSTER_NAME,
  FILE_STORAGE_DIR,
  GANETI_VERSION,
  LAB_DIR,
  LOCK_FILE,
  NODES,
  SHARED_FILE_STORAGE_DIR,
  paths,
  type LabNodeSpec,
} from "./layout.js";
import { run, runOnNode } from "./exec.js";
import { takeMachineLock, type MachineLock } from "./lock.js";
import { createNetworks, createNodeNamespaces, labProcesses, leftoverNamespaces, removeNamespaces } from "./namespaces.js";
import { makeKeys, makeNodeFiles, makeSharedFiles, type LabKeys } from "./node-files.js";
import { addInstance, gnt, type GanetiInstanceSpec } from "./cluster.js";

export interface GanetiLabNodeInfo {
  name: string;
  ip: string;
  netns: string;
  master: boolean;
  /** How the app reaches the node's sshd: through a ProxyCommand into its network namespace. */
  ssh: {
    host: string;
    port: number;
    user: string;
    privateKeyPath: string;
    knownHostsPath: string;
    proxyCommand: string;
    hostKeyFingerprint: string;
  };
}

export interface GanetiLabInfo {
  dir: string;
  cluster: string;
  clusterIp: string;
  ganetiVersion: string;
  bridge: string;
  fileStorageDir: string;
  sharedFileStorageDir: string;
  nodes: GanetiLabNodeInfo[];
  /** Instances the lab created, by name, with their primary node. */
  instances: { name: string; node: string }[];
  /** known_hosts lines that trust the nodes' host keys (the lab made them). */
  knownHostsLines: string[];
  /** How long each bring-up step took (ms). */
  timings: { step: string; ms: number }[];
}

export interface GanetiLabOptions {
  log?: (line: string) => void;
  /** Instances Ganeti creates and starts once the cluster is up. */
  instances?: GanetiInstanceSpec[];
}

const REQUIRED = ["/usr/sbin/gnt-cluster", "/usr/lib/ganeti/daemon-util", QEMU, "/usr/sbin/sshd", "/usr/bin/socat", "/usr/bin/nsenter", "/usr/bin/unshare", "/usr/bin/ssh-keygen"];

/** The ProxyCommand that reaches node `n`'s sshd from the machine (OpenSSH syntax: %h and %p are the node's address and port). */
export function proxyCommandFor(n: LabNodeSpec): string {
  return `nsenter --net=${paths.netnsFile(n)} -- socat STDIO TCP:%h:%p`;
}

/** What the Ganeti lab needs that this machine lacks, as a sentence; undefined when it can run. */
export function ganetiLabUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "The Ganeti lab needs root (network, mount and UTS namespaces, Ganeti's daemons).";
  const missing = REQUIRED.filter((p) => !existsSync(p));
  if (missing.length > 0) return `The Ganeti lab needs ${missing.join(", ")}: install them with "bash scripts/system-packages.sh ganeti-lab".`;
  return undefined;
}

export class GanetiLab {
  private constructor(
    readonly info: GanetiLabInfo,
    private readonly lock: MachineLock,
    private readonly log: (line: string) => void,
  ) {}

  static async start(opts: GanetiLabOptions = {}): Promise<GanetiLab> {
    const log = opts.log ?? (() => {});
    const why = ganetiLabUnavailable();
    if (why) throw new Error(why);
    const lock = await takeMachineLock(LOCK_FILE, "A Hotplug Desk Ganeti lab");
    const timings: GanetiLabInfo["timings"] = [];
    let t = Date.now();
    const step = (name: string) => {
      const now = Date.now();
      timings.push({ step: name, ms: now - t });
      log(`${name}: ${now - t} ms`);
      t = now;
    };
    try {
      await refuseForeignGaneti();
      await clearLab(log);
      step("clear what an earlier run left");

      await mkdir(LAB_DIR, { recursive: true, mode: 0o700 });
      await mkdir(paths.nsDir, { recursive: true });
      await mkdir(paths.bootDir, { recursive: true });
      // The guest, with virtio drivers, copied where both nodes' mount namespaces see it
      // (root's home, where the cache lives, is private to each node).
      const guest = await ensureGuestImage({ log, virtioDrivers: true });
      await copyFile(guest.kernel, join(paths.bootDir, "vmlinuz"));
      await copyFile(guest.initrd, join(paths.bootDir, "initrd.img"));
      step("guest image");

      const keys = await makeKeys();
      await makeSharedFiles();
      const binds = new Map<LabNodeSpec, [string, string][]>();
      for (const n of NODES) binds.set(n, await makeNodeFiles(n, keys));
      step("node files and keys");

      await createNetworks();
      for (const n of NODES) await createNodeNamespaces(n, binds.get(n)!);
      await waitForWire();
      step("namespaces");

      for (const n of NODES) await startNodeSshd(n);
      step("sshd on both nodes");

      await initCluster();
      step("gnt-cluster init");
      await gnt(["gnt-node", "add", NODES[1]!.name]);
      // A booting node would start the rest of its daemons (confd, kvmd, ...).
      await runOnNode(NODES[1]!, ["/usr/lib/ganeti/daemon-util", "start-all"]).catch(() => undefined);
      step("gnt-node add");

      const instances: GanetiLabInfo["instances"] = [];
      for (const spec of opts.instances ?? []) {
        await addInstance(spec);
        instances.push({ name: spec.name, node: NODES[spec.node - 1]!.name });
      }
      if (instances.length > 0) step(`instances (${instances.map((i) => i.name).join(", ")})`);

      const info: GanetiLabInfo = {
        dir: LAB_DIR,
        cluster: CLUSTER_NAME,
        clusterIp: CLUSTER_IP,
        ganetiVersion: GANETI_VERSION,
        bridge: BRIDGE,
        fileStorageDir: FILE_STORAGE_DIR,
        sharedFileStorageDir: SHARED_FILE_STORAGE_DIR,
        nodes: NODES.map((n) => nodeInfo(n, keys)),
        instances,
        knownHostsLines: (await readFile(keys.knownHostsPath, "utf8")).split("\n").filter(Boolean),
        timings,
      };
      return new GanetiLab(info, lock, log);
    } catch (err) {
      log(`bring-up failed: ${err instanceof Error ? err.message : String(err)}; tearing down`);
      await clearLab(log).catch((e: unknown) => log(`teardown after the failure failed too: ${String(e)}`));
      await lock.release();
      throw err;
    }
  }

  /** Stops everything and removes every trace; returns what teardown found still present afterwards (should be nothing). */
  async stop(): Promise<{ leftovers: string[]; ms: number }> {
    const t0 = Date.now();
    try {
      await clearLab(this.log);
      return { leftovers: await labLeftovers(), ms: Date.now() - t0 };
    } finally {
      await this.lock.release();
    }
  }
}

function nodeInfo(n: LabNodeSpec, keys: LabKeys): GanetiLabNodeInfo {
  return {
    name: n.name,
    ip: n.ip,
    netns: n.netns,
    master: n.index === 1,
    ssh: {
      host: n.ip,
      port: 22,
      user: "root",
      privateKeyPath: keys.clientKey,
      knownHostsPath: keys.knownHostsPath,
      proxyCommand: proxyCommandFor(n),
      hostKeyFingerprint: keys.hostKeyFingerprint,
    },
  };
}

/** Fresh veth and bridge ports need a moment before they forward: wait until node 1 resolves node 2's address. */
async function waitForWire(): Promise<void> {
  const [a, b] = NODES as [LabNodeSpec, LabNodeSpec];
  await waitFor(
    `${a.name} reaching ${b.name}`,
    async () => {
      await runOnNode(a, ["arping", "-q", "-c1", "-w1", "-I", BRIDGE, b.ip]);
      return true;
    },
    15_000,
    200,
  );
}

/** The node's sshd, daemonized like Ganeti's own daemons: the lab outlives the process that started it, and teardown ends it. */
async function startNodeSshd(n: LabNodeSpec): Promise<void> {
  if (!existsSync("/run/sshd")) await mkdir("/run/sshd", { mode: 0o755 }); // sshd's privilege-separation dir
  const log = join(paths.nodeDir(n), "sshd.log");
  await runOnNode(n, ["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-E", log]);
  await waitFor(
    `sshd of ${n.name}`,
    async () => {
      await runOnNode(n, ["socat", "-T1", "STDIO", `TCP:${n.ip}:22,connect-timeout=1`], { input: "", timeoutMs: 3000 });
      return true;
    },
    10_000,
    100,
  ).catch(async (err: unknown) => {
    throw new Error(`${String(err)}\n${await readFile(log, "utf8").catch(() => "")}`);
  });
}

async function initCluster(): Promise<void> {
  const hv = [
    `kvm_path=${QEMU}`,
    "kvm_flag=disabled", // TCG: no /dev/kvm needed
    `kernel_path=${join(paths.bootDir, "vmlinuz")}`,
    `initrd_path=${join(paths.bootDir, "initrd.img")}`,
    "kernel_args=ro",
    "serial_console=true",
    "vnc_bind_address=",
    "security_model=none",
    "user_shutdown=true",
    "use_chroot=false",
    "migration_bandwidth=1024",
  ].join(",");
  await gnt([
    "gnt-cluster",
    "init",
    "--no-etc-hosts", // /etc/hosts is the lab's bind mount
    "--no-ssh-init", // or Ganeti would replace root's SSH keys
    `--master-netdev=${BRIDGE}`,
    "--enabled-hypervisors=kvm",
    "--enabled-disk-templates=diskless,file,sharedfile",
    `--file-storage-dir=${FILE_STORAGE_DIR}`,
    `--shared-file-storage-dir=${SHARED_FILE_STORAGE_DIR}`,
    `--nic-parameters=mode=bridged,link=${BRIDGE}`,
    "--user-shutdown=yes",
    "-H",
    `kvm:${hv}`,
    "-B",
    "memory=128M,vcpus=1",
    "--ipolicy-bounds-specs",
    "min:disk-size=1,cpu-count=1,disk-count=0,memory-size=32,nic-count=0,spindle-use=0/max:disk-size=1048576,cpu-count=8,disk-count=16,memory-size=32768,nic-count=8,spindle-use=12",
    CLUSTER_NAME,
  ]);
}

/**
 * Ganeti daemons running outside the lab's namespaces would share the
 * machine-wide paths it clears: refuse rather than break them. (Daemons a
 * killed earlier lab left inside its namespaces are the lab's to clear.)
 */
async function refuseForeignGaneti(): Promise<void> {
  const ours = new Set((await labProcesses()).map((p) => p.pid));
  const foreign: string[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || ours.has(Number(entry))) continue;
    const comm = await readFile(`/proc/${entry}/comm`, "utf8").catch(() => "");
    if (/^ganeti-/.test(comm)) foreign.push(`${entry} ${comm.trim()}`);
  }
  if (foreign.length > 0) throw new Error(`Ganeti daemons run on this machine outside the lab (${foreign.join(", ")}): stop them first; the Ganeti lab uses Ganeti's machine-wide paths.`);
}

/**
 * Ends every process in the lab's namespaces (QEMU first, then Ganeti's
 * daemons through daemon-util, then whatever is left), unbinds and deletes
 * the namespaces, removes the lab directory and resets Ganeti's
 * machine-wide state to what the package installed. Safe on a lab half
 * built or killed: it works from the fixed names, not from memory.
 */
export async function clearLab(log: (line: string) => void = () => {}): Promise<void> {
  const procs = await labProcesses();
  const qemu = procs.filter((p) => p.comm.startsWith("qemu-system"));
  for (const p of qemu) signal(p.pid, "SIGTERM");
  if (procs.length > 0) log(`stopping ${procs.length} lab processes`);
  // Each daemon-util stop takes ~2 s; in parallel, per node.
  await Promise.all(
    NODES.map(async (n) => {
      if (!existsSync(paths.netnsFile(n)) || !(await isNsBound(paths.mountNs(n)))) return;
      const list = await runOnNode(n, ["/usr/lib/ganeti/daemon-util", "list-stop-daemons"]).catch(() => ({ stdout: "" }));
      await Promise.all(list.stdout.split(/\s+/).filter(Boolean).map((d) => runOnNode(n, ["/usr/lib/ganeti/daemon-util", "stop", d], { timeoutMs: 30_000 }).catch(() => undefined)));
    }),
  );
  for (const sig of ["SIGTERM", "SIGTERM", "SIGKILL"] as const) {
    const left = await labProcesses();
    if (left.length === 0) break;
    for (const p of left) signal(p.pid, sig);
    await new Promise((r) => setTimeout(r, 300));
    await waitFor("lab processes to exit", async () => ((await labProcesses()).length === 0 ? true : undefined), 2000, 100).catch(() => undefined);
  }
  await removeNamespaces();
  await rm(LAB_DIR, { recursive: true, force: true });
  await resetMachineGanetiState();
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function isNsBound(file: string): Promise<boolean> {
  return run(["findmnt", "-rn", "--mountpoint", file]).then(
    () => true,
    () => false,
  );
}

/** Ganeti's machine-wide paths back to the post-install state (the package's /etc/ganeti files stay). */
async function resetMachineGanetiState(): Promise<void> {
  for (const dir of ["/var/lib/ganeti", "/var/log/ganeti"]) {
    for (const e of await readdir(dir).catch(() => [] as string[])) await rm(join(dir, e), { recursive: true, force: true });
  }
  await rm("/run/ganeti", { recursive: true, force: true });
  await rm("/srv/ganeti", { recursive: true, force: true });
  await rm("/etc/ganeti/file-storage-paths", { force: true });
}

/** What a teardown should have removed but is still there. */
export async function labLeftovers(): Promise<string[]> {
  const left = [...(await leftoverNamespaces())];
  for (const p of await labProcesses()) left.push(`process ${p.pid} ${p.comm}`);
  if (existsSync(LAB_DIR)) left.push(LAB_DIR);
  for (const p of ["/var/lib/ganeti/config.data", "/run/ganeti", "/srv/ganeti", "/etc/ganeti/file-storage-paths"]) if (existsSync(p)) left.push(p);
  return left;
}
