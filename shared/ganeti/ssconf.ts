// Ganeti's ssconf files (/var/lib/ganeti/ssconf_<key>): the cluster facts
// every node holds, written by the master (lib/ssconf.py, one value or one
// item per line). Pure: the caller reads the files and hands their texts in,
// keyed by <key> (the file name without "ssconf_").
//
// Formats, as Ganeti 3.0.2 writes them (seen on the lab's cluster):
//   cluster_name, master_node, master_ip, release_version, ...   one value
//   node_list, master_candidates, online_nodes, instance_list    one name a line
//   node_primary_ips, node_secondary_ips                         "name ip" a line
//   ssh_ports, node_vm_capable                                   "name=value" a line
//   nodegroups                                                   "uuid name" a line
//   hvparams_<hv>                                                "key=value" a line
import { z } from "zod";

/** Files larger than this are not ssconf files (the biggest, node lists and hvparams, are a few KiB per 100 nodes). */
export const MAX_SSCONF_BYTES = 4 * 1024 * 1024;

/** The ssconf keys the app reads; anything else in the directory is ignored. */
export const SSCONF_KEYS = [
  "cluster_name",
  "master_node",
  "master_ip",
  "master_candidates",
  "node_list",
  "node_primary_ips",
  "node_secondary_ips",
  "node_vm_capable",
  "online_nodes",
  "offline_nodes",
  "nodegroups",
  "instance_list",
  "hypervisor_list",
  "hvparams_kvm",
  "release_version",
  "ssh_ports",
  "file_storage_dir",
  "shared_file_storage_dir",
  "enabled_user_shutdown",
] as const;
export type SsconfKey = (typeof SSCONF_KEYS)[number];

/** Without these a directory of ssconf files does not describe a cluster. */
const REQUIRED: readonly SsconfKey[] = ["cluster_name", "master_node", "node_list"];

export const SsconfSchema = z.object({
  clusterName: z.string().min(1),
  masterNode: z.string().min(1),
  masterIp: z.string().optional(),
  masterCandidates: z.array(z.string()),
  nodeList: z.array(z.string()).min(1),
  /** name -> address. */
  primaryIps: z.record(z.string(), z.string()),
  secondaryIps: z.record(z.string(), z.string()),
  vmCapable: z.record(z.string(), z.boolean()),
  onlineNodes: z.array(z.string()),
  offlineNodes: z.array(z.string()),
  nodegroups: z.array(z.object({ uuid: z.string(), name: z.string() })),
  instanceList: z.array(z.string()),
  hypervisors: z.array(z.string()),
  /** The cluster's KVM defaults, typed as Ganeti types them (HVS_PARAMETER_TYPES). */
  hvparamsKvm: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  releaseVersion: z.string().optional(),
  /** name -> SSH port. */
  sshPorts: z.record(z.string(), z.number().int().min(1).max(65535)),
  fileStorageDir: z.string().optional(),
  sharedFileStorageDir: z.string().optional(),
  userShutdown: z.boolean().optional(),
});
export type Ssconf = z.infer<typeof SsconfSchema>;

export class SsconfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SsconfError";
  }
}

/** KVM hvparams Ganeti 3.0 types as int or bool (constants.HVS_PARAMETER_TYPES); the rest are strings. */
const KVM_INT = new Set([
  "cpu_cores", "cpu_sockets", "cpu_threads", "kvm_pci_reservations", "migration_bandwidth", "migration_downtime", "migration_port", "serial_speed", "spice_ip_version",
  "virtio_net_queues",
]);
const KVM_BOOL = new Set([
  "acpi", "serial_console", "spice_playback_compression", "spice_use_tls", "spice_use_vdagent", "use_chroot", "use_guest_agent", "use_localtime", "user_shutdown",
  "vhost_net", "vnc_tls", "vnc_x509_verify", "vnet_hdr",
]);

const lines = (text: string): string[] =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");

/** Python's str() of a bool, as ssconf writes it. */
function pyBool(text: string, what: string): boolean {
  if (text === "True") return true;
  if (text === "False") return false;
  throw new SsconfError(`${what} is ${JSON.stringify(text)}, not True or False`);
}

