// Ganeti's KVM directory layout on a node, relative to a configurable root
// ("/" on a real node, a temp dir for the lab). Pure string work: shared/
// does no I/O, so paths are joined as POSIX strings here.

export const KVM_SUBDIR = "var/run/ganeti/kvm-hypervisor";

/** An instance name as it may appear in a file name on the node. Ganeti
 * names are DNS names; anything else could escape the directory. */
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export function assertInstanceName(name: string): string {
  if (!INSTANCE_NAME.test(name) || name.includes("..")) {
    throw new Error(
      `Instance name ${JSON.stringify(name)} is not a valid Ganeti instance name: use letters, digits, '.', '_' and '-' (a DNS name).`,
    );
  }
  return name;
}

function joinPosix(...parts: string[]): string {
  const joined = parts.filter((p) => p.length > 0).join("/");
  return joined.replace(/\/{2,}/g, "/");
}

export function normalizeRoot(root: string): string {
  if (!root.startsWith("/")) {
    throw new Error(`Node root ${JSON.stringify(root)} must be an absolute path such as "/" or "/tmp/hdlab-x".`);
  }
  return root === "/" ? "/" : root.replace(/\/+$/, "");
}

export interface KvmLayout {
  root: string;
  base: string;
  conf: string;
  ctrl: string;
  pid: string;
  nic: string;
  uid: string;
  chroot: string;
  instanceDisks: string;
}

export function kvmLayout(root: string): KvmLayout {
  const r = normalizeRoot(root);
  const base = joinPosix(r, KVM_SUBDIR);
  return {
    root: r,
    base,
    conf: joinPosix(base, "conf"),
    ctrl: joinPosix(base, "ctrl"),
    pid: joinPosix(base, "pid"),
    nic: joinPosix(base, "nic"),
    uid: joinPosix(base, "uid"),
    chroot: joinPosix(base, "chroot"),
    instanceDisks: joinPosix(r, "var/run/ganeti/instance-disks"),
  };
}

/** Every path Ganeti keeps for one instance. */
export function instancePaths(root: string, instance: string) {
  const l = kvmLayout(root);
  const name = assertInstanceName(instance);
  return {
    runtime: joinPosix(l.conf, `${name}.runtime`),
    qmp: joinPosix(l.ctrl, `${name}.qmp`),
    kvmd: joinPosix(l.ctrl, `${name}.kvmd`),
    monitor: joinPosix(l.ctrl, `${name}.monitor`),
    serial: joinPosix(l.ctrl, `${name}.serial`),
    shutdown: joinPosix(l.ctrl, `${name}.shutdown`),
    pid: joinPosix(l.pid, name),
    nicDir: joinPosix(l.nic, name),
    diskLink: (index: number) => joinPosix(l.instanceDisks, `${name}:${index}`),
  };
}

export type InstancePaths = ReturnType<typeof instancePaths>;
