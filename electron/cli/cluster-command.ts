// hotplug-desk cluster show: a Ganeti cluster read from one of its nodes.
// The node's ssconf names the others; each is reached with the same
// credentials and route (a ProxyCommand's %h becomes that node's address),
// its host key checked against --known-hosts like the first one's, and read
// for its version and its instances. Printed: the cluster, its nodes (name,
// address, version detected, group, role, reachable) and its instances
// (primary node, devices three ways).
import { HostKeyError, NodeSession } from "../ssh/session.js";
import { loadNodeInventory } from "../inventory/node-inventory.js";
import { readGanetiNodeFiles, type GanetiNodeFiles } from "../cluster/ganeti-files.js";
import { clusterOf, inventoryContextOf } from "../cluster/cluster-of.js";
import { buildClusterView, clusterHostKey, type ClusterNodeRead } from "../cluster/cluster-view.js";
import { ClusterViewSchema, type ClusterView } from "../../shared/ipc/contract.js";
import { displayPciAddr } from "../../shared/slots/index.js";
import { UsageError, type CliIo } from "./io";
import { NODE_OPTIONS_HELP, parseNodeJsonArgs, type NodeOptions } from "./node-options.js";

export const CLUSTER_USAGE = `Usage: hotplug-desk cluster show --node USER@HOST[:PORT] [options] [--json]

Reads the Ganeti cluster the node belongs to (its ssconf, the cluster's
known_hosts and, on master candidates, config.data) and reaches the other
nodes with the same user, key and route, each host key checked. Prints the
cluster, its nodes (name, address, version detected, group, role, reachable)
and its instances (primary node, devices as Ganeti's configuration, the
runtime file and the live bus see them).

${NODE_OPTIONS_HELP}  --json                    print the cluster as JSON (the app's ClusterView)
`;

const label = (o: NodeOptions["target"]) => `${o.username}@${o.host}:${o.port}`;