/** "a b" or "a=b" per line, split at the first separator. */
function pairs(text: string, sep: " " | "=", file: string): [string, string][] {
  return lines(text).map((l, i) => {
    const at = l.indexOf(sep);
    if (at <= 0) throw new SsconfError(`ssconf_${file} line ${i + 1} (${JSON.stringify(l)}) is not "<name>${sep}<value>"`);
    return [l.slice(0, at), l.slice(at + 1).trim()];
  });
}

/** One hvparams file ("key=value" a line) with Ganeti's types. */
export function parseHvparams(text: string, file = "hvparams_kvm"): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of pairs(text, "=", file)) {
    if (KVM_INT.has(k)) {
      if (!/^-?\d+$/.test(v)) throw new SsconfError(`ssconf_${file}: ${k} is ${JSON.stringify(v)}, not a whole number`);
      out[k] = Number(v);
    } else if (KVM_BOOL.has(k)) out[k] = pyBool(v, `ssconf_${file}: ${k}`);
    else out[k] = v;
  }
  return out;
}

/**
 * The cluster as a node's ssconf files describe it. `files` maps the key
 * ("cluster_name") to the file's text; missing optional files count as
 * empty. Throws SsconfError naming the file and line that is wrong.
 */
export function parseSsconf(files: Readonly<Partial<Record<string, string>>>): Ssconf {
  const missing = REQUIRED.filter((k) => files[k] === undefined);
  if (missing.length > 0) throw new SsconfError(`ssconf is incomplete: ${missing.map((k) => `ssconf_${k}`).join(", ")} missing`);
  const one = (k: SsconfKey): string | undefined => {
    const l = lines(files[k] ?? "");
    return l[0];
  };
  const list = (k: SsconfKey) => lines(files[k] ?? "");
  const ports: Record<string, number> = {};
  for (const [name, port] of pairs(files.ssh_ports ?? "", "=", "ssh_ports")) {
    if (!/^\d{1,5}$/.test(port)) throw new SsconfError(`ssconf_ssh_ports: the port of ${name} is ${JSON.stringify(port)}, not a port number`);
    ports[name] = Number(port);
  }
  const vm: Record<string, boolean> = {};
  for (const [name, v] of pairs(files.node_vm_capable ?? "", "=", "node_vm_capable")) vm[name] = pyBool(v, `ssconf_node_vm_capable: ${name}`);
  const userShutdown = one("enabled_user_shutdown");
  const parsed = SsconfSchema.safeParse({
    clusterName: one("cluster_name"),
    masterNode: one("master_node"),
    masterIp: one("master_ip"),
    masterCandidates: list("master_candidates"),
    nodeList: list("node_list"),
    primaryIps: Object.fromEntries(pairs(files.node_primary_ips ?? "", " ", "node_primary_ips")),
    secondaryIps: Object.fromEntries(pairs(files.node_secondary_ips ?? "", " ", "node_secondary_ips")),
    vmCapable: vm,
    onlineNodes: list("online_nodes"),
    offlineNodes: list("offline_nodes"),
    nodegroups: pairs(files.nodegroups ?? "", " ", "nodegroups").map(([uuid, name]) => ({ uuid, name })),
    instanceList: list("instance_list"),
    hypervisors: list("hypervisor_list"),
    hvparamsKvm: parseHvparams(files.hvparams_kvm ?? ""),
    releaseVersion: one("release_version"),
    sshPorts: ports,
    fileStorageDir: one("file_storage_dir"),
    sharedFileStorageDir: one("shared_file_storage_dir"),
    userShutdown: userShutdown === undefined ? undefined : pyBool(userShutdown, "ssconf_enabled_user_shutdown"),
  });
  if (!parsed.success) throw new SsconfError(`ssconf does not describe a cluster: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const s = parsed.data;
  if (!s.nodeList.includes(s.masterNode)) throw new SsconfError(`ssconf_master_node names ${s.masterNode}, which ssconf_node_list does not list`);
  return s;
}
