// Where the Ganeti lab lives and what its two nodes are called. Fixed names,
// so a run killed earlier can be found and cleared by the next one. Node
// addresses are TEST-NET-2 (198.51.100.0/24) and exist only inside the
// lab's network namespaces.
import { join } from "node:path";

/** The lab's own files (ns bind files, per-node private dirs, keys, guest image). */
export const LAB_DIR = "/run/hotplug-desk-ganeti-lab";
/** One Ganeti lab per machine: its lock sits beside the lab directory, which start-up removes. */
export const LOCK_FILE = "/run/hotplug-desk-ganeti-lab.lock";

export const CLUSTER_NAME = "cluster.ganeti.example";
export const CLUSTER_IP = "198.51.100.10";
export const BRIDGE = "gnt-br0";
export const PREFIX_LENGTH = 24;
/** Debian's Ganeti 3.0 package. */
export const GANETI_VERSION = "3.0.2";
export const OS_NAME = "noop";

export interface LabNodeSpec {
  /** 1 or 2; node 1 is the master. */
  index: 1 | 2;
  name: string;
  ip: string;
  netns: string;
  /** The node's end of the wire between the two bridges. */
  veth: string;
}

export const NODES: readonly LabNodeSpec[] = [
  { index: 1, name: "node1.ganeti.example", ip: "198.51.100.11", netns: "hd-ganeti-1", veth: "gnt-n1" },
  { index: 2, name: "node2.ganeti.example", ip: "198.51.100.12", netns: "hd-ganeti-2", veth: "gnt-n2" },
];

/** Paths a node sees as Ganeti's own, each bound from a private directory of that node. */
export const PRIVATE_NODE_DIRS = ["/etc/ssh", "/root", "/etc/ganeti", "/var/lib/ganeti", "/run/ganeti", "/var/log/ganeti", "/srv/ganeti", "/run/lock"] as const;

/** File storage of plain `file` disks (per node) and of `sharedfile` disks (one directory both nodes see). */
export const FILE_STORAGE_DIR = "/srv/ganeti/file-storage";
export const SHARED_FILE_STORAGE_DIR = "/srv/ganeti/shared-file-storage";

export const paths = {
  nsDir: join(LAB_DIR, "ns"),
  mountNs: (n: LabNodeSpec) => join(LAB_DIR, "ns", `mnt.node${n.index}`),
  utsNs: (n: LabNodeSpec) => join(LAB_DIR, "ns", `uts.node${n.index}`),
  netnsFile: (n: LabNodeSpec) => `/run/netns/${n.netns}`,
  nodeDir: (n: LabNodeSpec) => join(LAB_DIR, `node${n.index}`),
  /** The machine's path of what node n sees at `nodePath` (one of PRIVATE_NODE_DIRS or below). */
  onMachine(n: LabNodeSpec, nodePath: string): string {
    if (nodePath === SHARED_FILE_STORAGE_DIR || nodePath.startsWith(`${SHARED_FILE_STORAGE_DIR}/`)) {
      return join(LAB_DIR, "shared-file-storage", nodePath.slice(SHARED_FILE_STORAGE_DIR.length));
    }
    const base = PRIVATE_NODE_DIRS.find((d) => nodePath === d || nodePath.startsWith(`${d}/`));
    if (!base) throw new Error(`${nodePath} is not private to a lab node: it is the machine's own path`);
    return join(LAB_DIR, `node${n.index}`, base.slice(1).replace(/\//g, "-"), nodePath.slice(base.length));
  },
  sharedFileStorage: join(LAB_DIR, "shared-file-storage"),
  etcDir: join(LAB_DIR, "etc"),
  sshDir: join(LAB_DIR, "ssh"),
  bootDir: join(LAB_DIR, "boot"),
};

/** The node spec for a name ("node1.ganeti.example", "node1" or 1). */
export function labNode(which: string | number): LabNodeSpec {
  const n = NODES.find((x) => x.index === which || x.name === which || x.name.split(".")[0] === which);
  if (!n) throw new Error(`No lab node "${which}": the Ganeti lab has ${NODES.map((x) => x.name).join(" and ")}`);
  return n;
}
