// The cluster as Ganeti describes it to one of its nodes: ssconf (every
// node), the cluster's known_hosts (every node) and config.data (master
// candidates). This is the model the app shows and derives facts from; it
// keeps nothing of its own (DESIGN.md: Ganeti is the source of truth).
import { z } from "zod";
import type { Ssconf } from "./ssconf";
import { fillHvparams, type ConfigData } from "./config-data";

export const ClusterNodeSchema = z.object({
  name: z.string(),
  uuid: z.string().optional(),
  /** Primary address (ssconf_node_primary_ips). */
  address: z.string(),
  secondaryAddress: z.string().optional(),
  sshPort: z.number().int(),
  /** Node group name; null when config.data was not read. */
  group: z.string().nullable(),
  master: z.boolean(),
  masterCandidate: z.boolean(),
  offline: z.boolean(),
  /** null when config.data was not read (ssconf does not say). */
  drained: z.boolean().nullable(),
  vmCapable: z.boolean(),
  /** One word for lists: master, candidate, regular, offline or drained. */
  role: z.enum(["master", "candidate", "regular", "offline", "drained"]),
});
export type ClusterNode = z.infer<typeof ClusterNodeSchema>;

export const ClusterNicSchema = z.object({
  uuid: z.string().optional(),
  name: z.string().optional(),
  mac: z.string().optional(),
  mode: z.string().optional(),
  link: z.string().optional(),
  vlan: z.string().optional(),
  network: z.string().optional(),
  ip: z.string().optional(),
});

export const ClusterDiskSchema = z.object({
  uuid: z.string().optional(),
  name: z.string().optional(),
  devType: z.string(),
  sizeMiB: z.number().optional(),
  ivName: z.string().optional(),
});

/** The hvparams that shape hotplug, as Ganeti fills them for the instance (cluster, OS, instance). */
export const HOTPLUG_HVPARAMS = ["kvm_pci_reservations", "nic_type", "disk_type", "scsi_controller_type", "use_chroot", "security_model", "vhost_net", "virtio_net_queues"] as const;

export const ClusterInstanceSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  primaryNode: z.string(),
  /** DRBD secondaries. */
  secondaryNodes: z.array(z.string()),
  diskTemplate: z.string(),
  hypervisor: z.string(),
  os: z.string().optional(),
  /** "up", "down" or "offline" (Ganeti's admin state). */
  adminState: z.string().optional(),
  /** The instance's own hvparams (overrides of the cluster's). */
  hvparams: z.record(z.string(), z.unknown()),
  /** HOTPLUG_HVPARAMS as filled for it (cluster defaults, OS, then its own). */
  effectiveHvparams: z.record(z.string(), z.unknown()),
  nics: z.array(ClusterNicSchema),
  disks: z.array(ClusterDiskSchema),
});
export type ClusterInstance = z.infer<typeof ClusterInstanceSchema>;

export const KnownHostKeySchema = z.object({
  /** The names the line is for: Ganeti writes the cluster name (nodes connect with HostKeyAlias=<cluster>). */
  names: z.array(z.string()),
  keyType: z.string(),
  fingerprint: z.string(),
});
export type KnownHostKey = z.infer<typeof KnownHostKeySchema>;

export const ClusterModelSchema = z.object({
  name: z.string(),
  master: z.string(),
  masterIp: z.string().optional(),
  /** ssconf_release_version: the master's Ganeti. */
  releaseVersion: z.string().optional(),
  groups: z.array(z.object({ uuid: z.string(), name: z.string() })),
  nodes: z.array(ClusterNodeSchema),
  /** Ganeti's configuration of every instance; null when config.data was not read (see sources.config). */
  instances: z.array(ClusterInstanceSchema).nullable(),
  /** ssconf_instance_list: the names, known even without config.data. */
  instanceNames: z.array(z.string()),
  /** The cluster's KVM defaults. */
  hvparamsKvm: z.record(z.string(), z.unknown()),
  fileStorageDir: z.string().optional(),
  sharedFileStorageDir: z.string().optional(),
  /** The cluster's own known_hosts (/var/lib/ganeti/known_hosts): host keys every node carries. */
  knownHosts: z.array(KnownHostKeySchema),
  sources: z.object({
    /** The node whose ssconf this is. */
    ssconf: z.string(),
    config: z.discriminatedUnion("read", [
      z.object({ read: z.literal(true), from: z.string(), serialNo: z.number().optional(), version: z.number() }),
      z.object({ read: z.literal(false), why: z.string() }),
    ]),
  }),
});
export type ClusterModel = z.infer<typeof ClusterModelSchema>;

function roleOf(n: Pick<ClusterNode, "master" | "masterCandidate" | "offline" | "drained">): ClusterNode["role"] {
  return n.offline ? "offline" : n.master ? "master" : n.drained ? "drained" : n.masterCandidate ? "candidate" : "regular";
}

export interface ClusterSources {
  /** The node whose ssconf was read. */
  ssconfFrom: string;
  /** config.data and the node it came from, or why there is none. */
  config: { data: ConfigData; from: string } | { data: null; why: string };
  knownHosts: KnownHostKey[];
}

