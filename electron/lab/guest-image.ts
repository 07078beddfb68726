// Builds (once) the lab's real Linux guest: Debian's cloud kernel plus a tiny
// busybox initramfs whose /init reports the guest's PCI devices on the serial
// console. The result is cached outside git, keyed by kernel version and the
// contents of the initramfs, so editing INIT_SCRIPT forces a rebuild.
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

export interface GuestImage {
  kernel: string;
  initrd: string;
}

export interface EnsureGuestImageOptions {
  log?: (line: string) => void;
  /**
   * Load the virtio drivers at boot (they are modules in Debian's cloud
   * kernel) and accept "poweroff" and "devs" (interfaces and block devices
   * with their PCI address): a guest that uses its hotplugged NICs and disks
   * and can shut itself down, as the Ganeti lab's instances need.
   * Without it the guest only enumerates PCI devices.
   */
  virtioDrivers?: boolean;
}

const KERNEL_METAPACKAGE = "linux-image-cloud-amd64";
const BUSYBOX_PACKAGE = "busybox-static";

// Only the applets /init uses; everything else is reachable as `busybox X`.
const APPLETS = ["sh", "mount", "mkdir", "cat", "echo", "printf", "sleep", "stty", "dmesg", "ls", "tr"];
const DRIVER_APPLETS = ["insmod", "poweroff"];

// The virtio drivers in load order (no modules.dep in the initramfs, so the
// order is the dependency order), as paths inside the kernel package.
const VIRTIO_MODULES = [
  "drivers/virtio/virtio_ring.ko",
  "drivers/virtio/virtio.ko",
  "drivers/virtio/virtio_pci_modern_dev.ko",
  "drivers/virtio/virtio_pci_legacy_dev.ko",
  "drivers/virtio/virtio_pci.ko",
  "net/core/failover.ko",
  "drivers/net/net_failover.ko",
  "drivers/net/virtio_net.ko",
  "drivers/block/virtio_blk.ko",
];

// Protocol markers, shared with guest-console.ts.
export const GUEST_READY = "HOTPLUG-DESK-GUEST READY";

// PID 1 of the guest. It must never exit (the kernel panics if it does), so the
// command loop runs in a subshell that is restarted if it ever dies, and every
// step that can fail is guarded rather than allowed to end the script.
// With drivers, it loads the virtio modules first and also takes "poweroff".
function initScript(drivers: boolean): string {
  const loadModules = drivers
    ? `# virtio drivers, in dependency order; one that is built in fails quietly.
for m in ${VIRTIO_MODULES.map((m) => m.replace(/^.*\//, "").replace(/\.ko$/, "")).join(" ")}; do insmod /lib/modules/$m.ko 2>/dev/null; done
`
    : "";
  // "devs": each network interface and block device with the PCI address of
  // the device its driver bound, e.g. "eth1 0000:00:10.0", "vdb 0000:00:11.0".
  const driverCommands = drivers
    ? `        poweroff) echo POWEROFF; poweroff -f ;;
        devs) printf 'DEVS-BEGIN\\n'; for d in /sys/class/net/* /sys/block/*; do [ -e "$d/device" ] || continue; a=$(cd -P "$d/device" 2>/dev/null && cd .. && pwd -P); echo "\${d##*/} \${a##*/}"; done; printf 'DEVS-END\\n' ;;
`
    : "";
  return `#!/bin/sh
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
${loadModules}# Kernel messages share the serial line with our protocol: keep them to emergencies.
dmesg -n 1 2>/dev/null

cr=$(printf '\\r')

pci_lines() {
  for d in /sys/bus/pci/devices/*; do
    # A device can vanish mid-scan (unplug); skip it quietly.
    { read -r v < "$d/vendor" && read -r p < "$d/device"; } 2>/dev/null || continue
    echo "\${d##*/} \${v#0x}:\${p#0x}"
  done
}

# One printf per block keeps the block in a single write, so it is not split
# by other output more than the kernel's own console writes can split it.
print_block() {
  printf 'PCI-BEGIN\\n%s%sPCI-END\\n' "$1" "\${1:+
}"
}

main() {
  # Canonical mode without echo: read gets whole lines, the host sees no echo.
  # clocal: a host disconnecting from the serial socket must not hang us up.
  stty -echo clocal 2>/dev/null
  echo "${GUEST_READY}"
  last=$(pci_lines)
  print_block "$last"
  while :; do
    # The 0.2 s timeout doubles as the poll interval for PCI changes.
    if read -t 0.2 -r line; then
      line=\${line%"$cr"}
      case "$line" in
        pci) last=$(pci_lines); print_block "$last" ;;
        ping) echo PONG ;;
${driverCommands}        "") ;;
        *) echo "ERR unknown command: $line" ;;
      esac
    fi
    cur=$(pci_lines)
    if [ "$cur" != "$last" ]; then
      last=$cur
      echo PCI-CHANGED
      print_block "$cur"
    fi
  done
}

console=/dev/ttyS0
[ -c "$console" ] || console=/dev/console
while :; do
  ( main ) < "$console" > "$console" 2>&1
  sleep 1
done
`;
}

