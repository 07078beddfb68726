// The lab: a real Ganeti-style KVM node on this machine. A lab root holds
// Ganeti's directory layout; a real sshd serves it on 127.0.0.1; QEMU
// instances are started from runtime files the way Ganeti starts them.
import { access, mkdir, mkdtemp, readFile, rm, writeFile, rename, open, symlink } from "node:fs/promises";
import { constants } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { connect, type Socket } from "node:net";
import { kvmLayout, instancePaths, type InstancePaths } from "../../shared/on-node/layout.js";
import { buildQemuArgv, type RuntimeLike } from "../../shared/qemu/command-line.js";
import { startSshd, type RunningSshd, type SshdInfo } from "./sshd.js";
import { setUpNetwork, type LabNetwork } from "./network.js";
import { existsSync } from "node:fs";
import { descendantsOf, processesMentioning, startProcess, stopProcess, waitFor, type LabProcess } from "./processes.js";
import { ensureGuestImage } from "./guest-image.js";

export const QEMU = "/usr/bin/qemu-system-x86_64";

export interface LabInstance {
  name: string;
  paths: InstancePaths;
  argv: string[];
  process: LabProcess;
  taps: (string | undefined)[];
}

export interface LabNodeInfo extends SshdInfo {
  root: string;
  /** The node's Ganeti file storage directory (listed in <root>/etc/ganeti/file-storage-paths): its disk images live here. */
  storageDir: string;
  labId: string;
  network: { mode: "tap" | "user"; bridge?: string; reason?: string };
}

export interface StartInstanceOptions {
  name: string;
  /** The runtime file's exact bytes, written before QEMU starts (as Ganeti does). */
  runtimeText: string;
  /** The same runtime, read and upgraded, that QEMU is started from. */
  runtime: RuntimeLike;
  /** Start QEMU as a migration target listening here ("unix:/path"). */
  incoming?: string;
  /** Name the QMP sockets differently (a migration target beside its source). */
  socketSuffix?: string;
  /** Skip writing the runtime file (a migration target that receives it later). */
  writeRuntime?: boolean;
}

/** Write like Ganeti's utils.WriteFile: temp file in the same dir, fsync, rename, mode 0600. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString("hex")}.new`);
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Where lab roots go: a tmpfs when there is one, because Ganeti's
 * /var/run is a tmpfs on every Debian node (fsync there is free); a lab on
 * disk would charge the runtime writes fsyncs no real node pays.
 */
async function runtimeBase(): Promise<string> {
  try {
    const mounts = await readFile("/proc/self/mounts", "utf8");
    if (mounts.split("\n").some((l) => /^\S+ \/dev\/shm tmpfs /.test(l))) {
      await access("/dev/shm", constants.W_OK);
      return "/dev/shm";
    }
  } catch {
    // No /proc or no writable /dev/shm: fall back to the temp dir.
  }
  return tmpdir();
}

export class LabNode {
  readonly instances = new Map<string, LabInstance>();
  private instanceCount = 0;
  private constructor(
    readonly root: string,
    /** Where the node's disk images live: its Ganeti file storage (see start). */
    readonly storageDir: string,
    readonly labId: string,
    readonly sshd: RunningSshd,
    readonly network: LabNetwork,
    readonly guest: { kernel: string; initrd: string },
  ) {}

  /** Start a node: lab root with Ganeti's layout, sshd, network, guest image. */
  static async start(opts: { log?: (line: string) => void } = {}): Promise<LabNode> {
    const log = opts.log ?? (() => {});
    const labId = randomBytes(2).toString("hex");
    // Short root: UNIX socket paths are limited to 108 bytes.
    const root = await mkdtemp(join(await runtimeBase(), "hdlab-"));
    const layout = kvmLayout(root);
    for (const dir of [layout.base, layout.pid, layout.uid, layout.ctrl, layout.conf, layout.nic, layout.chroot, layout.instanceDisks]) {
      await mkdir(dir, { recursive: true, mode: 0o775 });
    }
    // The node's Ganeti file storage, listed where Ganeti lists it (file-storage-paths), so
    // disk paths are judged as on a real node. Not under the root: that may be in /dev/shm,
    // and /dev is no place for file storage (Ganeti refuses it too).
    const storageDir = await mkdtemp(join(tmpdir(), `hdlab-${labId}-storage-`));
    await mkdir(join(root, "etc/ganeti"), { recursive: true });
    await writeFile(join(root, "etc/ganeti/file-storage-paths"), `# The lab node's file storage (Hotplug Desk lab)\n${storageDir}\n`);
    let sshd: RunningSshd | undefined;
    let network: LabNetwork | undefined;
    try {
      log("building or reusing the guest image");
      const guest = await ensureGuestImage({ log });
      sshd = await startSshd(join(root, "ssh"));
      log(`sshd listening on 127.0.0.1:${sshd.port}`);
      network = await setUpNetwork(labId);
      log(network.mode === "tap" ? `bridge ${network.bridge} for tap NICs` : `NICs use QEMU user networking: ${network.reason}`);
      return new LabNode(root, storageDir, labId, sshd, network, guest);
    } catch (err) {
      await sshd?.stop();
      await network?.teardown();
      await rm(root, { recursive: true, force: true });
      await rm(storageDir, { recursive: true, force: true });
      throw err;
    }
  }

  get info(): LabNodeInfo {
    const { process: _p, stop: _s, ...ssh } = this.sshd;
    return {
      ...ssh,
      root: this.root,
      storageDir: this.storageDir,
      labId: this.labId,
      network: { mode: this.network.mode, bridge: this.network.bridge, reason: this.network.reason },
    };
  }