export async function clusterCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "-h" || sub === undefined) {
    if (sub === undefined) throw new UsageError("missing command: show", CLUSTER_USAGE);
    io.out(CLUSTER_USAGE);
    return 0;
  }
  if (sub !== "show") throw new UsageError(`unknown cluster command "${sub}"`, CLUSTER_USAGE);
  const args = await parseNodeJsonArgs(rest, CLUSTER_USAGE, io);
  if (!args) return 0;
  const { node: o, json } = args;
  const sessions: NodeSession[] = [];
  try {
    const first = await NodeSession.open(o.target);
    sessions.push(first);
    const typed = o.ganetiVersions[0];
    const firstFiles = await readGanetiNodeFiles(first, o.root);
    if (firstFiles.standalone) {
      const version = inventoryContextOf(firstFiles, o.target.host, typed).context.nodeVersion;
      const out = { kind: "standalone", node: o.label, why: firstFiles.why, ...(version ? { version } : {}) };
      io.out(json ? `${JSON.stringify(out, null, 2)}\n` : `${o.label}: ${firstFiles.why}\n`);
      return 0;
    }
    const { model: named, self } = clusterOf(firstFiles, o.target.host);
    // Every node carries the key the cluster's known_hosts lists: ask for that type first, and name it when a key is unknown.
    const vouched = clusterHostKey(named);
    type Reached = { name: string; target: NodeOptions["target"]; session: NodeSession; files: GanetiNodeFiles; typed?: string };
    const reached: Reached[] = [{ name: self?.name ?? o.target.host, target: o.target, session: first, files: firstFiles, ...(typed ? { typed } : {}) }];
    const unreachable: { name: string; target: NodeOptions["target"]; error: string }[] = [];
    // The other nodes, in parallel, with the first node's credentials and route at their own address and port.
    await Promise.all(
      named.nodes
        .filter((n) => n.name !== self?.name)
        .map(async (n) => {
          const target = { ...o.target, host: n.address, port: n.sshPort, ...(vouched ? { preferHostKeyTypes: [vouched.keyType] } : {}) };
          if (n.offline) return unreachable.push({ name: n.name, target, error: "offline in Ganeti's configuration: not contacted" });
          try {
            const session = await NodeSession.open(target);
            sessions.push(session);
            return reached.push({ name: n.name, target, session, files: await readGanetiNodeFiles(session, o.root) });
          } catch (err) {
            let error = err instanceof Error ? err.message : String(err);
            if (err instanceof HostKeyError && err.verdict.kind === "unknown" && vouched) {
              const same = err.verdict.fingerprint === vouched.fingerprint;
              error += ` ${same ? "It is" : "It is NOT"} the key ${vouched.source} lists (${vouched.keyType} ${vouched.fingerprint})${same ? ": add it to --known-hosts after comparing, then run again" : ""}.`;
            }
            return unreachable.push({ name: n.name, target, error });
          }
        }),
    );
    // config.data from the first node, else from any other master candidate reached.
    const withConfig = reached.find((r) => !r.files.standalone && r.files.config);
    const config = withConfig && !withConfig.files.standalone && withConfig.files.config ? { config: withConfig.files.config, from: withConfig.name } : undefined;
    const { model } = clusterOf(firstFiles, o.target.host, config);
    const reads = new Map<string, ClusterNodeRead>();
    await Promise.all(
      reached.map(async (r) => {
        const { context } = inventoryContextOf(r.files, r.target.host, r.typed, config);
        const inventory = await loadNodeInventory(r.session, { nodeId: label(r.target), root: o.root, ...(r.typed ? { ganetiVersion: r.typed } : {}), ganeti: context }).catch((err: unknown) => ({
          error: `its inventory could not be read: ${err instanceof Error ? err.message : String(err)}`,
        }));
        reads.set(r.name, { appNodeId: label(r.target), connection: "ready", ...(context.nodeVersion ? { version: context.nodeVersion } : {}), inventory });
      }),
    );
    for (const u of unreachable) reads.set(u.name, { appNodeId: label(u.target), connection: "failed" });
    const view = buildClusterView(model, o.label, reads, []);
    view.notes.push(...unreachable.map((u) => `${u.name} (${label(u.target)}) is not reachable: ${u.error}`));
    const checked = ClusterViewSchema.parse(view);
    io.out(json ? `${JSON.stringify(checked, null, 2)}\n` : describeCluster(checked));
    return 0;
  } catch (err) {
    io.err(`hotplug-desk cluster show: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    for (const s of sessions) s.close();
  }
}

/** The cluster for people: one line per node and instance, one per device. */
export function describeCluster(v: ClusterView): string {
  const c = v.cluster;
  const lines: string[] = [];
  const conf = c.sources.config.read ? `configuration from ${c.sources.config.from}${c.sources.config.serialNo !== undefined ? ` (serial ${c.sources.config.serialNo})` : ""}` : `configuration not read: ${c.sources.config.why}`;
  lines.push(`cluster ${c.name}  master ${c.master}${c.masterIp ? ` (${c.masterIp})` : ""}  release ${c.releaseVersion ?? "?"}  ${conf}`);
  lines.push("nodes:");
  for (const n of v.nodes) {
    const version = n.version ? `${n.version.version} (${n.version.source})` : "version ?";
    const reach = n.connection === "ready" ? "reachable" : n.connection === null ? "not contacted" : "NOT reachable";
    lines.push(`  ${n.name.padEnd(28)} ${`${n.address}:${n.sshPort}`.padEnd(21)} ${version.padEnd(20)} group ${(n.group ?? "?").padEnd(10)} ${n.role.padEnd(9)} ${reach}`);
  }
  lines.push("instances:");
  for (const i of v.instances) {
    const cap = i.freePciSlots === null ? "" : `  free: ${i.freePciSlots} PCI slot(s), ${i.freeScsiTargets ?? 0} SCSI target(s)`;
    lines.push(`  ${i.name.padEnd(24)} on ${i.primaryNode.padEnd(24)} ${i.diskTemplate.padEnd(10)} ${i.state ?? "?"}${cap}`);
    if (i.stateNote) lines.push(`      ${i.stateNote}`);
    for (const d of i.devices) {
      const at = d.slot !== undefined ? displayPciAddr(d.slot) : d.scsiId !== undefined ? `scsi ${d.scsiId}` : "-";
      const w = (x: boolean | null, name: string) => (x === null ? `${name}?` : x ? name : "-".repeat(name.length));
      lines.push(`      ${(d.kind ?? "?").padEnd(4)} ${(d.id ?? d.uuid ?? "?").padEnd(28)} ${at.padEnd(7)} [${w(d.where.config, "config")} ${w(d.where.file, "file")} ${w(d.where.live, "live")}] ${d.label}`);
      if (d.drift) lines.push(`           ${d.consequence}`);
    }
    if (i.readers.length > 0) lines.push(`      readers: ${i.readers.map((r) => `${r.node} ${r.version} (${r.versionSource})`).join(", ")}`);
  }
  for (const n of v.notes) lines.push(`note: ${n}`);
  return `${lines.join("\n")}\n`;
}