/** The cluster model from what was read. config.data, when given, must be the same cluster's. */
export function buildClusterModel(ssconf: Ssconf, src: ClusterSources): ClusterModel {
  const config = src.config.data;
  if (config && config.clusterName !== ssconf.clusterName) {
    throw new Error(`config.data from ${src.config.data ? (src.config as { from: string }).from : "?"} is cluster ${config.clusterName}, not ${ssconf.clusterName}: they cannot be combined`);
  }
  const byName = new Map(config ? Object.values(config.nodes).map((n) => [n.name, n]) : []);
  const groupName = (uuid: string) => config?.nodegroups[uuid]?.name ?? uuid;
  const nodeName = (uuid: string) => config?.nodes[uuid]?.name ?? uuid;
  const nodes: ClusterNode[] = ssconf.nodeList.map((name) => {
    const c = byName.get(name);
    const flags = {
      master: name === ssconf.masterNode,
      masterCandidate: ssconf.masterCandidates.includes(name),
      offline: ssconf.offlineNodes.includes(name),
      drained: c ? c.drained : null,
    };
    const group = c ? config!.nodegroups[c.group] : undefined;
    return {
      name,
      ...(c ? { uuid: c.uuid } : {}),
      address: ssconf.primaryIps[name] ?? c?.primaryIp ?? name,
      ...(ssconf.secondaryIps[name] ?? c?.secondaryIp ? { secondaryAddress: ssconf.secondaryIps[name] ?? c?.secondaryIp } : {}),
      sshPort: ssconf.sshPorts[name] ?? c?.sshPort ?? group?.sshPort ?? config?.clusterSshPort ?? 22,
      group: c ? groupName(c.group) : null,
      ...flags,
      vmCapable: ssconf.vmCapable[name] ?? c?.vmCapable ?? true,
      role: roleOf(flags),
    };
  });
  const instances = config
    ? Object.values(config.instances)
        .map((i) => {
          const filled = fillHvparams(config, i);
          const secondaries = [...new Set(i.disks.flatMap((d) => (d.devType.startsWith("drbd") ? d.nodes : [])))].filter((u) => u !== i.primaryNode);
          return {
            name: i.name,
            uuid: i.uuid,
            primaryNode: nodeName(i.primaryNode),
            secondaryNodes: secondaries.map(nodeName),
            diskTemplate: i.diskTemplate,
            hypervisor: i.hypervisor,
            ...(i.os ? { os: i.os } : {}),
            ...(i.adminState ? { adminState: i.adminState } : {}),
            hvparams: i.hvparams,
            effectiveHvparams: Object.fromEntries(HOTPLUG_HVPARAMS.filter((k) => filled[k] !== undefined).map((k) => [k, filled[k]])),
            nics: i.nics.map((n) => ({ ...n, uuid: n.uuid })),
            disks: i.disks.map((d) => ({
              ...(d.uuid ? { uuid: d.uuid } : {}),
              ...(d.name ? { name: d.name } : {}),
              devType: d.devType,
              ...(d.sizeMiB !== undefined ? { sizeMiB: d.sizeMiB } : {}),
              ...(d.ivName ? { ivName: d.ivName } : {}),
            })),
          };
        })
        .sort((a, b) => a.name.localeCompare(b.name))
    : null;
  return {
    name: ssconf.clusterName,
    master: ssconf.masterNode,
    ...(ssconf.masterIp ? { masterIp: ssconf.masterIp } : {}),
    ...(ssconf.releaseVersion ? { releaseVersion: ssconf.releaseVersion } : {}),
    groups: config ? Object.values(config.nodegroups).map((g) => ({ uuid: g.uuid, name: g.name })) : ssconf.nodegroups,
    nodes,
    instances,
    instanceNames: ssconf.instanceList,
    hvparamsKvm: config?.hvparams.kvm ?? ssconf.hvparamsKvm,
    ...(ssconf.fileStorageDir ?? config?.fileStorageDir ? { fileStorageDir: ssconf.fileStorageDir ?? config?.fileStorageDir } : {}),
    ...(ssconf.sharedFileStorageDir ?? config?.sharedFileStorageDir ? { sharedFileStorageDir: ssconf.sharedFileStorageDir ?? config?.sharedFileStorageDir } : {}),
    knownHosts: src.knownHosts,
    sources: {
      ssconf: src.ssconfFrom,
      config: src.config.data
        ? { read: true, from: src.config.from, ...(src.config.data.serialNo !== undefined ? { serialNo: src.config.data.serialNo } : {}), version: src.config.data.version }
        : { read: false, why: src.config.why },
    },
  };
}

/** The cluster node an address or name stands for (a node's primary or secondary address, its name, or its short name). */
export function findClusterNode(model: Pick<ClusterModel, "nodes">, hostOrName: string): ClusterNode | undefined {
  const h = hostOrName.toLowerCase().replace(/\.$/, "");
  return (
    model.nodes.find((n) => n.name.toLowerCase() === h || n.address === h || n.secondaryAddress === h) ??
    model.nodes.find((n) => n.name.toLowerCase().split(".")[0] === h)
  );
}