  /** A sparse raw disk image in the node's file storage, plus Ganeti's instance-disks symlink to it. */
  async createDisk(instance: string, index: number, sizeMiB: number): Promise<string> {
    const file = join(this.storageDir, `${instance}-${index}.img`);
    const fh = await open(file, "w", 0o600);
    await fh.truncate(sizeMiB * 1024 * 1024);
    await fh.close();
    const link = instancePaths(this.root, instance).diskLink(index);
    await rm(link, { force: true });
    await symlink(file, link);
    return link;
  }

  /** Start QEMU from a runtime file, with .qmp and .kvmd sockets, as Ganeti does. */
  async startInstance(opts: StartInstanceOptions): Promise<LabInstance> {
    const paths = instancePaths(this.root, opts.name);
    if (opts.writeRuntime ?? true) await writeFileAtomic(paths.runtime, opts.runtimeText);
    const index = this.instanceCount++;
    const taps: (string | undefined)[] = [];
    for (let seq = 0; seq < opts.runtime.nics.length; seq++) taps.push(await this.network.createTap(index, seq));
    if (taps.some((t) => t !== undefined)) {
      await mkdir(paths.nicDir, { recursive: true });
      for (const [seq, tap] of taps.entries()) if (tap) await writeFile(join(paths.nicDir, String(seq)), tap);
    }
    const suffix = opts.socketSuffix ?? "";
    const argv = buildQemuArgv(opts.runtime, {
      qmpSocket: paths.qmp + suffix,
      kvmdSocket: paths.kvmd + suffix,
      foreground: true,
      incoming: opts.incoming,
      netdev: (seq) => {
        const tap = taps[seq];
        return tap ? { type: "tap", options: `ifname=${tap},script=no,downscript=no` } : { type: "user", options: "restrict=on" };
      },
    });
    const [bin, ...args] = argv;
    const proc = startProcess(`qemu ${opts.name}`, bin!, args);
    try {
      await waitFor(
        `QMP socket of ${opts.name}`,
        async () => {
          if (proc.child.exitCode !== null) throw new Error(`QEMU exited: ${proc.output().trim()}`);
          return (await socketAccepts(paths.qmp + suffix)) ? true : undefined;
        },
        20_000,
      );
    } catch (err) {
      await stopProcess(proc);
      throw new Error(`Instance ${opts.name} did not start: ${String(err)}\nargv: ${argv.join(" ")}\n${proc.output()}`);
    }
    const inst: LabInstance = { name: opts.name + suffix, paths, argv, process: proc, taps };
    this.instances.set(inst.name, inst);
    return inst;
  }

  /**
   * A migration target for `name` beside its source, from a runtime file's
   * text, listening on a UNIX socket. On a real cluster it would run on
   * another node; here its node-local paths (pid file, which QEMU locks,
   * monitor, serial, QMP sockets) get a suffix. Devices are untouched.
   */
  async startMigrationTarget(opts: { name: string; runtime: RuntimeLike; suffix: string }): Promise<{ uri: string; qmpPath: string; instance: LabInstance }> {
    const paths = instancePaths(this.root, opts.name);
    const own = [paths.pid, paths.monitor, paths.serial];
    const runtime: RuntimeLike = {
      ...opts.runtime,
      kvmCmd: opts.runtime.kvmCmd.map((a) => (typeof a === "string" ? own.reduce((s, p) => s.replace(p, p + opts.suffix), a) : a)),
    };
    const sock = join(this.root, `migrate-${opts.name}${opts.suffix}.sock`);
    const instance = await this.startInstance({ name: opts.name, runtimeText: "", runtime, incoming: `unix:${sock}`, socketSuffix: opts.suffix, writeRuntime: false });
    // QEMU opens the incoming socket after its QMP socket, at the end of start-up.
    await waitFor(`incoming migration socket of ${opts.name}${opts.suffix}`, async () => (existsSync(sock) ? true : undefined), 20_000, 100);
    return { uri: `unix:${sock}`, qmpPath: paths.qmp + opts.suffix, instance };
  }

  async stopInstance(name: string): Promise<void> {
    const inst = this.instances.get(name);
    if (!inst) return;
    await stopProcess(inst.process);
    this.instances.delete(name);
  }

  /** Stop everything and remove the lab root. Returns what was still alive afterwards (should be nothing). */
  async stop(): Promise<{ leftoverProcesses: { pid: number; cmdline: string }[] }> {
    for (const name of [...this.instances.keys()]) await this.stopInstance(name);
    // Per-connection sshd processes outlive the listener: end them too.
    const sshdChildren = this.sshd.process.child.pid ? await descendantsOf(this.sshd.process.child.pid) : [];
    await this.sshd.stop();
    for (const pid of sshdChildren) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await this.network.teardown();
    const stillAlive = sshdChildren.filter((pid) => existsSync(`/proc/${pid}`));
    const leftoverProcesses = [
      ...(await processesMentioning(this.root)),
      ...stillAlive.map((pid) => ({ pid, cmdline: "sshd session" })),
    ];
    for (const p of leftoverProcesses) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await rm(this.root, { recursive: true, force: true });
    await rm(this.storageDir, { recursive: true, force: true });
    return { leftoverProcesses };
  }
}

function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = connect(path);
    s.once("connect", () => {
      // Close at once: QMP serves one client and we must not hold it.
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
