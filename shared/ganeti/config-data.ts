// Ganeti's configuration, config.data (/var/lib/ganeti/config.data on every
// master candidate, JSON, root-only): the cluster's source of truth for its
// nodes, node groups and instances with their NICs and disks by uuid. What a
// shutdown/startup of an instance rebuilds comes from here.
//
// Only what the app uses is kept: parsing drops every other key, so secrets
// in the file (DRBD secrets in logical_id, osparams_private, certificates)
// never go further than this parser. Shapes from Ganeti 3.0.2's objects.py
// and a file the lab's cluster wrote; 2.15 and older embed disk dicts in the
// instance instead of naming them by uuid, and both forms are read.
import { z } from "zod";

/** config.data of a cluster of thousands of instances is a few MiB; anything past this is not one. */
export const MAX_CONFIG_DATA_BYTES = 64 * 1024 * 1024;

const HvValue = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.unknown())]);
const HvParams = z.record(z.string(), HvValue);

/** Node parameters, at cluster, group and node level: only the SSH port matters here. */
const NdParams = z.object({ ssh_port: z.number().int().optional() }).default({});

const NodeSchema = z.object({
  name: z.string(),
  uuid: z.string().optional(),
  primary_ip: z.string(),
  secondary_ip: z.string().optional(),
  group: z.string(),
  master_candidate: z.boolean().default(false),
  offline: z.boolean().default(false),
  drained: z.boolean().default(false),
  vm_capable: z.boolean().default(true),
  master_capable: z.boolean().default(true),
  ndparams: NdParams,
});

const GroupSchema = z.object({
  name: z.string(),
  uuid: z.string().optional(),
  ndparams: NdParams,
});

const NicSchema = z.object({
  uuid: z.string().optional(),
  name: z.string().nullable().optional(),
  mac: z.string().optional(),
  ip: z.string().nullable().optional(),
  network: z.string().nullable().optional(),
  nicparams: z.object({ mode: z.string().optional(), link: z.string().optional(), vlan: z.string().optional() }).default({}),
});

const DiskSchema = z.object({
  uuid: z.string().optional(),
  name: z.string().nullable().optional(),
  dev_type: z.string(),
  /** Node uuids the disk lives on (2.14+); for DRBD, primary and secondary. */
  nodes: z.array(z.string()).optional(),
  /** Only the node uuids of a DRBD logical_id are kept: its secret stays here. */
  logical_id: z.unknown().optional(),
  iv_name: z.string().optional(),
  size: z.number().optional(),
  mode: z.string().optional(),
});
type RawDisk = z.infer<typeof DiskSchema>;

const InstanceSchema = z.object({
  name: z.string(),
  uuid: z.string().optional(),
  primary_node: z.string(),
  os: z.string().optional(),
  hypervisor: z.string(),
  hvparams: HvParams.default({}),
  admin_state: z.string().optional(),
  disk_template: z.string().optional(),
  nics: z.array(NicSchema).default([]),
  /** 2.16+: disk uuids (their objects are in the top-level "disks"); before: the disk objects. */
  disks: z.array(z.union([z.string(), DiskSchema])).default([]),
});

const ClusterSchema = z.object({
  cluster_name: z.string(),
  master_node: z.string(),
  hvparams: z.record(z.string(), HvParams).default({}),
  os_hvp: z.record(z.string(), z.record(z.string(), HvParams)).default({}),
  enabled_hypervisors: z.array(z.string()).default([]),
  ndparams: NdParams,
  file_storage_dir: z.string().optional(),
  shared_file_storage_dir: z.string().optional(),
});

export const ConfigDataFileSchema = z.object({
  version: z.number().int(),
  serial_no: z.number().int().optional(),
  cluster: ClusterSchema,
  nodes: z.record(z.string(), NodeSchema),
  nodegroups: z.record(z.string(), GroupSchema),
  instances: z.record(z.string(), InstanceSchema),
  disks: z.record(z.string(), DiskSchema).default({}),
});

export class ConfigDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigDataError";
  }
}

/** One NIC as Ganeti's configuration records it. */
export interface ConfigNic {
  uuid: string | undefined;
  name?: string;
  mac?: string;
  mode?: string;
  link?: string;
  vlan?: string;
  network?: string;
  ip?: string;
}

export interface ConfigDisk {
  uuid: string | undefined;
  name?: string;
  devType: string;
  sizeMiB?: number;
  ivName?: string;
  /** Node uuids it lives on (DRBD: primary and secondary). */
  nodes: string[];
}

export interface ConfigInstance {
  name: string;
  uuid: string;
  primaryNode: string;
  os?: string;
  hypervisor: string;
  /** The instance's own hvparams (its overrides of the cluster's). */
  hvparams: Record<string, unknown>;
  adminState?: string;
  diskTemplate: string;
  nics: ConfigNic[];
  disks: ConfigDisk[];
}

export interface ConfigNode {
  uuid: string;
  name: string;
  primaryIp: string;
  secondaryIp?: string;
  group: string;
  masterCandidate: boolean;
  offline: boolean;
  drained: boolean;
  vmCapable: boolean;
  sshPort?: number;
}

