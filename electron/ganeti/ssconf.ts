// What a Ganeti node knows of its cluster from its ssconf files
// (<root>/var/lib/ganeti/ssconf_<key>: one value, or one item a line; every
// node has them), read over SFTP: who the master is, and every node's
// primary address (to match the master, or this node, to a configured node).
import { z } from "zod";
import type { NodeSession } from "../ssh/session.js";
import { NodeSftp, SFTP_STATUS, SftpError } from "../on-node/sftp.js";
import { isValidHost } from "../../shared/node-registry/host.js";

const SSCONF_SUBDIR = "var/lib/ganeti";
const MAX_SSCONF_BYTES = 1024 * 1024;

export interface ClusterPointers {
  /** ssconf_master_node. */
  master: string;
  /** ssconf_master_ip: the cluster address, which the master holds. */
  clusterIp?: string;
  /** ssconf_node_primary_ips: node name → primary address. */
  primaryIps: Map<string, string>;
}

/** The ssconf files say something that is not what Ganeti writes there. */
export class SsconfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SsconfError";
  }
}

const HostSchema = z.string().refine(isValidHost, { error: "not a host name or address" });
const PrimaryIpLineSchema = z.tuple([HostSchema, HostSchema]);

/** The file's text, or null when it does not exist. */
async function readSmallFile(sftp: NodeSftp, path: string): Promise<string | null> {
  let handle: Buffer;
  try {
    handle = await sftp.open(path, "r");
  } catch (err) {
    if (err instanceof SftpError && err.status === SFTP_STATUS.NO_SUCH_FILE) return null;
    throw err;
  }
  try {
    const parts: Buffer[] = [];
    for (let at = 0; at < MAX_SSCONF_BYTES; ) {
      const chunk = await sftp.read(handle, path, 64 * 1024, at);
      if (chunk.length === 0) break;
      parts.push(chunk);
      at += chunk.length;
    }
    return Buffer.concat(parts).toString("utf8");
  } finally {
    await sftp.close(handle, path).catch(() => undefined);
  }
}

/**
 * The node's view of its cluster; null when the node has no
 * ssconf_master_node (not a member of a Ganeti cluster, or a lab node).
 */
export async function readClusterPointers(session: NodeSession, root: string): Promise<ClusterPointers | null> {
  const dir = `${root.replace(/\/+$/, "")}/${SSCONF_SUBDIR}`;
  const sftp = await NodeSftp.for(session);
  const [master, clusterIp, primaryIps] = await Promise.all(["master_node", "master_ip", "node_primary_ips"].map((k) => readSmallFile(sftp, `${dir}/ssconf_${k}`)));
  if (master === null || master === undefined) return null;
  const where = (key: string) => `${dir}/ssconf_${key} on ${session.label}`;
  const name = HostSchema.safeParse(master.trim());
  if (!name.success) throw new SsconfError(`${where("master_node")} holds ${JSON.stringify(master.slice(0, 100))}, not a node name: is it a Ganeti ssconf file?`);
  const ips = new Map<string, string>();
  for (const line of (primaryIps ?? "").split("\n")) {
    if (line.trim() === "") continue;
    const parsed = PrimaryIpLineSchema.safeParse(line.trim().split(/\s+/));
    if (!parsed.success) throw new SsconfError(`${where("node_primary_ips")} has the line ${JSON.stringify(line.slice(0, 100))}, not "NAME ADDRESS".`);
    ips.set(parsed.data[0], parsed.data[1]);
  }
  const cip = clusterIp?.trim();
  return { master: name.data, ...(cip && isValidHost(cip) ? { clusterIp: cip } : {}), primaryIps: ips };
}

/** Ganeti's name of the node reached as `host` (its name, short name or primary address), if the pointers tell. */
export function ganetiNameOf(pointers: ClusterPointers, host: string): string | undefined {
  const h = host.toLowerCase();
  for (const [name, ip] of pointers.primaryIps) {
    if (name.toLowerCase() === h || ip === host || name.toLowerCase().split(".")[0] === h) return name;
  }
  return undefined;
}