export const INIT_SCRIPT = initScript(false);

function run(cmd: string, args: string[], cwd?: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`.trim()));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

interface PackageRef {
  name: string;
  version: string;
}

async function candidateVersion(pkg: string): Promise<string> {
  const { stdout } = await run("apt-cache", ["policy", pkg]);
  const m = /^\s*Candidate:\s*(\S+)/m.exec(stdout);
  if (!m?.[1] || m[1] === "(none)") {
    throw new Error(`No installable candidate for ${pkg}. Run: apt-get update`);
  }
  return m[1];
}

// The metapackage only depends on the versioned image package; that package is
// the one carrying /boot/vmlinuz-*.
async function resolveKernelPackage(): Promise<PackageRef> {
  const { stdout } = await run("apt-cache", ["depends", KERNEL_METAPACKAGE]);
  const m = /^\s*\|?Depends:\s*(linux-image-\S+-cloud-amd64)\s*$/m.exec(stdout);
  if (!m?.[1]) {
    throw new Error(`Cannot resolve ${KERNEL_METAPACKAGE} to a kernel package; apt-cache depends said:\n${stdout}\nRun: apt-get update`);
  }
  return { name: m[1], version: await candidateVersion(m[1]) };
}

async function downloadAndExtract(pkg: PackageRef, workDir: string, dest: string): Promise<void> {
  const dlDir = join(workDir, `dl-${pkg.name}`);
  await mkdir(dlDir, { recursive: true });
  const spec = `${pkg.name}=${pkg.version}`;
  try {
    await run("apt-get", ["download", spec], dlDir);
  } catch (err) {
    throw new Error(
      `Downloading ${spec} failed. Run this and fix what it reports: ` +
        `apt-get update && apt-get download ${spec}\n` +
        (err instanceof Error ? err.message : String(err)),
    );
  }
  const debs = (await readdir(dlDir)).filter((f) => f.endsWith(".deb"));
  if (debs.length !== 1 || !debs[0]) {
    throw new Error(`apt-get download ${spec} left ${debs.length} .deb files in ${dlDir}`);
  }
  await run("dpkg-deb", ["-x", join(dlDir, debs[0]), dest]);
}

async function writeCpioGz(rootDir: string, outFile: string): Promise<void> {
  const { stdout } = await run("find", [".", "-mindepth", "1"], rootDir);
  const entries = stdout.split("\n").filter((l) => l.length > 0).sort();
  // -R 0:0: the guest's files belong to root even when the builder is not root.
  const cpio = spawn("cpio", ["-o", "-H", "newc", "-R", "0:0", "--quiet"], {
    cwd: rootDir,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  cpio.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve, reject) => {
    cpio.on("error", reject);
    cpio.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`cpio exited ${code}: ${stderr}`))));
  });
  cpio.stdin.end(entries.join("\n") + "\n");
  await Promise.all([pipeline(cpio.stdout, createGzip({ level: 9 }), createWriteStream(outFile)), exited]);
}

function cacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), ".cache"), "hotplug-desk", "guest");
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

// A build killed midway leaves only its .build-* dir behind; reclaim old ones
// (an hour is far longer than a build, so a concurrent build is never hit).
async function removeStaleBuilds(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    if (!name.startsWith(".build-")) continue;
    const p = join(root, name);
    try {
      if (Date.now() - (await stat(p)).mtimeMs > 3600_000) await rm(p, { recursive: true, force: true });
    } catch {
      // Another process may be removing it too.
    }
  }
}

export async function ensureGuestImage(opts?: EnsureGuestImageOptions): Promise<GuestImage> {
  const log = opts?.log ?? (() => {});
  const kernelPkg = await resolveKernelPackage();
  const busybox: PackageRef = { name: BUSYBOX_PACKAGE, version: await candidateVersion(BUSYBOX_PACKAGE) };
  const drivers = opts?.virtioDrivers ?? false;
  const init = initScript(drivers);
  const applets = drivers ? [...APPLETS, ...DRIVER_APPLETS] : APPLETS;

  // Everything that shapes the initramfs goes into the hash, not only the script.
  // (The module list is in the script; the modules come with the kernel version.)
  const hash = createHash("sha256")
    .update(JSON.stringify({ init, applets, busybox: busybox.version }))
    .digest("hex")
    .slice(0, 16);
  const key = `${kernelPkg.version}-${hash}`.replace(/[^A-Za-z0-9.+_-]/g, "_");
  const root = cacheRoot();
  const finalDir = join(root, key);
  const image: GuestImage = { kernel: join(finalDir, "vmlinuz"), initrd: join(finalDir, "initrd.img") };
  if ((await exists(image.kernel)) && (await exists(image.initrd))) {
    return image;
  }

  log(`guest image: building ${key} (${kernelPkg.name} ${kernelPkg.version}, ${busybox.name} ${busybox.version})`);
  await mkdir(root, { recursive: true });
  await removeStaleBuilds(root);
  // Same filesystem as finalDir, so the final rename is atomic.
  const work = await mkdtemp(join(root, ".build-"));
  try {
    const out = join(work, "out");
    await mkdir(out);

    const kernelTree = join(work, "kernel");
    await downloadAndExtract(kernelPkg, work, kernelTree);
    const vmlinuz = (await readdir(join(kernelTree, "boot"))).find((f) => f.startsWith("vmlinuz-"));
    if (!vmlinuz) {
      throw new Error(`${kernelPkg.name} ${kernelPkg.version} has no boot/vmlinuz-*`);
    }
    await copyFile(join(kernelTree, "boot", vmlinuz), join(out, "vmlinuz"));
    log(`guest image: kernel ${vmlinuz}`);

    // busybox comes from the busybox-static .deb rather than the host's
    // /bin/busybox: the host may have the dynamically linked `busybox`
    // package instead, which cannot run in an initramfs without libc.
    const bbTree = join(work, "busybox");
    await downloadAndExtract(busybox, work, bbTree);

    const initramfs = join(work, "initramfs");
    await mkdir(join(initramfs, "bin"), { recursive: true });
    for (const d of ["proc", "sys", "dev", "tmp"]) {
      await mkdir(join(initramfs, d));
    }
    await copyFile(join(bbTree, "bin", "busybox"), join(initramfs, "bin", "busybox"));
    await chmod(join(initramfs, "bin", "busybox"), 0o755);
    for (const applet of applets) {
      await symlink("busybox", join(initramfs, "bin", applet));
    }
    if (drivers) {
      const modDir = join(initramfs, "lib", "modules");
      await mkdir(modDir, { recursive: true });
      const release = (await readdir(join(kernelTree, "lib", "modules")))[0];
      if (!release) throw new Error(`${kernelPkg.name} ${kernelPkg.version} has no lib/modules/<release>`);
      for (const m of VIRTIO_MODULES) {
        await copyFile(join(kernelTree, "lib", "modules", release, "kernel", m), join(modDir, m.replace(/^.*\//, "")));
      }
    }
    await writeFile(join(initramfs, "init"), init, { mode: 0o755 });
    await writeCpioGz(initramfs, join(out, "initrd.img"));
    await writeFile(join(out, "manifest.json"), JSON.stringify({ kernel: kernelPkg, busybox, hash }, null, 2) + "\n");

    try {
      await rename(out, finalDir);
    } catch (err) {
      // A concurrent build may have won the race; its result is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if (!((code === "ENOTEMPTY" || code === "EEXIST") && (await exists(image.initrd)))) {
        throw err;
      }
    }
    log(`guest image: cached in ${finalDir}`);
    return image;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