/** config.data reduced to what the app uses; nodes, groups and instances keyed by uuid. */
export interface ConfigData {
  version: number;
  serialNo?: number;
  clusterName: string;
  masterNode: string;
  hvparams: Record<string, Record<string, unknown>>;
  osHvp: Record<string, Record<string, Record<string, unknown>>>;
  nodes: Record<string, ConfigNode>;
  nodegroups: Record<string, { uuid: string; name: string; sshPort?: number }>;
  instances: Record<string, ConfigInstance>;
  clusterSshPort?: number;
  fileStorageDir?: string;
  sharedFileStorageDir?: string;
}

/** The node uuids a disk lives on: `nodes` (2.14+), else a DRBD logical_id's first two entries. */
function diskNodes(d: RawDisk): string[] {
  if (d.nodes) return d.nodes;
  if (d.dev_type.startsWith("drbd") && Array.isArray(d.logical_id)) return d.logical_id.slice(0, 2).filter((x): x is string => typeof x === "string");
  return [];
}

function toDisk(d: RawDisk): ConfigDisk {
  return {
    uuid: d.uuid,
    ...(d.name ? { name: d.name } : {}),
    devType: d.dev_type,
    ...(d.size !== undefined ? { sizeMiB: d.size } : {}),
    ...(d.iv_name ? { ivName: d.iv_name } : {}),
    nodes: diskNodes(d),
  };
}

const opt = <K extends string, V>(key: K, v: V | null | undefined): Partial<Record<K, V>> => (v === undefined || v === null || v === "" ? {} : ({ [key]: v } as Record<K, V>));

/** Parses config.data's text. Throws ConfigDataError saying what is wrong and where. */
export function parseConfigData(text: string): ConfigData {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigDataError(`config.data is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = ConfigDataFileSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigDataError(`config.data is not a Ganeti configuration this app reads: ${first.join("; ")}`);
  }
  const f = parsed.data;
  const nodes: ConfigData["nodes"] = {};
  for (const [uuid, n] of Object.entries(f.nodes)) {
    nodes[uuid] = {
      uuid,
      name: n.name,
      primaryIp: n.primary_ip,
      ...opt("secondaryIp", n.secondary_ip),
      group: n.group,
      masterCandidate: n.master_candidate,
      offline: n.offline,
      drained: n.drained,
      vmCapable: n.vm_capable,
      ...opt("sshPort", n.ndparams.ssh_port),
    };
  }
  const instances: ConfigData["instances"] = {};
  for (const [uuid, i] of Object.entries(f.instances)) {
    const disks = i.disks.map((d, idx) => {
      if (typeof d !== "string") return toDisk(d);
      const found = f.disks[d];
      if (!found) throw new ConfigDataError(`config.data: instance ${i.name} names disk ${idx} as ${d}, which "disks" does not hold`);
      return toDisk({ ...found, uuid: found.uuid ?? d });
    });
    if (!nodes[i.primary_node]) throw new ConfigDataError(`config.data: instance ${i.name} has primary node ${i.primary_node}, which "nodes" does not hold`);
    instances[uuid] = {
      name: i.name,
      uuid,
      primaryNode: i.primary_node,
      ...opt("os", i.os),
      hypervisor: i.hypervisor,
      hvparams: i.hvparams,
      ...opt("adminState", i.admin_state),
      diskTemplate: i.disk_template ?? disks[0]?.devType ?? "diskless",
      nics: i.nics.map((n) => ({
        uuid: n.uuid,
        ...opt("name", n.name),
        ...opt("mac", n.mac),
        ...opt("mode", n.nicparams.mode),
        ...opt("link", n.nicparams.link),
        ...opt("vlan", n.nicparams.vlan),
        ...opt("network", n.network),
        ...opt("ip", n.ip),
      })),
      disks,
    };
  }
  const groups: ConfigData["nodegroups"] = {};
  for (const [uuid, g] of Object.entries(f.nodegroups)) groups[uuid] = { uuid, name: g.name, ...opt("sshPort", g.ndparams.ssh_port) };
  for (const n of Object.values(nodes)) {
    if (!groups[n.group]) throw new ConfigDataError(`config.data: node ${n.name} is in group ${n.group}, which "nodegroups" does not hold`);
  }
  return {
    version: f.version,
    ...opt("serialNo", f.serial_no),
    clusterName: f.cluster.cluster_name,
    masterNode: f.cluster.master_node,
    hvparams: f.cluster.hvparams,
    osHvp: f.cluster.os_hvp,
    nodes,
    nodegroups: groups,
    instances,
    ...opt("clusterSshPort", f.cluster.ndparams.ssh_port),
    ...opt("fileStorageDir", f.cluster.file_storage_dir),
    ...opt("sharedFileStorageDir", f.cluster.shared_file_storage_dir),
  };
}

/**
 * An instance's hvparams as Ganeti fills them (objects.Cluster.FillHV): the
 * cluster's defaults for its hypervisor, then the OS's (os_hvp), then the
 * instance's own.
 */
export function fillHvparams(config: Pick<ConfigData, "hvparams" | "osHvp">, instance: Pick<ConfigInstance, "hypervisor" | "os" | "hvparams">): Record<string, unknown> {
  const os = instance.os !== undefined ? (config.osHvp[instance.os]?.[instance.hypervisor] ?? {}) : {};
  return { ...(config.hvparams[instance.hypervisor] ?? {}), ...os, ...instance.hvparams };
}
