// Which nodes may read an instance's runtime file, and why: the node it runs
// on, and every node a migration or failover may take it to. Ganeti's rules
// (cmdlib/instance_migration.py, DTS_INT_MIRROR / DTS_EXT_MIRROR):
//   - DRBD (internally mirrored): only its secondary;
//   - diskless and externally mirrored storage (sharedfile, blockdev,
//     gluster, ext, rbd): any VM-capable, online node of the primary's node
//     group (the iallocator or the admin's -n picks one);
//   - plain and file disks stay on their node: no migration at all.
// A drained node still counts: Ganeti places nothing there by itself, but
// an admin may migrate to it. An offline node cannot run anything.
import { z } from "zod";
import type { ClusterInstance, ClusterModel, ClusterNode } from "./cluster";
import { VersionSourceSchema, type NodeVersion } from "./node-version";

export const INTERNALLY_MIRRORED = ["drbd", "drbd8"] as const;
export const EXTERNALLY_MIRRORED = ["diskless", "sharedfile", "blockdev", "gluster", "ext", "rbd"] as const;

/** A node that reads the runtime file, with its version and why it counts. */
export const ReaderSchema = z.object({
  node: z.string(),
  version: z.string(),
  versionSource: VersionSourceSchema,
  /** Where the version came from, for people. */
  versionFrom: z.string(),
  /** "node2: same node group 'default'; may receive a migration". */
  why: z.string(),
});
export type Reader = z.infer<typeof ReaderSchema>;

export interface ReaderNode {
  node: string;
  why: string;
}

export interface InstanceReaderNodes {
  readers: ReaderNode[];
  /** Nodes of the cluster that do not count, and why (offline, another group, no migration). */
  excluded: ReaderNode[];
}

const can = (n: ClusterNode) => !n.offline && n.vmCapable;

function drainedNote(n: ClusterNode): string {
  return n.drained ? " (drained: Ganeti places nothing there by itself, but an admin may still migrate to it)" : "";
}

/**
 * The reader nodes of instance `name`. `runsOn` is the node its runtime
 * file was found on, when known (it counts first, whatever the
 * configuration says: it may be mid-migration).
 */
export function instanceReaderNodes(model: ClusterModel, name: string, runsOn?: string): InstanceReaderNodes {
  const inst: ClusterInstance | undefined = model.instances?.find((i) => i.name === name);
  const readers: ReaderNode[] = [];
  const excluded: ReaderNode[] = [];
  const add = (node: string, why: string) => {
    if (!readers.some((r) => r.node === node)) readers.push({ node, why: `${node}: ${why}` });
  };
  if (runsOn) add(runsOn, "runs the instance now (its runtime file is there)");
  if (!inst) {
    // Without the instance's configuration its group and disks are unknown: every node that can run it counts.
    const why = model.instances === null ? `Ganeti's configuration was not read (${model.sources.config.read ? "" : model.sources.config.why})` : `Ganeti's configuration has no instance ${name}`;
    for (const n of model.nodes) {
      if (can(n)) add(n.name, `${why}, so every online VM-capable node counts${drainedNote(n)}`);
      else excluded.push({ node: n.name, why: `${n.name}: ${n.offline ? "offline" : "not VM-capable"}: cannot run an instance` });
    }
    return { readers, excluded };
  }
  const primary = model.nodes.find((n) => n.name === inst.primaryNode);
  add(inst.primaryNode, "primary node in Ganeti's configuration");
  const t = inst.diskTemplate;
  for (const n of model.nodes) {
    if (readers.some((r) => r.node === n.name)) continue;
    if (!can(n)) {
      excluded.push({ node: n.name, why: `${n.name}: ${n.offline ? "offline" : "not VM-capable"}: cannot receive the instance` });
      continue;
    }
    if ((INTERNALLY_MIRRORED as readonly string[]).includes(t)) {
      if (inst.secondaryNodes.includes(n.name)) add(n.name, `DRBD secondary; receives the instance on migration or failover${drainedNote(n)}`);
      else excluded.push({ node: n.name, why: `${n.name}: not its DRBD secondary: a migration can only go there` });
    } else if ((EXTERNALLY_MIRRORED as readonly string[]).includes(t)) {
      if (primary && n.group === primary.group) add(n.name, `same node group '${n.group}'; may receive a migration or failover (${t} disks)${drainedNote(n)}`);
      else excluded.push({ node: n.name, why: `${n.name}: node group '${n.group ?? "?"}', not the instance's '${primary?.group ?? "?"}': a migration stays in the group` });
    } else {
      excluded.push({ node: n.name, why: `${n.name}: ${t} disks stay on ${inst.primaryNode}: the instance cannot migrate` });
    }
  }
  return { readers, excluded };
}

/**
 * The readers with their versions: each node's own (detected or typed) when
 * the app reads it, else the cluster's release version (ssconf) with a note
 * that the node's own install was not read.
 */
export function readersWithVersions(model: Pick<ClusterModel, "releaseVersion" | "sources">, nodes: readonly ReaderNode[], versionOf: (node: string) => NodeVersion | undefined): { readers: Reader[]; unknown: string[] } {
  const readers: Reader[] = [];
  const unknown: string[] = [];
  for (const r of nodes) {
    const v = versionOf(r.node);
    if (v) readers.push({ node: r.node, version: v.version, versionSource: v.source, versionFrom: v.from, why: r.why });
    else if (model.releaseVersion) {
      readers.push({
        node: r.node,
        version: model.releaseVersion,
        versionSource: "ssconf",
        versionFrom: `ssconf_release_version on ${model.sources.ssconf} (the master's version; ${r.node}'s own install was not read: add it as a node to read it)`,
        why: r.why,
      });
    } else unknown.push(r.node);
  }
  return { readers, unknown };
}
